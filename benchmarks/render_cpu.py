"""CPU renderer speed: a 10 s stereo 44.1 kHz clip through the full 9-module chain and each module.

Run: ``.venv/bin/python benchmarks/render_cpu.py [--repeats N]``. Writes the "render_cpu"
section of docs/benchmarks.md. Baselines measured in the same run:

- *pedalboard alone*: only the six pedalboard modules of the same chain;
- *official renderer*: the same nine modules with the equalizer applied the way the paper's
  public code does it (frequency sampling with a 2^20-point FFT).

Target (issue #3): full chain <= 1.5x pedalboard alone (the NumPy modules must not dominate).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import markdown_table, median_seconds, write_section  # noqa: E402
from llm2fx_lab.examples import load_example  # noqa: E402
from llm2fx_lab.fx.chain import Chain  # noqa: E402
from llm2fx_lab.fx.render import apply_module, equalizer_frequency_sampling, render  # noqa: E402
from llm2fx_lab.fx.spec import MODULE_NAMES, TOOLSET  # noqa: E402

FULL = Chain.from_tool_calls([
    {"name": "equalizer", "arguments": {"low_gain_db": 6, "low_cutoff_freq": 120, "low_q_factor": 0.7,
                                        "mid_gain_db": -4, "mid_cutoff_freq": 1500, "mid_q_factor": 1.5,
                                        "high_gain_db": 5, "high_cutoff_freq": 8000, "high_q_factor": 0.7}},
    {"name": "compressor", "arguments": {"threshold_db": -25, "ratio": 4, "attack_ms": 10, "release_ms": 150}},
    {"name": "stereo_widener", "arguments": {"width": 1.3}},
    {"name": "gain", "arguments": {"gain_db": 4}},
    {"name": "panner", "arguments": {"pan": 0.2}},
    {"name": "distortion", "arguments": {"drive_db": 8}},
    {"name": "reverb", "arguments": {"room_size": 0.6, "damping": 0.4, "width": 0.9, "mix_ratio": 0.3}},
    {"name": "delay", "arguments": {"delay_seconds": 0.3, "feedback": 0.35, "mix_ratio": 0.3}},
    {"name": "limiter", "arguments": {"threshold_db": -3, "release_ms": 100}},
])
assert FULL.names == MODULE_NAMES


def run_chain(x, sr, calls, official_eq: bool = False):
    for call in calls:
        if official_eq and call.name == "equalizer":
            x = equalizer_frequency_sampling(x, sr, **call.params)
        else:
            x = apply_module(x, sr, call)
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    x, sr = load_example("mix")
    seconds = x.shape[1] / sr
    pb_calls = [c for c in FULL if TOOLSET[c.name].renderer == "pedalboard"]

    t_full = median_seconds(lambda: render(x, sr, FULL), args.repeats)
    t_pb = median_seconds(lambda: run_chain(x, sr, pb_calls), args.repeats)
    t_official = median_seconds(lambda: run_chain(x, sr, FULL, official_eq=True), max(3, args.repeats // 3))
    rows = []
    for call in FULL:
        t = median_seconds(lambda c=call: apply_module(x, sr, c), args.repeats)
        rows.append([call.name, TOOLSET[call.name].renderer, f"{t * 1e3:.1f}", f"{seconds / t:.0f}x"])
    t_fs = median_seconds(lambda: equalizer_frequency_sampling(x, sr, **FULL["equalizer"].params),
                          max(3, args.repeats // 3))
    rows.append(["equalizer (official frequency sampling)", "numpy", f"{t_fs * 1e3:.1f}", f"{seconds / t_fs:.0f}x"])

    summary = markdown_table(
        ["what", "median ms", "x realtime", "ratio"],
        [["full 9-module chain (ours)", f"{t_full * 1e3:.1f}", f"{seconds / t_full:.0f}x", "1.00"],
         ["pedalboard alone (its 6 modules)", f"{t_pb * 1e3:.1f}", f"{seconds / t_pb:.0f}x",
          f"ours / pedalboard = {t_full / t_pb:.2f} (target <= 1.5)"],
         ["official renderer (same 9 modules, frequency-sampling EQ)", f"{t_official * 1e3:.1f}",
          f"{seconds / t_official:.0f}x", f"official / ours = {t_official / t_full:.2f}"]],
    )
    per_module = markdown_table(["module", "renderer", "median ms", "x realtime"], rows)
    body = (f"10 s stereo 44.1 kHz clip (`mix` example), median of {args.repeats} runs after a warm-up.\n\n"
            f"{summary}\n\nPer module:\n\n{per_module}\n")
    path = write_section("render_cpu", "CPU renderer (issue #3)", body)
    print(body)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
