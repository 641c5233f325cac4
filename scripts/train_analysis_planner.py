"""Train the AnalysisPlanner's presence trees on generated pairs and dump them as JSON.

Usage::

    python scripts/train_analysis_planner.py --per-length 40 --out llm2fx_lab/planners/models/presence.json

Pairs are made like the LP-Fx-style test split (General MIDI dry segments, chains sampled
as the reference does, the MR-STFT similarity filter) but from the *train* split of the
dry sources, so test material is never seen. For each of the 9 modules a scikit-learn
``HistGradientBoostingClassifier`` predicts presence from
:meth:`~llm2fx_lab.planners.pair_features.PairFeatures.vector`; the trees are written as
plain JSON (:func:`llm2fx_lab.planners.trees.dump_hgb`) and evaluated at run time with
NumPy only (no pickle, no scikit-learn needed).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def features_table(per_length: int, seed: int, cache: Path | None):
    from llm2fx_lab.fx.spec import MODULE_NAMES
    from llm2fx_lab.planners.bench import make_test_pairs
    from llm2fx_lab.planners.pair_features import pair_features

    if cache is not None and cache.exists():
        data = np.load(cache)
        return data["x"], data["y"]
    pairs = make_test_pairs(per_length, seed=seed, split="train")
    xs, ys = [], []
    for p in pairs:
        f = pair_features(p["dry"], p["reference_audio"], p["sample_rate"])
        xs.append(f.vector())
        ys.append([m in p["reference"].names for m in MODULE_NAMES])
    x, y = np.asarray(xs), np.asarray(ys, dtype=np.int8)
    if cache is not None:
        np.savez(cache, x=x, y=y)
    return x, y


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-length", type=int, default=40)
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--cache", type=Path, nargs="+", default=None,
                        help="npz files of features (each reused if it exists, else made with seed+index)")
    parser.add_argument("--out", type=Path, default=Path("llm2fx_lab/planners/models/presence.json"))
    parser.add_argument("--max-iter", type=int, default=80)
    args = parser.parse_args(argv)

    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score

    from llm2fx_lab.fx.spec import MODULE_NAMES
    from llm2fx_lab.planners.pair_features import PairFeatures
    from llm2fx_lab.planners.trees import dump_hgb

    t0 = time.time()
    from llm2fx_lab.planners.estimators import DERIVED_NAMES, derived_features

    parts = [features_table(args.per_length, args.seed + k, c) for k, c in enumerate(args.cache or [None])]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    derived = np.stack([derived_features(PairFeatures.from_vector(v), 44100.0)[0] for v in x])
    x = np.concatenate([x, derived], axis=1)
    print(f"{len(x)} pairs, {x.shape[1]} features ({time.time() - t0:.0f} s)")
    models = {}
    for j, name in enumerate(MODULE_NAMES):
        # small, strongly regularised trees: a few hundred pairs, ~100 features
        clf = HistGradientBoostingClassifier(max_iter=args.max_iter, learning_rate=0.05, max_leaf_nodes=7,
                                             min_samples_leaf=20, l2_regularization=1.0, random_state=0)
        cv = cross_val_score(clf, x, y[:, j], cv=4).mean()
        clf.fit(x, y[:, j])
        models[name] = dump_hgb(clf)
        print(f"{name:15s} prevalence {y[:, j].mean():.2f}  4-fold CV accuracy {cv:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"features": PairFeatures.vector_names() + list(DERIVED_NAMES), "n_train": int(len(x)),
                                    "seed": args.seed, "models": models}))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
