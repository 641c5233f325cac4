"""Train the AnalysisPlanner's learned models on a generated dataset and dump them as JSON.

Usage (how the shipped models were made: 10,000 rows, about 16 min of generation, 22 min of
measuring and 13 min of training on 2 cores of an AMD EPYC)::

    llm2fx data generate data/t10k --n 10000 --splits train --seed 2027
    python scripts/train_analysis_planner.py --data data/t10k --n-rows 10000 --cache /tmp/afx-cache \
        --refit --presence-leaves 16 --presence-iterations 250 --presence-learning-rate 0.05

1. **features**: for the first ``--n-rows`` rows of each dataset's *train* split (never its
   test split) the pair is measured (:func:`~llm2fx_lab.planners.analysis_planner.pair_features.pair_features`,
   :func:`~llm2fx_lab.planners.analysis_planner.estimators.model_features`) and the closed-form estimates of
   :func:`~llm2fx_lab.planners.analysis_planner.closed_forms` are kept beside it; chunks of 50 rows
   are cached as ``.npz`` in ``--cache``/<dataset folder name> (a rerun extracts only what is
   missing), on ``--workers`` processes.
   Blind rows still store their dry clip, which is used.
2. **split**: in each dataset, every fifth group of ``segments_per_unit`` consecutive rows
   (they share a MIDI piece) is held out, so held-out scores are on unseen music. Datasets
   generated with different seeds draw different pieces.
3. **models** (scikit-learn histogram gradient boosting, seeded), each scored on the held-out
   rows (and refitted on all rows with ``--refit``) and dumped with
   :func:`llm2fx_lab.planners.analysis_planner.trees.dump_hgb`:

   - ``presence.json``: one classifier per module; then a second stage (``"stack"``), one
     logistic regression per module over all nine trees' probabilities (their logits and sum,
     :func:`~llm2fx_lab.planners.analysis_planner.trees.stack_inputs`), fitted on out-of-fold probabilities
     (3 folds by MIDI piece); kept only where it raises the mean held-out accuracy;
   - ``params.json``: one regressor per parameter (min-max normalised value, absolute error
     loss since the metric is the MAE), trained on the rows whose chain has the module; a
     regressor is *used* only where its held-out MAE beats the closed form's by ``--margin``;
   - ``order.json``: one classifier per module pair, "a before b", trained on the rows
     whose chain has both; *used* only where held-out accuracy reaches ``--min-order-accuracy``
     with a log-loss below chance, and never for pairs that commute exactly (the generator's
     module order is random, so pairs whose order is inaudible stay at 0.5).

Chain lengths are weighted to a uniform distribution (the train split follows the official
``10000 // n`` proportions; the benchmark has as many chains of each length).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from tqdm import tqdm

from llm2fx_lab.analysis.metrics import normalize_linear
from llm2fx_lab.data.generate import decode_audio
from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.fx.spec import MODULE_NAMES
from llm2fx_lab.fx.spec import module as module_spec
from llm2fx_lab.planners.analysis_planner import closed_forms, commutes
from llm2fx_lab.planners.analysis_planner.estimators import model_feature_names, model_features
from llm2fx_lab.planners.analysis_planner.pair_features import pair_features
from llm2fx_lab.planners.analysis_planner.trees import dump_hgb, stack_inputs

CHUNK = 50
HOLD_OUT_EVERY = 5
SEGMENTS_PER_UNIT = 6


def _param_keys() -> list[tuple[str, str]]:
    return [(m, p) for m in MODULE_NAMES for p in module_spec(m).param_names]


def row_arrays(dry: np.ndarray, wet: np.ndarray, sample_rate: float, features=None) -> dict[str, np.ndarray]:
    """Model features, normalised closed-form parameters (nan where none) and rule presence of one pair."""
    f = features if features is not None else pair_features(dry, wet, sample_rate)
    x, fits = model_features(f, sample_rate)
    est, rule, shaped, _ = closed_forms(f, sample_rate, fits)
    closed = [normalize_linear(m, p, est[m][p]) if p in est.get(m, {}) else np.nan for m, p in _param_keys()]
    return {"x": x, "closed": np.asarray(closed), "rule": np.asarray([rule.get(m, False) for m in MODULE_NAMES]),
            "shaped": np.asarray(shaped), "coherence": np.asarray(f.coherence)}


def save_chunk(path: Path, rows: list[dict]) -> None:
    arrays = {k: np.stack([r[k] for r in rows]) for k in ("x", "closed", "rule", "shaped", "coherence", "index")}
    arrays["chain"] = np.asarray([r["chain"] for r in rows])
    np.savez(path, **arrays)


def _measure_chunk(path: Path, rows: list[dict]) -> Path:
    """Measure one chunk of dataset rows and save it (runs in a worker process)."""
    out = []
    for row in rows:
        dry, wet, sr = decode_audio(row)
        out.append(row_arrays(dry, wet, float(sr)) | {"index": np.asarray(row["index"]), "chain": row["chain"]})
    save_chunk(path, out)
    return path


def extract(data: Path, n_rows: int, cache: Path, workers: int = 1) -> None:
    """Measure the first ``n_rows`` train rows into ``cache`` (chunks already there are kept),
    ``workers`` chunks at a time."""
    cache.mkdir(parents=True, exist_ok=True)
    have = {int(p.stem.split("-")[1]) for p in cache.glob("train-*.npz")}
    bar = tqdm(total=n_rows, desc="pair features")
    pending: set = set()

    def chunks():
        seen, rows = 0, []
        for path in sorted(data.glob("train-*.parquet")):
            for batch in pq.ParquetFile(str(path)).iter_batches(batch_size=CHUNK):
                index = batch.column("index").to_pylist()
                if seen + len(index) <= n_rows and all(i // CHUNK in have for i in index):
                    seen += len(index)  # cached: skip without decoding the audio columns
                    bar.update(len(index))
                    continue
                for row in batch.to_pylist():
                    if seen >= n_rows:
                        break
                    seen += 1
                    if row["index"] // CHUNK in have:
                        bar.update()
                        continue
                    rows.append(row)
                    if len(rows) == CHUNK or seen == n_rows:
                        yield rows
                        rows = []
        if rows:
            yield rows

    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for rows in chunks():
            while len(pending) >= max(1, workers):
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    f.result()
                pending -= done
            path = cache / f"train-{rows[0]['index'] // CHUNK:05d}.npz"
            future = pool.submit(_measure_chunk, path, rows)
            future.add_done_callback(lambda f, n=len(rows): bar.update(n))
            pending.add(future)
        for f in pending:
            f.result()
    bar.close()


def load_cache(cache: Path, n_rows: int) -> dict[str, np.ndarray]:
    parts = [dict(np.load(p)) for p in sorted(cache.glob("train-*.npz"))]
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    keep = np.argsort(data["index"])[:n_rows]
    return {k: v[keep] for k, v in data.items()}


def targets(chains: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """(presence (n, 9), normalised true parameters (n, 26), nan where the module is absent; names)."""
    keys = _param_keys()
    presence = np.zeros((len(chains), len(MODULE_NAMES)), dtype=np.int8)
    params = np.full((len(chains), len(keys)), np.nan)
    names = []
    for i, text in enumerate(chains):
        chain = Chain.from_tool_calls(json.loads(str(text)))
        names.append(list(chain.names))
        for j, m in enumerate(MODULE_NAMES):
            presence[i, j] = m in chain.names
        for j, (m, p) in enumerate(keys):
            if m in chain.names:
                params[i, j] = normalize_linear(m, p, chain[m][p])
    return presence, params, names


def tree_classifier(n: int, seed: int, leaves: int = 8, iterations: int = 100, learning_rate: float = 0.08):
    """The gradient-boosted classifier every tree model here uses, for ``n`` training rows
    (``scripts/learner_gap.py`` fits the presence ones with the same settings)."""
    return HistGradientBoostingClassifier(max_iter=iterations, learning_rate=learning_rate, max_leaf_nodes=leaves,
                                          min_samples_leaf=max(10, n // 100), l2_regularization=1.0,
                                          random_state=seed)


def _round_thresholds(dump: dict) -> dict:
    # 9 significant digits: thresholds are midpoints between bin edges, far from any tie
    for t in dump["trees"]:
        t["threshold"] = [float(f"{v:.9g}") for v in t["threshold"]]
    return dump


def out_of_fold(x: np.ndarray, y: np.ndarray, weight: np.ndarray, groups: np.ndarray, classifier,
                folds: int = 3) -> np.ndarray:
    """Probabilities of presence ``y`` (n, modules) for each row from classifiers that did not see
    its group (MIDI piece); a fold whose training rows hold one class predicts that class's rate."""
    out = np.zeros(y.shape, dtype=float)
    n_folds = min(folds, len(np.unique(groups)))
    if n_folds < 2:
        raise ValueError(f"out-of-fold probabilities need at least 2 groups, got {len(np.unique(groups))}")
    for tr, te in GroupKFold(n_folds).split(x, groups=groups):
        for j in range(y.shape[1]):
            if len(np.unique(y[tr, j])) < 2:
                out[te, j] = float(y[tr, j].mean())
            else:
                out[te, j] = classifier(len(tr)).fit(x[tr], y[tr, j], sample_weight=weight[tr]).predict_proba(x[te])[:, 1]
    return out


