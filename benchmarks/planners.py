"""Benchmark of the planners on LP-Fx-style generated test pairs, beside the paper's numbers.

Pairs: General MIDI dry segments (FluidSynth), chains sampled as the reference generator
does, the MR-STFT similarity filter; ``--per-length`` pairs for each chain length 1..9 (the
LP-Fx test split has 100 per length, 900 in all). The paper's rows were measured on LP-Fx
(MedleyDB stems): different audio, so compare with care. The calibration rows ("empty
chain", "true modules, mid params") are measured on our pairs.

Run: ``.venv/bin/python benchmarks/planners.py [--per-length 100] [--planners analysis analysis+refine]
[--refine-subset 2]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import markdown_table as md_table, write_section  # noqa: E402

from llm2fx_lab.planners import get_planner  # noqa: E402
from llm2fx_lab.planners.bench import make_test_pairs, markdown_table, run_bench  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-length", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--planners", nargs="+", default=["analysis"])
    parser.add_argument("--refine-subset", type=int, default=None,
                        help="run '+refine' planners on only this many pairs per length (slow on CPU)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    pairs = make_test_pairs(args.per_length, seed=args.seed)
    print(f"{len(pairs)} pairs made in {time.perf_counter() - t0:.0f} s", flush=True)
    rows, seconds, sections = {}, {}, []
    for name in args.planners:
        subset = pairs
        if name.endswith("+refine") and args.refine_subset:
            subset = [p for i, p in enumerate(pairs) if i % args.per_length < args.refine_subset]
        summary, _, secs = run_bench(get_planner(name), subset, progress=True, audibility_crop_seconds=3.0)
        everything = summary[summary["chain_length"] == "all"].set_index("method")
        label = f"{name} ({len(subset)} pairs)"
        rows[label] = everything.loc["prediction"].to_dict()
        seconds[label] = float(np.mean(secs))
        if not any(k.startswith("calibration") for k in rows):
            for method in ("empty chain", "true modules, mid params"):
                rows[f"calibration: {method}"] = everything.loc[method].to_dict()
        per_length = summary[summary["method"] == "prediction"][
            ["chain_length", "n_examples", "acc", "rank_corr", "mae", "mrs", "audible_acc", "audible_order_acc"]]
        sections.append(f"Per chain length, `{name}`:\n\n" + md_table(list(per_length.columns),
                                                                       per_length.values.tolist()))
        print(per_length.to_string(index=False), flush=True)
    note = (f"{len(pairs)} generated pairs ({args.per_length} per chain length 1..9, seed {args.seed}); "
            "MRS L/R is auraloss MR-STFT on left/right; Acc over the 9 modules; Rank Corr and MAE over modules "
            "present in both chains. Paper rows: LP-Fx test set (MedleyDB stems), **different audio**.")
    body = markdown_table(rows, seconds, note) + "\n" + "\n\n".join(sections) + "\n"
    print(body)
    if not args.no_write:
        print("wrote", write_section("planners", "Planners (LP-Fx-style generated test pairs)", body))


if __name__ == "__main__":
    main()
