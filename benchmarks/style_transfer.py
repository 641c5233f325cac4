"""Style transfer: how close style mode brings a dry clip to the sound of another recording.

Each pair: a dry clip; a reference = *another* clip through a chain; a target = the dry clip
through that same chain (what a perfect transfer outputs). Scored on the output of each method
(:func:`llm2fx_lab.analysis.style.style_transfer_scores`): the MR-STFT distance to the target and
the feature distance (:func:`~llm2fx_lab.analysis.style.style_distance`), each as a ratio to
the untouched dry clip's (below 1: closer than doing nothing). Methods, all with the same base
planner: its estimate as if the two clips held the same recording (what every planner did
before style mode), its blind estimate of the reference alone (the reference against its
pseudo-dry), and style mode (``get_planner(name, style=True)``).

Pairs: the bundled clips (``llm2fx_lab/examples``, 10 s each: every ordered pair of two
different clips, the reference clip through its demonstration chain: 20 pairs; GM renders of
stems of one piece, so they share its tempo, not their instruments), and generated pairs
(:func:`~llm2fx_lab.planners.bench.style_pairs` of ``make_test_pairs``: dry clips of different
MIDI pieces, chains drawn by the official sampler; needs FluidSynth). Targets (the style
transfer issue): on pairs of different real recordings, MR-STFT ratio <= 0.6 and feature ratio
<= 1/3, <= 20 s per pair on 2 CPU cores.

Run: ``.venv/bin/python benchmarks/style_transfer.py [--planner analysis] [--per-length 1]
[--seed 4321] [--style-seconds 12] [--json OUT] [--no-write]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import markdown_table, write_section  # noqa: E402

from llm2fx_lab.analysis.style import style_transfer_scores  # noqa: E402
from llm2fx_lab.events import collect  # noqa: E402
from llm2fx_lab.fx.render import render  # noqa: E402
from llm2fx_lab.planners import get_planner  # noqa: E402
from llm2fx_lab.planners.bench import bundled_style_pairs, make_test_pairs, style_pairs  # noqa: E402

#: (label, how the base planner is asked): as if one recording, blind, style mode.
METHODS = (("as one recording", "same"), ("blind estimate", "blind"), ("style mode", "style"))


def run_method(planner, kind: str, pair: dict) -> tuple[dict, float, list[str]]:
    """Scores of one method on one pair, its seconds and its chain's module names."""
    dry, reference, sr = pair["dry"], pair["reference_audio"], pair["sample_rate"]
    start = time.perf_counter()
    result = collect(planner.plan(None if kind == "blind" else dry, reference, sr))
    seconds = time.perf_counter() - start
    output = render(dry, sr, result.chain) if len(result.chain) else dry
    return style_transfer_scores(dry, pair["target"], output, sr), seconds, list(result.chain.names)


def summarise(rows: list[dict]) -> list[list[object]]:
    """One table row per (set, method): pairs, MR-STFT and feature ratios (mean, median), time."""
    table = []
    for group in sorted({r["set"] for r in rows}):
        for label, _ in METHODS:
            chosen = [r for r in rows if r["set"] == group and r["method"] == label]
            mr = np.array([r["mrstft_ratio"] for r in chosen])
            feat = np.array([r["feature_ratio"] for r in chosen])
            table.append([group, label, len(chosen), float(np.mean(mr)), float(np.median(mr)),
                          float(np.mean(mr <= 0.6)), float(np.mean(feat)), float(np.median(feat)),
                          float(np.mean(feat <= 1 / 3)), float(np.mean([r["seconds"] for r in chosen]))])
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planner", default="analysis")
    parser.add_argument("--per-length", type=int, default=1, help="generated pairs per chain length 1..9 (0: none)")
    parser.add_argument("--seed", type=int, default=4321)
    parser.add_argument("--style-seconds", type=float, default=None, help="style mode's search budget")
    parser.add_argument("--json", default=None, help="also write every pair's scores here")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args(argv)

    sets = {"bundled clips": bundled_style_pairs()}
    if args.per_length > 0:
        sets["generated (MIDI)"] = style_pairs(make_test_pairs(per_length=args.per_length, seed=args.seed))
    style_options = {} if args.style_seconds is None else {"budget_seconds": args.style_seconds}
    planners = {"same": get_planner(args.planner), "blind": get_planner(args.planner),
                "style": get_planner(args.planner, style=True, style_options=style_options)}
    rows = []
    total = sum(len(p) for p in sets.values()) * len(METHODS)
    with tqdm(total=total, desc="style transfer") as bar:
        for group, pairs in sets.items():
            for pair in pairs:
                for label, kind in METHODS:
                    scores, seconds, names = run_method(planners[kind], kind, pair)
                    rows.append({"set": group, "id": pair["id"], "method": label, "seconds": seconds,
                                 "chain": names, "truth": list(pair["reference"].names), **scores})
                    bar.update(1)
    table = summarise(rows)
    headers = ["pairs", "method", "n", "MR-STFT ratio mean", "median", "share <= 0.6", "feature ratio mean",
               "median", "share <= 1/3", "s/pair"]
    print(markdown_table(headers, table))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=float))
    if not args.no_write:
        body = (f"Planner `{args.planner}`; ratios are to the untouched dry clip's distance to the target (below 1: "
                "closer than doing nothing). Targets: MR-STFT ratio <= 0.6 and feature ratio <= 1/3 on pairs of "
                "different real recordings, <= 20 s per pair on 2 CPU cores.\n\n" + markdown_table(headers, table))
        write_section("style_transfer", "Style transfer (style mode)", body)


if __name__ == "__main__":
    main()
