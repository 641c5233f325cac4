"""Studio responsiveness: a slider edit -> new render + updated plots, timeline and player, and
the bytes of widget state that edit sends to the browser.

An edit renders in two phases (``llm2fx_lab.ui.studio``): phase 1 renders a 2.5 s preview
window (after 1 s of pre-roll) from the cached stage before the edited module and updates the
render spectrum (an estimate), the EQ curve and the timeline's columns under the window (a
patch message); phase 2, after a 0.1 s debounce, renders the full
clip incrementally and updates everything. Both latencies are measured from the edit call to
the end of that phase's trait updates; the preview's accuracy is the median absolute
difference (dB) between the preview spectrum and the full render's, over the 240 plotted bands.

Run: ``.venv/bin/python benchmarks/studio.py [--repeats N]``. Writes the "studio" section of
docs/benchmarks.md. A 10 s stereo 44.1 kHz clip (``mix`` example) with the studio's 1 s render
tail, edited the way a slider drag does (``ChainEditor.edit("set_param", ...)``), measured in
Python from the edit call until every trait has been updated (the render worker is idle).

Baseline in the same run: a full, non-incremental ``render()`` of the same chain followed by
the same plot and player updates, i.e. what an edit would cost without the stage cache.

Bytes: every widget message (JSON + binary buffers) is counted by wrapping
``ipywidgets.Widget._send``, which all comm traffic of ipywidgets, anywidget and plotly's
FigureWidget goes through. Audio is fetched lazily by the player only when it is being heard;
that cost (one 16-bit WAV per settled edit while playing) is reported separately.

Targets (issue #10, and issue 36 for the timeline): edit -> traits updated <= 100 ms; state sent
per edit <= 200 KB. The browser's half (drawing the patch) is ``benchmarks/studio_browser.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ipywidgets  # noqa: E402
import numpy as np

from benchmarks._report import markdown_table, write_section  # noqa: E402
from llm2fx_lab.examples import example_chain  # noqa: E402
from llm2fx_lab.fx.chain import Chain  # noqa: E402
from llm2fx_lab.fx.render import render_stages  # noqa: E402
from llm2fx_lab.fx.spec import module as module_spec
from llm2fx_lab.ui import Studio
from llm2fx_lab.ui.state import PREVIEW_PREROLL_SECONDS, PREVIEW_WINDOW_SECONDS
from llm2fx_lab.ui.studio import FULL_RENDER_DEBOUNCE_SECONDS

SENT: list[int] = []
PATCHES: list[int] = []   # the timeline's preview patches (part of SENT)
_original_send = ipywidgets.Widget._send


def _counting_send(self, msg, buffers=None):
    n = len(json.dumps(msg, default=str)) + sum(len(memoryview(b).cast("B")) for b in (buffers or []))
    SENT.append(n)
    if msg.get("method") == "custom" and msg.get("content", {}).get("op") == "patch":
        PATCHES.append(n)
    return _original_send(self, msg, buffers)


ipywidgets.Widget._send = _counting_send

# A realistic demo chain plus a heavier 6-module one (reverb and delay are the slow plugins).
HEAVY = Chain.from_tool_calls([
    {"name": "equalizer", "arguments": {"low_gain_db": 4, "high_gain_db": 3, "high_cutoff_freq": 7000}},
    {"name": "compressor", "arguments": {"threshold_db": -25, "ratio": 4, "attack_ms": 10, "release_ms": 150}},
    {"name": "distortion", "arguments": {"drive_db": 4}},
    {"name": "reverb", "arguments": {"room_size": 0.6, "mix_ratio": 0.3}},
    {"name": "delay", "arguments": {"delay_seconds": 0.3, "feedback": 0.3, "mix_ratio": 0.2}},
    {"name": "limiter", "arguments": {"threshold_db": -3, "release_ms": 100}},
])


def slider_values(spec, n):
    lo, hi = spec.lowest_valid, spec.maximum
    return [lo + (hi - lo) * (0.3 + 0.4 * (i % 2)) for i in range(n)]


SNAPSHOTS: dict[str, list[float]] = {}


def _snapshot(studio):
    def on_render(phase, chain):
        SNAPSHOTS[phase] = list(studio.plots.spectrum.figure.data[2].y)
    return on_render


def measure(studio, chain: Chain, module: str, param: str, repeats: int, preview: bool = True) -> dict:
    studio.preview = preview
    studio.chain = chain
    studio.wait_render(60)
    spec = module_spec(module).param(param)
    phase1, phase2, sent, patches, recomputed, error_db = [], [], [], [], [], []
    for i, value in enumerate(slider_values(spec, repeats + 1)):
        SENT.clear()
        PATCHES.clear()
        SNAPSHOTS.clear()
        studio.timings.clear()
        t = time.perf_counter()
        studio.editor.edit("set_param", module=module, param=param, value=round(value, 2), final=False)
        studio.wait_render(60)
        if i == 0:
            continue  # warm-up
        if preview:
            assert "preview" in studio.timings, "no preview phase"
            phase1.append(studio.timings["preview"] - t)
            error_db.append(float(np.median(np.abs(np.subtract(SNAPSHOTS["preview"], SNAPSHOTS["full"])))))
        phase2.append(studio.timings["full"] - t)
        sent.append(sum(SENT))
        patches.append(sum(PATCHES))
        recomputed.append(studio.last_render.recomputed)
    studio.preview = True
    return {"phase1_ms": statistics.median(phase1) * 1e3 if phase1 else float("nan"),
            "phase2_ms": statistics.median(phase2) * 1e3,
            "kb": statistics.median(sent) / 1024, "max_kb": max(sent) / 1024,
            "patch_kb": statistics.median(patches) / 1024,
            "error_db": statistics.median(error_db) if error_db else float("nan"),
            "max_error_db": max(error_db) if error_db else float("nan"),
            "recomputed": f"{recomputed[0]} of {len(chain)}"}


def baseline(studio, chain: Chain, repeats: int) -> float:
    dry = studio.cache.input
    sr = studio.cache.sample_rate
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        stages = render_stages(dry, sr, chain)
        studio.player.set_source("render", stages[-1][1], sr, measure=False)
        studio.plots.set_render(chain, stages, sr)
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:]) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    studio = Studio(planner=None, example="mix")
    studio.player.position_seconds = 5.0   # the playhead, as the browser reports it: previews centre there
    studio.on_render(_snapshot(studio))
    studio.wait_render(60)
    cases = []
    demo = example_chain("mix")
    for label, chain in (("demo chain of `mix`", demo), ("6 modules incl. reverb + delay", HEAVY)):
        first, last = chain[0], chain[len(chain) - 1]
        for where, call in (("first module", first), ("last module", last)):
            param = next(p for p in call.params)
            r = measure(studio, chain, call.name, param, args.repeats)
            one = measure(studio, chain, call.name, param, args.repeats, preview=False)
            base = baseline(studio, chain, max(3, args.repeats // 2))
            cases.append([f"{label}: {where} ({call.name}.{param})", r["recomputed"], f"**{r['phase1_ms']:.1f}**",
                          f"{r['phase2_ms']:.1f}", f"{one['phase2_ms']:.1f}", f"{base:.1f}",
                          f"{base / r['phase1_ms']:.2f}", f"{r['error_db']:.2f} / {r['max_error_db']:.2f}",
                          f"{r['kb']:.1f}", f"{r['max_kb']:.1f}", f"{r['patch_kb']:.1f}"])
    # Audio fetched on demand while the render is being heard: one WAV per settled edit.
    SENT.clear()
    audio_bytes = studio.player.load("render")
    table = markdown_table(
        ["edit (slider drag step)", "modules recomputed",
         "phase 1: edit -> preview traits updated and timeline patch sent, median ms",
         "phase 2: edit -> full render traits updated, median ms",
         "one-phase incremental render (preview off), median ms", "full re-render baseline ms",
         "baseline / phase 1", "preview spectrum vs full, median abs dB (median / max over edits)",
         "state sent per edit (both phases), median KB", "max KB", "of which the timeline patch, KB"], cases)
    body = (f"10 s stereo 44.1 kHz clip (`mix`) + 1 s tail, median of {args.repeats} edits after a warm-up; "
            f"the render's loudness (for loudness matching) is measured when its audio is fetched, not per edit.\n\n"
            f"Two-phase edits: phase 1 renders a {PREVIEW_WINDOW_SECONDS:g} s window around the playhead (at 5 s here) "
            f"(after {PREVIEW_PREROLL_SECONDS:g} s of pre-roll, rendered and discarded, so compressor/limiter "
            f"envelopes and reverb/delay buffers hold realistic state) from the cached stage before the edited "
            f"module, and updates the render spectrum, the EQ curve and the timeline's spectrogram and waveform "
            f"columns under the window (one patch message); the plotted preview spectrum is the last "
            f"full render's spectrum plus the per-band change the edit makes on the window (drawn dotted as "
            f"\"render (preview)\"). Phase 2 waits {FULL_RENDER_DEBOUNCE_SECONDS * 1e3:.0f} ms for a newer edit "
            f"(slider drags), then renders the full clip through the stage cache (abandoned between modules if a "
            f"newer edit arrives) and replaces the preview: exact spectrum, waveform, gain reduction, player, "
            f"the timeline's whole render spectrogram (51 KB) and waveform. "
            f"The one-phase column is the same studio with the preview off (every edit rendered in full at once); "
            f"the baseline is a full non-incremental render plus the same plot and player updates.\n\n{table}\n\n"
            f"Audio is not part of an edit's state: the player fetches the render's 16-bit WAV "
            f"({audio_bytes / 1024:.0f} KB for this clip) once per settled edit, and only while the "
            f"render is being heard; dry and reference are sent once per new input.\n\n"
            f"Targets (issues #10 and 36): edit -> traits updated, spectrogram and playhead views included, <= 100 ms "
            f"(met by phase 1, which is what the user sees first; the browser's redraw of the patch is in "
            f"\"Studio in the browser\"); state per edit <= 200 KB.\n")
    path = write_section("studio", "Studio responsiveness (issues #10, 36)", body)
    print(body)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
