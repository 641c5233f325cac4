"""Memory of the command line on long recordings: ``llm2fx render`` and ``llm2fx estimate --out``
on 10 s, 10 min and 1 h of 44.1 kHz stereo.

Each length is a 16-bit WAV of noise written block by block into a temporary folder (1 h is
about 635 MB on disk, removed afterwards). Each command runs as its own process
(``python -m llm2fx_lab.cli``); its peak resident memory is the kernel's ``ru_maxrss`` for that
process (``os.wait4``), its time the wall clock. ``render`` streams the file through the full
9-module chain of ``benchmarks/render_cpu.py`` in blocks; ``estimate`` hears the first 60 s of
each file (``--planner analysis``) and renders the whole dry file through its estimate
(``--out``). Baseline in the same run: the whole-file way ``render`` worked before (load the
file, render it, save it: ``load_audio`` + ``render`` + ``save_audio`` in one process). The
target (issue 34): memory that does not grow with the length.

Run: ``.venv/bin/python benchmarks/long_audio.py [--lengths 10 600 3600] [--no-write]``.
Writes the "long_audio" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import markdown_table, write_section  # noqa: E402
from benchmarks.render_cpu import FULL  # noqa: E402
from llm2fx_lab.audio.io import BlockWriter  # noqa: E402

SR = 44100


def write_noise(path: Path, seconds: float) -> None:
    """``seconds`` of quiet stereo noise, 16-bit, written a minute at a time."""
    rng = np.random.default_rng(0)
    with BlockWriter(path, SR, subtype="PCM_16") as out:
        left = int(seconds * SR)
        while left:
            n = min(left, 60 * SR)
            out.write((0.1 * rng.standard_normal((2, n))).astype(np.float32))
            left -= n


#: The whole-file render (the CLI's way before issue 34), as a process of its own.
WHOLE = ("import sys; from llm2fx_lab.audio.io import load_audio, save_audio; from llm2fx_lab.fx.chain import Chain; "
         "from llm2fx_lab.fx.render import render; x, sr = load_audio(sys.argv[2]); "
         "save_audio(sys.argv[3], render(x, sr, Chain.from_json(open(sys.argv[1]).read())), sr, overwrite=True)")


def run(args: list[str], code: str | None = None) -> tuple[float, float]:
    """(peak resident MB, wall seconds) of ``python -m llm2fx_lab.cli ARGS`` (or of ``python -c
    CODE ARGS``) as its own process."""
    t = time.perf_counter()
    head = ["-c", code] if code else ["-m", "llm2fx_lab.cli"]
    proc = subprocess.Popen([sys.executable, *head, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"llm2fx {' '.join(args)} failed: {proc.stderr.read().decode()[-500:]}")
    return usage.ru_maxrss / 1024, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=float, nargs="+", default=[10, 600, 3600], help="seconds")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="llm2fx-long-") as tmp:
        folder = Path(tmp)
        chain = folder / "chain.json"
        chain.write_text(json.dumps(FULL.to_tool_calls()))
        for seconds in args.lengths:
            clip = folder / f"in_{seconds:g}.wav"
            write_noise(clip, seconds)
            render_mb, render_s = run(["render", "--chain", str(chain), str(clip), str(folder / "out.wav"),
                                       "--overwrite"])
            estimate_mb, estimate_s = run(["estimate", str(clip), str(clip), "--planner", "analysis", "--json",
                                           "--out", str(folder / "est.wav"), "--overwrite"])
            whole_mb, whole_s = run([str(chain), str(clip), str(folder / "whole.wav")], WHOLE)
            label = f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
            rows.append([label, f"{clip.stat().st_size / 1e6:.0f}", f"{render_mb:.0f}", f"{render_s:.1f}",
                         f"{estimate_mb:.0f}", f"{estimate_s:.1f}", f"{whole_mb:.0f}", f"{whole_s:.1f}"])
            print(rows[-1], flush=True)
            for path in (clip, folder / "out.wav", folder / "est.wav", folder / "whole.wav"):
                path.unlink(missing_ok=True)
    table = markdown_table(["length", "input MB (16-bit WAV)", "render: peak MB", "render: s",
                            "estimate --out: peak MB", "estimate --out: s", "whole-file render (before): peak MB",
                            "whole-file render: s"], rows)
    body = (f"{table}\n\n`render` streams the input through the 9-module chain in 10 s blocks "
            "(`fx.render.render_file`, outputs equal to rendering the whole, tested); `estimate` reads the "
            "first 60 s of each clip and renders the whole dry file through its estimate the same way. Peak "
            "memory is each command's own process (Python, numpy, pedalboard and, for `estimate`, torch and the "
            "planner's models).")
    print(body)
    if not args.no_write:
        print("wrote", write_section("long_audio", "Long recordings: memory of render and estimate (issue 34)", body))


if __name__ == "__main__":
    main()
