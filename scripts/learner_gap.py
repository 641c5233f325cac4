"""Why the mini planner stays below the AnalysisPlanner: the learner, not only its features.

Usage (the figures in the mini's model card; about 6 min on 2 cores)::

    python scripts/learner_gap.py --cache /tmp/afx-cache/t10k --rows 2000 4000 7996
    python scripts/learner_gap.py --cache /tmp/afx-cache/t10k --rows 7996 --networks 5

The AnalysisPlanner decides module presence with gradient-boosted trees on 129 measured pair
features (``scripts/train_analysis_planner.py``, whose feature cache this reads). The mini
decides it with neural networks on its audio tokens, and its chain probe (a head on those
tokens) reaches about 74 % presence accuracy. This script asks how much of that gap a neural
network keeps when it is given the *trees' own features*: on the same rows and the same
held-out rows (every fifth MIDI piece, as ``train_analysis_planner.py`` holds out), it fits

- **trees**: one ``HistGradientBoostingClassifier`` per module with the shipped presence
  settings (16 leaves, 250 rounds, learning rate 0.05);
- **mlp**: one network for all nine modules (quantile-normal inputs plus a flag per feature
  that can be missing, 2 hidden layers of 256 GELU units, dropout 0.3, AdamW 1e-3, weight decay
  1e-2, batch 64), stopped at the epoch with the best accuracy on a tenth of the fit rows
  (whole MIDI pieces) kept apart for that,

on the first ``N`` fit rows for each ``--rows`` value (``--networks K`` averages the
probabilities of K such networks, seeds ``--seed`` onwards), and prints the module accuracy of each
on the held-out rows (chain lengths weighted uniformly, as the benchmark has as many chains of
each length). Both see the same numbers; only the learner differs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.preprocessing import QuantileTransformer

SCRIPTS = Path(__file__).resolve().parent
if str(SCRIPTS) not in sys.path:  # train_analysis_planner.py, beside this script
    sys.path.insert(0, str(SCRIPTS))
HIDDEN = 256
DROPOUT = 0.3
BATCH = 64
#: The shipped presence trees' settings (train_analysis_planner.py's usage line: --presence-leaves
#: 16 --presence-iterations 250 --presence-learning-rate 0.05).
SHIPPED_PRESENCE_TREES = {"leaves": 16, "iterations": 250, "learning_rate": 0.05}


def weighted_accuracy(probabilities: np.ndarray, presence: np.ndarray, weight: np.ndarray) -> float:
    """Module accuracy (the nine presences right, averaged), rows weighted by ``weight``."""
    per_row = ((probabilities >= 0.5) == presence.astype(bool)).mean(axis=1)
    return float(np.sum(per_row * weight) / np.sum(weight))


def fit_trees(x: np.ndarray, presence: np.ndarray, weight: np.ndarray, x_eval: np.ndarray, seed: int) -> np.ndarray:
    """Presence probabilities on ``x_eval`` from one tree ensemble per module (shipped settings)."""
    from train_analysis_planner import tree_classifier

    out = np.zeros((len(x_eval), presence.shape[1]))
    for j in range(presence.shape[1]):
        clf = tree_classifier(len(x), seed, **SHIPPED_PRESENCE_TREES)
        clf.fit(x, presence[:, j], sample_weight=weight)
        out[:, j] = clf.predict_proba(x_eval)[:, 1]
    return out


def _inputs(transform, missing_columns: np.ndarray, x: np.ndarray) -> np.ndarray:
    q = np.nan_to_num(transform.transform(x), nan=0.0)
    return np.concatenate([q, np.isnan(x[:, missing_columns]).astype(float)], axis=1).astype(np.float32)


def fit_mlp(x: np.ndarray, presence: np.ndarray, weight: np.ndarray, groups: np.ndarray, x_eval: np.ndarray,
            epochs: int, seed: int) -> tuple[np.ndarray, int]:
    """(presence probabilities on ``x_eval``, the epoch chosen) from one network for all modules.

    A tenth of the fit rows' groups is kept apart to choose the epoch (never the evaluation rows).
    """
    import torch
    rng = np.random.default_rng(seed)
    unique = np.unique(groups)
    stop_groups = rng.choice(unique, size=max(1, len(unique) // 10), replace=False)
    stop = np.isin(groups, stop_groups)
    train = ~stop
    transform = QuantileTransformer(n_quantiles=min(200, int(train.sum())), output_distribution="normal",
                                    random_state=seed).fit(x[train])
    missing = np.isnan(x[train]).any(axis=0)
    xt = torch.from_numpy(_inputs(transform, missing, x[train]))
    yt = torch.from_numpy(presence[train].astype(np.float32))
    wt = torch.from_numpy(weight[train].astype(np.float32))
    xs, xe = (torch.from_numpy(_inputs(transform, missing, a)) for a in (x[stop], x_eval))
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(xt.shape[1], HIDDEN), torch.nn.GELU(), torch.nn.Dropout(DROPOUT),
                              torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.GELU(), torch.nn.Dropout(DROPOUT),
                              torch.nn.Linear(HIDDEN, presence.shape[1]))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    best, best_epoch, best_probs = -1.0, 0, None
    for epoch in range(1, epochs + 1):
        net.train()
        order = torch.randperm(len(xt))
        for start in range(0, len(xt), BATCH):
            i = order[start:start + BATCH]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xt[i]), yt[i], reduction="none")
            loss = (loss.mean(dim=1) * wt[i]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            score = weighted_accuracy(torch.sigmoid(net(xs)).numpy(), presence[stop], weight[stop])
            if score > best:
                best, best_epoch = score, epoch
                best_probs = torch.sigmoid(net(xe)).numpy()
    return best_probs, best_epoch


def main(argv: list[str] | None = None) -> int:
    from train_analysis_planner import HOLD_OUT_EVERY, SEGMENTS_PER_UNIT, load_cache, targets

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, required=True,
                   help="a feature cache folder of scripts/train_analysis_planner.py (train-*.npz)")
    p.add_argument("--rows", type=int, nargs="+", default=[2000, 4000],
                   help="fit rows to use (the first N of those not held out), one score each")
    p.add_argument("--epochs", type=int, default=60, help="most MLP epochs (the best on its stop rows is kept)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--networks", type=int, default=1,
                   help="average this many MLPs (seeds SEED, SEED+1, ...) into one ensemble")
    args = p.parse_args(argv)
    if not sorted(args.cache.glob("train-*.npz")):
        p.error(f"{args.cache} holds no train-*.npz feature cache; make one with "
                "scripts/train_analysis_planner.py --data DATA --cache CACHE")
    if min(args.rows) < 50 or args.epochs < 1 or args.networks < 1:
        p.error(f"--rows must each be >= 50 (got {args.rows}), --epochs >= 1 (got {args.epochs}) "
                f"and --networks >= 1 (got {args.networks})")
    d = load_cache(args.cache, 10 ** 9)  # every cached row
    x = d["x"].astype(np.float64)
    x[np.isinf(x)] = np.nan
    presence, _, _ = targets(d["chain"])
    lengths = presence.sum(axis=1)
    weight = 1.0 / np.bincount(lengths, minlength=10)[lengths]
    weight *= len(weight) / weight.sum()
    groups = d["index"] // SEGMENTS_PER_UNIT
    held = groups % HOLD_OUT_EVERY == 0
    fit_rows = np.flatnonzero(~held)
    if max(args.rows) > len(fit_rows):
        p.error(f"--rows {max(args.rows)} is more than the {len(fit_rows)} fit rows of this cache "
                f"({len(x)} rows, {int(held.sum())} held out)")
    print(f"{len(x)} cached pairs, {x.shape[1]} features, {int(held.sum())} held out (every "
          f"{HOLD_OUT_EVERY}th MIDI piece)")
    print(f"| fit rows | trees | mlp{f' (mean of {args.networks})' if args.networks > 1 else ''} | mlp epoch |")
    print("|---|---|---|---|")
    for n in args.rows:
        t0 = time.time()
        rows = fit_rows[:n]
        trees = fit_trees(x[rows], presence[rows], weight[rows], x[held], args.seed)
        fits = [fit_mlp(x[rows], presence[rows], weight[rows], groups[rows], x[held], args.epochs, args.seed + k)
                for k in range(args.networks)]
        mlp = np.mean([probabilities for probabilities, _ in fits], axis=0)
        epochs = "/".join(str(epoch) for _, epoch in fits)
        print(f"| {n} | {weighted_accuracy(trees, presence[held], weight[held]) * 100:.1f}% "
              f"| {weighted_accuracy(mlp, presence[held], weight[held]) * 100:.1f}% | {epochs} |", flush=True)
        print(f"  ({time.time() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