def presence_stack(x, presence, weight, groups, fit, held, held_probs, trees_only: float, classifier, wacc,
                   refit: bool) -> tuple[dict | None, list[float]]:
    """The second presence stage: per module a logistic regression over
    :func:`~llm2fx_lab.planners.analysis_planner.trees.stack_inputs` of out-of-fold first-stage probabilities.

    Scored on the held-out rows (with the first-stage probabilities of trees fitted on ``fit``)
    against ``trees_only``, the trees' own mean held-out accuracy.
    Returns ``(the stack as JSON-ready dict, or None when it does not raise the mean held-out
    accuracy over the trees alone; per-module held-out accuracies)``."""
    def fit_stack(rows: np.ndarray) -> list:
        inputs = stack_inputs(out_of_fold(x[rows], presence[rows], weight[rows], groups[rows], classifier))
        return [LogisticRegression(C=1.0, max_iter=2000).fit(inputs, presence[rows, j], sample_weight=weight[rows])
                if len(np.unique(presence[rows, j])) == 2 else None for j in range(len(MODULE_NAMES))]

    models = fit_stack(fit)
    held_inputs = stack_inputs(held_probs)
    acc = [wacc(m.predict_proba(held_inputs)[:, 1] if m is not None else held_probs[:, j], presence[held, j],
                weight[held]) for j, m in enumerate(models)]
    if np.mean(acc) <= trees_only or any(m is None for m in models):
        return None, acc
    if refit:
        models = fit_stack(np.ones(len(x), dtype=bool))
    return {"modules": list(MODULE_NAMES), "inputs": "logits of the nine presence probabilities, then their sum",
            "coef": [[round(float(c), 6) for c in m.coef_[0]] for m in models],
            "intercept": [round(float(m.intercept_[0]), 6) for m in models]}, acc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", required=True,
                        help="generated dataset folders (their train splits are used)")
    parser.add_argument("--n-rows", type=int, nargs="+", default=[2500],
                        help="rows to use from each dataset (one number for all, or one per dataset)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/afx-cache"))
    parser.add_argument("--out-dir", type=Path, default=Path("llm2fx_lab/planners/models"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--margin", type=float, default=0.005,
                        help="a regressor is used when its held-out MAE is this much below the closed form's")
    parser.add_argument("--min-order-accuracy", type=float, default=0.6)
    # presence only: on 10,000 rows larger presence trees gained 0.8 points of held-out accuracy,
    # while the same setting made the pairwise order trees (about 1,750 rows each) overfit
    parser.add_argument("--presence-leaves", type=int, default=8, help="presence trees' largest number of leaves")
    parser.add_argument("--presence-iterations", type=int, default=100, help="presence trees' boosting rounds")
    parser.add_argument("--presence-learning-rate", type=float, default=0.08, help="presence trees' learning rate")
    parser.add_argument("--skip-extract", action="store_true", help="train on the cache as it is")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes measuring pairs")
    parser.add_argument("--refit", action="store_true",
                        help="refit the shipped models on all rows (held-out ones included) after scoring")
    args = parser.parse_args(argv)
    # checked before the (long) measuring, not when the first tree is fitted
    if args.presence_leaves < 2 or args.presence_iterations < 1 or not 0 < args.presence_learning_rate <= 1:
        parser.error(f"presence trees need --presence-leaves >= 2 (got {args.presence_leaves}), --presence-iterations "
                     f">= 1 (got {args.presence_iterations}) and 0 < --presence-learning-rate <= 1 "
                     f"(got {args.presence_learning_rate})")

    t0 = time.time()
    n_rows = args.n_rows * len(args.data) if len(args.n_rows) == 1 else args.n_rows
    if len(n_rows) != len(args.data):
        parser.error(f"--n-rows takes one number or one per dataset ({len(args.data)}), got {len(args.n_rows)}")
    dataset_names = [p.resolve().name for p in args.data]
    if len(set(dataset_names)) != len(dataset_names):
        parser.error(f"dataset folders need distinct names (their caches are --cache/<name>): {dataset_names}")
    parts = []
    for data, n, name in zip(args.data, n_rows, dataset_names):
        if not args.skip_extract:
            extract(data, n, args.cache / name, args.workers)
        parts.append(load_cache(args.cache / name, n))
    d = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    x = d["x"]
    presence, params, names = targets(d["chain"])
    lengths = presence.sum(axis=1)
    counts = np.bincount(lengths, minlength=10)
    weight = 1.0 / counts[lengths]
    weight *= len(weight) / weight.sum()
    held = (d["index"] // SEGMENTS_PER_UNIT) % HOLD_OUT_EVERY == 0
    fit = ~held
    print(f"{len(x)} pairs ({held.sum()} held out), {x.shape[1]} features, lengths {counts[1:].tolist()} "
          f"({time.time() - t0:.0f} s)")
    feature_names = model_feature_names()
    assert x.shape[1] == len(feature_names), "feature cache is stale: delete --cache"

    def classifier(n: int, leaves: int = 8, iterations: int = 100, learning_rate: float = 0.08):
        return tree_classifier(n, args.seed, leaves, iterations, learning_rate)

    def presence_classifier(n: int):
        return classifier(n, args.presence_leaves, args.presence_iterations, args.presence_learning_rate)

    def regressor(n: int):
        return HistGradientBoostingRegressor(loss="absolute_error", max_iter=80, learning_rate=0.1,
                                             max_leaf_nodes=8, min_samples_leaf=max(10, n // 100),
                                             l2_regularization=1.0, random_state=args.seed)

    def wacc(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
        return float(np.sum(w * ((p >= 0.5) == y)) / np.sum(w))

    # --- presence ---------------------------------------------------------------------------
    presence_models, presence_scores = {}, {}
    tree_acc, rule_acc, presence_probs = [], [], {}
    for j, m in enumerate(tqdm(MODULE_NAMES, desc="presence")):
        y = presence[:, j]
        clf = presence_classifier(int(fit.sum())).fit(x[fit], y[fit], sample_weight=weight[fit])
        presence_probs[m] = clf.predict_proba(x[held])[:, 1]
        acc = wacc(presence_probs[m], y[held], weight[held])
        racc = wacc(d["rule"][held, j].astype(float), y[held], weight[held]) if m != "gain" else float("nan")
        tree_acc.append(acc)
        rule_acc.append(racc)
        presence_scores[m] = {"accuracy": round(acc, 4), "rule_accuracy": round(racc, 4) if m != "gain" else None}
        if args.refit:
            clf = presence_classifier(len(x)).fit(x, y, sample_weight=weight)
        presence_models[m] = _round_thresholds(dump_hgb(clf))
        tqdm.write(f"presence {m:15s} prevalence {np.average(y, weights=weight):.2f}  held-out accuracy "
                   f"trees {acc:.3f}, rules {racc:.3f}")
    print(f"presence: mean held-out accuracy (lengths weighted uniformly) trees {np.mean(tree_acc):.3f}")
    unit = d["index"] // SEGMENTS_PER_UNIT + np.repeat(np.arange(len(parts)), [len(p["index"]) for p in parts]) * 10**9
    stack, stack_acc = presence_stack(x, presence, weight, unit, fit, held,
                                      np.stack([presence_probs[m] for m in MODULE_NAMES], axis=1),
                                      float(np.mean(tree_acc)), presence_classifier, wacc, args.refit)
    for j, m in enumerate(MODULE_NAMES):
        presence_scores[m]["stacked_accuracy"] = round(stack_acc[j], 4)
    print(f"presence, second stage: mean held-out accuracy {np.mean(stack_acc):.3f} "
          f"({'kept' if stack else 'not kept'})")
    # the planner trusts the measurement rules on coherent (nearly linear) pairs: is that still right?
    coherent = d["coherence"][held] >= 0.9
    hybrid = []
    for j, m in enumerate(MODULE_NAMES):
        y = presence[held, j]
        p = presence_probs[m].copy()
        if m != "gain":
            p[coherent] = d["rule"][held, j][coherent]
        hybrid.append(wacc(p, y, weight[held]))
    print(f"presence with rules on the {coherent.sum()} coherent held-out pairs: {np.mean(hybrid):.3f}")

    # --- parameters -------------------------------------------------------------------------
    param_models, param_scores, use = {}, {}, []
    keys = _param_keys()
    for j, (m, p) in enumerate(tqdm(keys, desc="parameters")):
        rows = ~np.isnan(params[:, j])
        tr, te = rows & fit, rows & held
        if tr.sum() < 40 or te.sum() < 10:
            continue
        reg = regressor(int(tr.sum())).fit(x[tr], params[tr, j], sample_weight=weight[tr])
        tree_mae = float(np.average(np.abs(np.clip(reg.predict(x[te]), 0, 1) - params[te, j]), weights=weight[te]))
        closed = d["closed"][te, j]
        closed_mae = (float(np.average(np.abs(closed - params[te, j]), weights=weight[te]))
                      if np.all(np.isfinite(closed)) else float("nan"))
        key = f"{m}.{p}"
        param_scores[key] = {"tree_mae": round(tree_mae, 4),
                             "closed_mae": round(closed_mae, 4) if np.isfinite(closed_mae) else None,
                             "n": int(rows.sum())}
        wins = not np.isfinite(closed_mae) or tree_mae < closed_mae - args.margin
        if m == "gain":
            wins = False  # gain is closed by rendering the other modules (not measurable offline)
        if wins:
            use.append(key)
            if args.refit:
                reg = regressor(int(rows.sum())).fit(x[rows], params[rows, j], sample_weight=weight[rows])
            param_models[key] = _round_thresholds(dump_hgb(reg))
        tqdm.write(f"param {key:30s} n {rows.sum():5d}  held-out MAE trees {tree_mae:.3f}, closed form "
                   f"{closed_mae:.3f} -> {'trees' if wins else 'closed form'}")

    # --- order ------------------------------------------------------------------------------
    order_models, order_scores, order_use = {}, {}, []
    for a, b in tqdm(list(combinations(MODULE_NAMES, 2)), desc="order"):
        both = np.asarray([a in n and b in n for n in names])
        y = np.asarray([n.index(a) < n.index(b) if a in n and b in n else False for n in names], dtype=np.int8)
        tr, te = both & fit, both & held
        if tr.sum() < 40 or te.sum() < 15:
            continue
        clf = classifier(int(tr.sum())).fit(x[tr], y[tr], sample_weight=weight[tr])
        p_te = np.clip(clf.predict_proba(x[te])[:, 1], 1e-3, 1 - 1e-3)
        acc = wacc(p_te, y[te], weight[te])
        ll = float(-np.average(y[te] * np.log(p_te) + (1 - y[te]) * np.log(1 - p_te), weights=weight[te]))
        key = f"{a}|{b}"
        order_scores[key] = {"accuracy": round(acc, 4), "log_loss": round(ll, 4), "n": int(both.sum())}
        if acc >= args.min_order_accuracy and ll < np.log(2) and not commutes(a, b):
            order_use.append(key)
            if args.refit:
                clf = classifier(int(both.sum())).fit(x[both], y[both], sample_weight=weight[both])
            order_models[key] = _round_thresholds(dump_hgb(clf))
        tqdm.write(f"order {a:>14s} before {b:14s} n {both.sum():4d}  held-out accuracy {acc:.3f}, "
                   f"log-loss {ll:.3f} (chance 0.693){' -> used' if key in order_use else ''}")

    meta = {"features": feature_names, "n_train": int(len(x)), "n_held_out": int(held.sum()), "seed": args.seed,
            "data": [f"{name} ({n} train rows)" for name, n in zip(dataset_names, n_rows)],
            "presence_trees": {"max_leaf_nodes": args.presence_leaves, "max_iter": args.presence_iterations,
                               "learning_rate": args.presence_learning_rate}}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, body in (("presence", {"scores": presence_scores, "models": presence_models, "stack": stack}),
                       ("params", {"use": use, "scores": param_scores, "models": param_models}),
                       ("order", {"use": order_use, "scores": order_scores, "models": order_models})):
        path = args.out_dir / f"{name}.json"
        path.write_text(json.dumps(meta | body, separators=(",", ":")))
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
