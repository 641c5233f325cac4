"""Data generator throughput: examples per second per core, disk per 1,000 examples.

Usage::

    .venv/bin/python benchmarks/data_throughput.py [--n 48] [--workers 2] [--source midi]

Generates a small train split into a temporary folder with the real pipeline (MIDI
rendering, chain sampling, MR-STFT filter, Evidence, dialogue, FLAC) and times it, plus a
per-stage breakdown of one example in this process. Target (issue #6): 10,000 examples in
under 30 minutes on a 2-core machine, i.e. >= 5.6 examples/s, 2.8 per core.
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

from benchmarks._report import markdown_table, write_section  # noqa: E402


def stage_times(source: str) -> list[list[object]]:
    import numpy as np

    from llm2fx_lab.analysis import compare
    from llm2fx_lab.audio.fxnorm import pseudo_dry
    from llm2fx_lab.data.chains import sample_chain
    from llm2fx_lab.data.generate import _flac
    from llm2fx_lab.data.mrstft import mrstft_distance, mrstft_spectra
    from llm2fx_lab.data.sources import make_source
    from llm2fx_lab.fx.render import render

    src = make_source(source, 0)
    t = time.perf_counter()
    segs = src.segments("train", 0, 6)
    t_src = (time.perf_counter() - t) / max(len(segs), 1)
    x, sr = segs[0].audio, segs[0].sample_rate
    rng = np.random.default_rng(0)
    rows = [["dry segment (amortised over its unit)", t_src]]
    for label, fn in [
        ("sample + render a 3-module chain", lambda: render(x, sr, sample_chain(3, rng))),
        ("MR-STFT spectra of the dry", lambda: mrstft_spectra(x)),
        ("MR-STFT distance (dry spectra cached)", lambda: mrstft_distance(x * 0.5, spec)),
        ("Evidence (compare)", lambda: compare(x, x * 0.5, sr)),
        ("Fx-normalisation (blind examples)", lambda: pseudo_dry(x, sr)),
        ("FLAC encode, one clip", lambda: _flac(x, sr, "PCM_16")),
    ]:
        if label.startswith("MR-STFT distance"):
            spec = mrstft_spectra(x)
        t = time.perf_counter()
        for _ in range(3):
            fn()
        rows.append([label, (time.perf_counter() - t) / 3])
    return [[r[0], f"{1000 * r[1]:.0f} ms"] for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--source", default="midi")
    args = ap.parse_args()
    from llm2fx_lab.data.cli import stats
    from llm2fx_lab.data.generate import GenerateConfig, generate

    with tempfile.TemporaryDirectory(prefix="llm2fx-bench-data-") as tmp:
        cfg = GenerateConfig(tmp, splits=("train",), n_examples=args.n, shard_size=args.n, source=args.source)
        t = time.perf_counter()
        generate(cfg, workers=args.workers, progress=False)
        wall = time.perf_counter() - t
        s = stats(tmp)
    rate = args.n / wall
    per_core = rate / args.workers
    minutes_10k = 10000 / rate / 60
    gb_per_1000 = s["bytes_on_disk"] / args.n * 1000 / 1e9
    table = markdown_table(["measure", "value"], [
        ["examples generated", args.n], ["workers", args.workers], ["source", args.source],
        ["wall time", f"{wall:.1f} s"], ["examples per second", f"{rate:.2f}"],
        ["examples per second per core", f"{per_core:.2f}"],
        ["projected time for 10,000 examples", f"{minutes_10k:.0f} min (target: under 30)"],
        ["disk per 1,000 examples (inline FLAC, 16-bit)", f"{gb_per_1000:.2f} GB"],
        ["chains kept below the similarity threshold", s["below_similarity_threshold"]],
    ])
    stages = markdown_table(["stage (one example, in-process)", "time"], stage_times(args.source))
    body = f"{table}\n\nPer stage:\n\n{stages}\n"
    print(body)
    write_section("data", "Data generator throughput", body)


if __name__ == "__main__":
    main()
