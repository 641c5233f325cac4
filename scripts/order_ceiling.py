"""How high order Spearman can go for a planner that hears the order perfectly.

Usage (the figures in ``docs/benchmarks.md``, about 1 min on 2 cores)::

    python scripts/order_ceiling.py --per-length 100 --seed 1234

The benchmark's chains are random subsets in random order. Modules that
:func:`~llm2fx_lab.planners.analysis_planner.commutes` says are interchangeable (gain, EQ,
delay with each other, with the reverb, the panner and the widener) render the same in
either order, so no planner can tell which of the orders equivalent to the true one was
drawn: all of them are equally likely. For each chain this script lists that class (every
order reachable by swapping interchangeable neighbours), and scores the member that a
perfect listener would best answer with: the one with the highest Spearman against the true
order averaged over the class. Its mean over the chains is a ceiling for the benchmark's
rank correlation (``llm2fx_lab.analysis.metrics.rank_correlation``), before any error in
hearing which modules are there or in their parameters. Order accuracy on the pairs whose
order is audible (the bench's ``audible_order_acc``) has no such ceiling: it counts only the
pairs a listener can hear.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from llm2fx_lab.analysis.metrics import rank_correlation
from llm2fx_lab.data.chains import sample_modules
from llm2fx_lab.planners.analysis_planner import commutes

#: Orders scored as the listener's answer per chain (a random sample beyond this many);
#: the class is averaged over in full up to ``MAX_CLASS`` members.
MAX_ANSWERS = 60
MAX_CLASS = 3000


def equivalent_orders(order: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every order reachable from ``order`` by swapping neighbours that commute (``order`` first)."""
    seen, stack, out = {order}, [order], [order]
    while stack:
        current = stack.pop()
        for i in range(len(current) - 1):
            if commutes(current[i], current[i + 1]):
                swapped = current[:i] + (current[i + 1], current[i]) + current[i + 2:]
                if swapped not in seen:
                    seen.add(swapped)
                    stack.append(swapped)
                    out.append(swapped)
    return out


def _spearman(answer: tuple[str, ...], truth: tuple[str, ...]) -> float:
    return rank_correlation([{"name": m, "arguments": {}} for m in answer],
                            [{"name": m, "arguments": {}} for m in truth])


def best_expected_spearman(order: tuple[str, ...], rng: np.random.Generator) -> float:
    """The highest Spearman a perfect listener can expect on ``order`` (nan under 2 modules)."""
    if len(order) < 2:
        return math.nan
    members = equivalent_orders(order)
    truths = members if len(members) <= MAX_CLASS else [members[i] for i in rng.choice(len(members), MAX_CLASS, replace=False)]
    answers = members if len(members) <= MAX_ANSWERS else [members[i] for i in rng.choice(len(members), MAX_ANSWERS, replace=False)]
    return max(float(np.mean([_spearman(a, t) for t in truths])) for a in answers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-length", type=int, default=100, help="chains of each length 1-9 (the benchmark has 100)")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rows = {n: [best_expected_spearman(tuple(sample_modules(n, rng)), rng) for _ in range(args.per_length)]
            for n in range(2, 10)}
    print("| chain length | ceiling of order Spearman | chains |\n|---|---|---|")
    for n, values in rows.items():
        print(f"| {n} | {np.mean(values):.2f} | {len(values)} |")
    every = [v for values in rows.values() for v in values]
    print(f"| 2-9 (the benchmark's mean) | {np.mean(every):.2f} | {len(every)} |")


if __name__ == "__main__":
    main()
