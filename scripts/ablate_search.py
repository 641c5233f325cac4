"""Ablation of the search planner (``analysis+search``): each stage switched off in turn.

The same pairs (the planners benchmark's generated test pairs, the first ``--per-length`` of
each chain length 1..9, seed 1234) run through:

- ``analysis+search``: the analysis planner, gradient refinement (descent, then the order and
  presence search), then the grid search (snap, neighbourhood sweeps with two-parameter moves,
  pruning);
- without the two-parameter moves; without pruning; without the descent (``steps=0``);
  without refinement's structure search; without the grid search (that is ``analysis+refine``);
- the grid search straight from the analysis planner (no refinement at all), with the time
  refinement would have taken.

Each row: the planners benchmark's metrics, the recovery rate and seconds per pair, so the value
of every stage is measured on the same pairs. Writes the "search-ablation" section of
``docs/benchmarks.md`` (``--no-write`` prints only).

Run: ``.venv/bin/python scripts/ablate_search.py [--per-length 2]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _report import markdown_table, write_section  # noqa: E402

from llm2fx_lab.planners import get_planner  # noqa: E402
from llm2fx_lab.planners.bench import first_per_length, make_test_pairs, run_bench  # noqa: E402
from llm2fx_lab.planners.grid_search import GridConfig  # noqa: E402

SEARCH = GridConfig()

#: (label, planner name, refine options): the full search first, then one stage off at a time.
VARIANTS = (
    ("analysis+search (all stages)", "analysis+search", {}),
    ("without two-parameter moves", "analysis+search", {"grid_config": SEARCH.replace(pairs=False)}),
    ("without pruning", "analysis+search", {"grid_config": SEARCH.replace(prune=False)}),
    ("without the grid's structure moves", "analysis+search", {"grid_config": SEARCH.replace(structure=False)}),
    ("without gradient descent", "analysis+search", {"steps": 0}),
    ("without refinement's order / presence search", "analysis+search", {"structure": False}),
    ("without the grid search (analysis+refine)", "analysis+refine", {}),
    ("grid search only (no refinement; 18 s for the grid)", "analysis+search",
     {"steps": 0, "structure": False, "grid_config": SEARCH.replace(budget_seconds=18.0)}),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-length", type=int, default=2, help="pairs per chain length (of the 900-pair split)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--variants", type=int, nargs="+", default=None, metavar="I",
                        help="run only these variants (0 = all stages, in the order of VARIANTS); implies --no-write")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    variants = VARIANTS if args.variants is None else [VARIANTS[i] for i in args.variants]
    pairs = first_per_length(make_test_pairs(100, seed=args.seed), 100, args.per_length)
    cache: dict = {}
    rows = []
    for label, name, options in variants:
        t = time.perf_counter()
        summary, _, seconds = run_bench(get_planner(name, refine_options=options), pairs, progress=True,
                                        audibility_crop_seconds=3.0, calibration=False, cache=cache)
        r = summary[(summary["chain_length"] == "all") & (summary["method"] == "prediction")].iloc[0]
        rows.append([label, f"{r['acc']:.1%}", f"{r['rank_corr']:.2f}", f"{r['mae']:.3f}",
                     f"{r['mrs_l']:.2f} / {r['mrs_r']:.2f}", f"{r['audible_order_acc']:.0%}",
                     f"{r['recovered']:.0%}", f"{np.mean(seconds):.1f}"])
        print(f"{label}: {rows[-1][1:]} ({time.perf_counter() - t:.0f} s)", flush=True)
    table = markdown_table(["variant", "Acc", "Rank Corr", "MAE", "MRS L/R", "audible order Acc", "recovery",
                            "s / pair"], rows)
    body = (f"{len(pairs)} generated test pairs (the first {args.per_length} of each chain length 1..9 of the "
            f"900-pair split, seed {args.seed}), scored as in the planners section; recovery: the share of pairs "
            "whose estimate renders within MR-STFT 0.05 of the reference.\n\n" + table)
    print(body)
    if not args.no_write and args.variants is None:
        print("wrote", write_section("search-ablation", "Search planner: each stage switched off in turn", body))


if __name__ == "__main__":
    main()
