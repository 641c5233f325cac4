"""Data generator throughput: examples per second per core, disk per 1,000 examples.

Usage::

    .venv/bin/python benchmarks/data_throughput.py [--n 48] [--workers 2] [--source midi]

Generates a small train split into a temporary folder with the real pipeline (MIDI
rendering, chain sampling, MR-STFT filter, Evidence, dialogue, FLAC) and times it (wall and
CPU time of all processes, with the load average, since other jobs may share the cores),
plus a per-stage breakdown of one example in this process, and the MIDI render with the
fluidsynth program against libfluidsynth in this process (same samples). Target (issue #6):
10,000 examples in under 30 minutes on a 2-core machine, i.e. >= 5.6 examples/s, 2.8 per core.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from benchmarks._report import markdown_table, write_section  # noqa: E402
from llm2fx_lab.analysis import compare
from llm2fx_lab.analysis.mrstft import ClipSpectra, mrstft_distance, mrstft_spectra
from llm2fx_lab.audio.fxnorm import pseudo_dry
from llm2fx_lab.data.chains import length_schedule, offline_length_counts, sample_chain
from llm2fx_lab.data.generate import GenerateConfig, _flac, generate
from llm2fx_lab.data.midi import random_piece, render_piece
from llm2fx_lab.data.similarity import passes_similarity_filter, similarity_filter
from llm2fx_lab.data.sources import make_source
from llm2fx_lab.data.stats import stats
from llm2fx_lab.fx.render import render


def stage_times(source: str) -> list[list[object]]:
    src = make_source(source, 0)
    src.segments("train", 1, 1)  # loads what is loaded once per worker (the soundfont)
    t = time.perf_counter()
    segs = src.segments("train", 0, 6)
    t_src = (time.perf_counter() - t) / max(len(segs), 1)
    x, sr = segs[0].audio, segs[0].sample_rate
    rng = np.random.default_rng(0)
    rows = [["dry segment (amortised over its unit)", f"{1000 * t_src:.0f} ms"]]
    for label, fn in [
        ("sample + render a 3-module chain", lambda: render(x, sr, sample_chain(3, rng))),
        ("Evidence (compare)", lambda: compare(x, x * 0.5, sr)),
        ("Fx-normalisation (blind examples)", lambda: pseudo_dry(x, sr)),
        ("FLAC encode, one clip", lambda: _flac(x, sr, "PCM_16")),
    ]:
        t = time.perf_counter()
        for _ in range(3):
            fn()
        rows.append([label, f"{1000 * (time.perf_counter() - t) / 3:.0f} ms"])
    return rows + filter_times(segs, rng, length_schedule(4 * len(segs), rng, offline_length_counts(10000)))


def filter_times(segs, rng, lengths) -> list[list[object]]:
    """The similarity filter as the generator runs it (dry spectra on demand, early stop) against
    the full distance, on the same chains: each segment with chains of the official lengths."""
    t_full = t_fast = 0.0
    fractions, same = [], 0
    for k, n_modules in enumerate(lengths):
        seg = segs[k % len(segs)]
        wet = np.clip(render(seg.audio, seg.sample_rate, sample_chain(n_modules, rng)), -1, 1).astype(np.float32)
        t = time.perf_counter()
        full = mrstft_distance(wet, mrstft_spectra(seg.audio))
        t_full += time.perf_counter() - t
        t = time.perf_counter()
        clip = ClipSpectra(seg.audio)
        decision = similarity_filter(wet, clip, n_modules)
        t_fast += time.perf_counter() - t
        same += decision.passed == passes_similarity_filter(full, n_modules)
        fractions.append(sum(int(np.isfinite(b).sum()) for b in clip.block_sq_norms)
                         / sum(b.size for b in clip.block_sq_norms))
    n = len(lengths)
    return [[f"MR-STFT filter, full distance (dry spectra + wet), mean of {n} chains", f"{1000 * t_full / n:.0f} ms"],
            ["MR-STFT filter, early stop and dry on demand (the generator's), same chains",
             f"{1000 * t_fast / n:.0f} ms"],
            ["full / early stop", f"{t_full / t_fast:.2f}x; same decision {same}/{n}; "
                                  f"dry blocks computed {100 * float(np.mean(fractions)):.0f}% on average"]]


def midi_engines(repeats: int = 3) -> list[list[object]]:
    """One 70 s piece (a unit's worth) with the fluidsynth program and with libfluidsynth,
    alternating, in CPU seconds (the program's included); the samples must be equal."""
    piece = random_piece(np.random.default_rng(0), 70.0)
    render_piece(piece, engine="library")  # load the soundfont once, as a worker does
    cpu = {"program": 0.0, "library": 0.0}
    out = {}
    for _ in range(repeats):
        for engine in cpu:
            t = os.times()
            out[engine] = render_piece(piece, engine=engine)
            u = os.times()
            cpu[engine] += (u.user - t.user + u.system - t.system + u.children_user - t.children_user
                            + u.children_system - t.children_system) / repeats
    same = out["program"].shape == out["library"].shape and bool(np.array_equal(out["program"], out["library"]))
    return [["fluidsynth program, one 70 s piece (CPU)", f"{1000 * cpu['program']:.0f} ms"],
            ["libfluidsynth in-process, same piece (CPU)", f"{1000 * cpu['library']:.0f} ms"],
            ["program / library", f"{cpu['program'] / cpu['library']:.2f}x, samples identical: {same}"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--source", default="midi")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="llm2fx-bench-data-") as tmp:
        cfg = GenerateConfig(tmp, splits=("train",), n_examples=args.n, shard_size=min(args.n, 500), source=args.source)
        load = os.getloadavg()[0]
        t, c = time.perf_counter(), os.times()
        generate(cfg, workers=args.workers, progress=False)
        wall, d = time.perf_counter() - t, os.times()
        cpu = d.user - c.user + d.system - c.system + d.children_user - c.children_user + d.children_system - c.children_system
        load = max(load, os.getloadavg()[0])
        s = stats(tmp)
    rate = args.n / wall
    per_core = rate / args.workers
    minutes_10k = 10000 / rate / 60
    gb_per_1000 = s["bytes_on_disk"] / args.n * 1000 / 1e9
    table = markdown_table(["measure", "value"], [
        ["examples generated", args.n], ["workers", args.workers], ["source", args.source],
        ["wall time", f"{wall:.1f} s"], ["examples per second", f"{rate:.2f}"],
        ["examples per second per core", f"{per_core:.2f}"],
        ["CPU time per example, all processes", f"{1000 * cpu / args.n:.0f} ms"],
        ["load average (1 min, highest of start/end)", f"{load:.1f} on {os.cpu_count()} cores"],
        [f"{'measured' if args.n >= 10000 else 'projected'} time for 10,000 examples",
         f"{minutes_10k:.1f} min (target: under 30)"],
        ["projected from CPU time, all cores free", f"{10000 * cpu / args.n / args.workers / 60:.0f} min"],
        ["disk per 1,000 examples (inline FLAC, 16-bit)", f"{gb_per_1000:.2f} GB"],
        ["chains kept below the similarity threshold", s["below_similarity_threshold"]],
    ])
    stage_rows = stage_times(args.source) + (midi_engines() if args.source == "midi" else [])
    stages = markdown_table(["stage (one example, in-process)", "time"], stage_rows)
    body = f"{table}\n\nPer stage:\n\n{stages}\n"
    print(body)
    write_section("data", "Data generator throughput", body)


if __name__ == "__main__":
    main()
