"""Why analysis+refine misses the parameter targets: the same tuning from four starts.

Usage (the figures in the issue note and ``docs/architecture.md``; about 15 min on 2 cores)::

    python scripts/refine_gap.py --per-length 8 --seed 4321 --json /tmp/refine_gap.json

On generated LP-Fx-style pairs (:func:`~llm2fx_lab.planners.bench.make_test_pairs`), each pair's
chain is tuned by :func:`~llm2fx_lab.planners.refine.refine` with its gradient descent only
(``structure=False``, ``--steps`` steps, a budget that never cuts it short), from:

- **true structure**: the true modules in the true order, each with the parameters the
  ``analysis`` planner estimated for it (for a module that planner left out, the settings its
  measurements give, :func:`~llm2fx_lab.planners.analysis_planner.presence_priors`, else
  :data:`~llm2fx_lab.planners.refine.ADD_SETTINGS`);
- **true structure, true delay**: the same with the delay's three parameters true (refinement
  leaves the delay's time and feedback as they come, :data:`~llm2fx_lab.planners.refine.FROZEN`);
- **true chain**: the true chain itself, so the loss's own minimum shows: if tuning moves
  away from the truth, the loss does not pin the parameters; if it stays, it does.

Beside them, ``analysis`` and (unless ``--no-pipeline``) ``analysis+refine`` as shipped, whose
modules and order are estimated too. Prints the paper's parameter MAE (over modules in both
chains) and the refinement loss after tuning, by chain length and for pairs with and without a
delay. A start with a low MAE but a loss far above the true chain's is a descent stuck in a
local minimum; a start whose MAE is low once the structure is true says the pipeline's MAE is
lost to its structure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from llm2fx_lab.analysis.metrics import parameter_mae
from llm2fx_lab.events import collect
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.planners.analysis_planner import presence_priors
from llm2fx_lab.planners.bench import make_test_pairs
from llm2fx_lab.planners.refine import RefineConfig, refine
from llm2fx_lab.planners.registry import get_planner

#: Rows, in print order: (key, label).
STARTS = (
    ("analysis", "analysis (estimated structure)"),
    ("pipeline", "analysis+refine as shipped"),
    ("true_structure", "true structure, estimated parameters, tuned"),
    ("true_delay", "true structure and delay parameters, tuned"),
    ("true_chain", "true chain, tuned"),
)
#: Wall-clock budget per tuning: large enough that no start is cut short (the comparison is
#: between starts, not a timing).
BUDGET_SECONDS = 600.0


def starts_for(pair: dict[str, Any], estimate: Any) -> dict[str, Any]:
    """The tuned runs' start chains for one pair, given the ``analysis`` planner's chain."""
    truth = pair["reference"]
    measured = presence_priors(pair["dry"], pair["reference_audio"], pair["sample_rate"]).candidates

    def estimated(name: str) -> dict[str, float]:
        if name in estimate:
            return dict(estimate[name].params)
        return dict(measured.get(name, RefineConfig().add_settings[name]))

    structure = Chain(tuple(tool_call(c.name, estimated(c.name), mode="lenient") for c in truth))
    delay = Chain(tuple(c if c.name == "delay" else structure[c.name] for c in truth))
    return {"true_structure": structure, "true_delay": delay, "true_chain": truth}


def measure_pair(pair: dict[str, Any], steps: int, pipeline: bool) -> dict[str, Any]:
    """Every start's chain after tuning, and its refinement loss, for one pair."""
    dry, reference, sr = pair["dry"], pair["reference_audio"], pair["sample_rate"]
    estimate = collect(get_planner("analysis").plan(dry, reference, sr)).chain
    chains: dict[str, Any] = {"analysis": estimate}
    losses: dict[str, float] = {}
    if pipeline:  # what analysis+refine returns (Refined's defaults), without planning twice
        chains["pipeline"] = refine(estimate, dry, reference, sr).chain
    for key, start in starts_for(pair, estimate).items():
        result = refine(start, dry, reference, sr, steps=steps, structure=False, budget_seconds=BUDGET_SECONDS)
        chains[key], losses[key] = result.chain, result.loss_after
    return {"id": pair["id"], "chains": chains, "losses": losses}


