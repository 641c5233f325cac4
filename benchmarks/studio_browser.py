"""The studio's front-end in Chromium: how long the timeline takes to show an edit, and how
soon recording starts after the click.

Python makes what the studio sends for the 10 s `mix` example (its demo chain's render, +1 s
tail): the three sources' timeline pictures and the patch an edit's preview sends (the
equalizer's low gain changed, a 2.5 s window around 5 s). ``benchmarks/studio_browser.mjs``
runs the player's and the recorder's own ES modules (as the studio ships them) in Debian's
Chromium on a stand-in model, served from 127.0.0.1, and measures:

- patch applied: the patch message -> the render's spectrogram and waveform redrawn (JS work),
  and until the next frame;
- full picture: a new render's spectrogram trait -> redrawn, and until the next frame;
- seek: a seek -> the playhead redrawn; the difference view drawn;
- recording start: the click on Record -> ``MediaRecorder`` running (Chromium's fake microphone).

The Python half of an edit (edit -> patch sent) is the studio benchmark's phase 1
(``benchmarks/studio.py``); the two add up to edit -> timeline updated.

Run: ``.venv/bin/python benchmarks/studio_browser.py [--repeats N]`` (needs Chromium and
``npm ci --prefix tests/ui/browser``). Writes the "studio_browser" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import markdown_table, write_section  # noqa: E402
from llm2fx_lab.examples import example_chain, example_pair  # noqa: E402
from llm2fx_lab.fx.render import render  # noqa: E402
from llm2fx_lab.ui._assets import esm  # noqa: E402
from llm2fx_lab.ui.listening import SHORTCUTS  # noqa: E402
from llm2fx_lab.ui.state import PREVIEW_WINDOW_SECONDS, preview_window  # noqa: E402
from llm2fx_lab.ui.timeline import timeline, timeline_patch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BROWSER_DIR = ROOT / "tests" / "ui" / "browser"
CHROMIUM = os.environ.get("LLM2FX_CHROMIUM", "/usr/bin/chromium")


def page_data() -> dict:
    dry, reference, sr, _ = example_pair("mix")
    chain = example_chain("mix")
    out = render(dry, sr, chain, tail_seconds=1.0)
    pictures = {"dry": timeline(dry, sr), "reference": timeline(reference, sr), "render": timeline(out, sr)}
    edited = render(dry, sr, chain.with_params("equalizer", low_gain_db=3.0), tail_seconds=1.0)
    a, b = preview_window(dry.shape[1], sr, 5.0, PREVIEW_WINDOW_SECONDS)
    patch = timeline_patch(edited[:, a:b], a, out.shape[1], sr)
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    return {"timeline": {k: p.meta for k, p in pictures.items()},
            "spec": {k: b64(p.spectrogram) for k, p in pictures.items()},
            "wave": {k: b64(p.wave) for k, p in pictures.items()},
            "patch": {"meta": patch.meta, "spec": b64(patch.spectrogram), "wave": b64(patch.wave)},
            "shortcuts": [list(s) for s in SHORTCUTS],
            "bytes": {"spectrogram": len(pictures["render"].spectrogram), "wave": len(pictures["render"].wave),
                      "patch": len(patch.spectrogram) + len(patch.wave)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    if not Path(CHROMIUM).exists() or shutil.which("node") is None or not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        sys.exit("needs Chromium (/usr/bin/chromium), node and `npm ci --prefix tests/ui/browser`")
    data = page_data()
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        site.mkdir()
        (site / "index.html").write_text("<!doctype html><meta charset=utf-8><title>studio benchmark</title><body></body>")
        (site / "data.json").write_text(json.dumps(data))
        (site / "player.js").write_text(esm("player.js", "timeline.js"))
        (site / "recorder.js").write_text(esm("recorder.js"))
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
        http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            cfg = {"url": f"http://127.0.0.1:{server.server_port}/index.html", "browserDir": str(BROWSER_DIR),
                   "chromium": CHROMIUM, "profile": str(Path(tmp) / "profile"), "repeats": args.repeats}
            t = time.perf_counter()
            run = subprocess.run(["node", str(Path(__file__).with_suffix(".mjs")), json.dumps(cfg)],
                                 capture_output=True, text=True, timeout=300)
            wall = time.perf_counter() - t
        finally:
            server.shutdown()
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        sys.exit(f"the browser run printed no result (rc {run.returncode}):\n{run.stderr[-3000:]}")
    res = json.loads(lines[-1][len("RESULT "):])
    if "error" in res or res.get("page_errors"):
        sys.exit(f"the browser run failed: {res.get('error')} {res.get('page_errors')}")
    tl, starts = res["timeline"], res["record_start_ms"]
    rows = [
        ["an edit's preview patch (the render's columns under a 2.5 s window) -> redrawn",
         f"{data['bytes']['patch'] / 1024:.1f} KB", f"**{tl['patch_ms']:.1f}**", f"{tl['patch_frame_ms']:.1f}"],
        ["a new render's full picture (spectrogram trait) -> redrawn",
         f"{(data['bytes']['spectrogram'] + data['bytes']['wave']) / 1024:.1f} KB", f"{tl['full_ms']:.1f}",
         f"{tl['full_frame_ms']:.1f}"],
        ["seek -> playhead redrawn", "-", f"{tl['seek_ms']:.2f}", "-"],
        ["switch the view to render − reference -> drawn", "-", f"{tl['difference_ms']:.1f}", "-"],
    ]
    table = markdown_table(["front-end step (10 s clip + 1 s tail, 3 sources)", "bytes", "JS work, median ms",
                            "until the next frame, median ms"], rows)
    rec = markdown_table(["recordings", "click -> recording, median ms", "max ms", "recordings received by the model"],
                         [[str(len(starts)), f"**{statistics.median(starts):.0f}**", f"{max(starts):.0f}",
                           str(res["received"])]])
    body = (f"Chromium (Debian, headless, software rendering) running the studio's own player and recorder modules "
            f"on a stand-in model; median of {args.repeats} after a warm-up; {wall:.0f} s in all.\n\n{table}\n\n"
            f"{rec}\n\nEdit -> timeline updated = the studio benchmark's phase 1 (edit -> preview traits and timeline "
            f"patch sent, Python) + the patch's redraw above (+ a local websocket hop, about a millisecond). "
            f"Recording start is measured from the click to `MediaRecorder`'s start event, with Chromium's fake "
            f"microphone, granted without a prompt (a real browser asks the first time; that wait is the user's).\n\n"
            f"Targets (issue 36): edit -> spectrogram and playhead updated <= 100 ms; recording start <= 0.5 s.\n")
    path = write_section("studio_browser", "Studio in the browser: timeline and recording (issue 36)", body)
    print(body)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