def summarise(pairs: list[dict[str, Any]], measured: list[dict[str, Any]]) -> dict[str, Any]:
    """MAE and tuned loss per start: overall, per chain length, with and without a delay."""
    truth = {p["id"]: p["reference"] for p in pairs}
    keys = [k for k, _ in STARTS if all(k in m["chains"] for m in measured)]
    lengths = np.array([len(truth[m["id"]]) for m in measured])
    has_delay = np.array(["delay" in truth[m["id"]] for m in measured])
    out: dict[str, Any] = {}
    for key in keys:
        mae = np.array([parameter_mae(m["chains"][key], truth[m["id"]]) for m in measured], dtype=float)
        loss = np.array([m["losses"].get(key, np.nan) for m in measured], dtype=float)
        row = {"mae": float(np.nanmean(mae)),
               "mae_with_delay": float(np.nanmean(mae[has_delay])) if has_delay.any() else None,
               "mae_without_delay": float(np.nanmean(mae[~has_delay])) if (~has_delay).any() else None,
               "mae_by_length": {int(n): float(np.nanmean(mae[lengths == n])) for n in np.unique(lengths)}}
        if np.isfinite(loss).any():
            row.update(loss_mean=float(np.nanmean(loss)), loss_median=float(np.nanmedian(loss)),
                       loss_median_with_delay=float(np.nanmedian(loss[has_delay])) if has_delay.any() else None,
                       loss_median_without_delay=(float(np.nanmedian(loss[~has_delay]))
                                                  if (~has_delay).any() else None))
        out[key] = row
    return out


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def table(summary: dict[str, Any]) -> str:
    """The summary as Markdown: one row per start, then MAE by chain length."""
    labels = dict(STARTS)
    lines = ["| start | MAE | MAE, delay pairs | MAE, others | loss mean | loss median | "
             "loss median, delay pairs | loss median, others |", "|---|---|---|---|---|---|---|---|"]
    for key, row in summary.items():
        lines.append(f"| {labels[key]} | {_fmt(row['mae'])} | {_fmt(row['mae_with_delay'])} | "
                     f"{_fmt(row['mae_without_delay'])} | {_fmt(row.get('loss_mean'))} | "
                     f"{_fmt(row.get('loss_median'))} | {_fmt(row.get('loss_median_with_delay'))} | "
                     f"{_fmt(row.get('loss_median_without_delay'))} |")
    lengths = sorted({n for row in summary.values() for n in row["mae_by_length"]})
    lines += ["", "MAE by chain length:", "",
              "| start | " + " | ".join(str(n) for n in lengths) + " |",
              "|---|" + "---|" * len(lengths)]
    for key, row in summary.items():
        lines.append(f"| {labels[key]} | " + " | ".join(_fmt(row["mae_by_length"].get(n)) for n in lengths) + " |")
    return "\n".join(lines)


def _work(job: tuple[dict[str, Any], int, bool]) -> dict[str, Any]:
    return measure_pair(*job)


def _one_thread() -> None:
    """A worker's initialiser: one torch thread per process."""
    import torch

    torch.set_num_threads(1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-length", type=int, default=8, help="pairs per chain length (1..9)")
    p.add_argument("--seed", type=int, default=4321, help="pair seed (the benchmark's test pairs use 1234)")
    p.add_argument("--lengths", type=int, nargs="+", default=list(range(1, 10)), help="chain lengths, 1..9")
    p.add_argument("--seconds", type=float, default=None, help="cut the dry clips to this length (default: 10 s)")
    p.add_argument("--steps", type=int, default=25, help="gradient steps of each tuning (refine's default: 25)")
    p.add_argument("--workers", type=int, default=2, help="processes (one torch thread each)")
    p.add_argument("--no-pipeline", action="store_true", help="skip the analysis+refine row (the slowest)")
    p.add_argument("--json", type=Path, default=None, help="write the summary and every chain here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    args = p.parse_args(argv)
    if args.per_length < 1 or args.steps < 1 or args.workers < 1:
        p.error(f"--per-length, --steps and --workers must each be >= 1 (got {args.per_length}, {args.steps}, "
                f"{args.workers})")
    if not set(args.lengths) <= set(range(1, 10)):
        p.error(f"--lengths must be chain lengths 1..9, got {args.lengths}")
    if args.seconds is not None and args.seconds < 2.0:
        p.error(f"--seconds must be >= 2 (refinement needs its crop and pre-roll), got {args.seconds}")
    if args.json is not None and args.json.exists() and not args.overwrite:
        p.error(f"{args.json} exists; pass --overwrite to replace it")

    t0 = time.time()
    pairs = make_test_pairs(args.per_length, seed=args.seed, lengths=tuple(args.lengths), seconds=args.seconds)
    jobs = [(pair, args.steps, not args.no_pipeline) for pair in pairs]
    if args.workers == 1:
        measured = [_work(job) for job in tqdm(jobs, desc="pairs")]
    else:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        with multiprocessing.get_context("spawn").Pool(args.workers, initializer=_one_thread) as pool:
            measured = list(tqdm(pool.imap(_work, jobs, chunksize=1), total=len(jobs), desc="pairs"))
    summary = summarise(pairs, measured)
    print(f"{len(pairs)} pairs ({args.per_length} per chain length {args.lengths}, seed {args.seed}), "
          f"{args.steps} gradient steps per tuning, {time.time() - t0:.0f} s")
    print(table(summary))
    if args.json is not None:
        truth = {q["id"]: q["reference"] for q in pairs}
        record = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                  "summary": summary,
                  "pairs": [{"id": m["id"], "truth": truth[m["id"]].to_tool_calls(),
                             "chains": {k: c.to_tool_calls() for k, c in m["chains"].items()}, "losses": m["losses"]}
                            for m in measured]}
        args.json.write_text(json.dumps(record, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
