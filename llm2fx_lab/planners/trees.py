"""Gradient-boosted trees as plain JSON, evaluated with NumPy (no pickle, no scikit-learn).

:func:`dump_hgb` turns a fitted scikit-learn ``HistGradientBoostingClassifier`` (binary)
into a dict of arrays; :class:`TreeModel` evaluates it. Written by
``scripts/train_analysis_planner.py`` into ``llm2fx_lab/planners/models/``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent / "models"


def dump_hgb(clf: Any) -> dict[str, Any]:
    """A binary ``HistGradientBoostingClassifier`` as JSON-ready lists (one entry per tree)."""
    trees = []
    for (predictor,) in clf._predictors:
        nodes = predictor.nodes
        trees.append({
            "feature": nodes["feature_idx"].astype(int).tolist(),
            "threshold": nodes["num_threshold"].astype(float).tolist(),  # exact: ties decide sides
            "left": nodes["left"].astype(int).tolist(),
            "right": nodes["right"].astype(int).tolist(),
            "leaf": nodes["is_leaf"].astype(int).tolist(),
            "value": [round(float(v), 6) for v in nodes["value"]],
            "missing_left": nodes["missing_go_to_left"].astype(int).tolist(),
        })
    return {"baseline": float(np.ravel(clf._baseline_prediction)[0]), "trees": trees}


class TreeModel:
    """Evaluate a dumped binary tree ensemble: :meth:`probability` of the positive class."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.baseline = float(data["baseline"])
        self.trees = [{k: np.asarray(v) for k, v in t.items()} for t in data["trees"]]

    def raw(self, x: np.ndarray) -> float:
        total = self.baseline
        for t in self.trees:
            i = 0
            while not t["leaf"][i]:
                v = x[t["feature"][i]]
                go_left = bool(t["missing_left"][i]) if np.isnan(v) else v <= t["threshold"][i]
                i = t["left"][i] if go_left else t["right"][i]
            total += t["value"][i]
        return total

    def probability(self, x: np.ndarray) -> float:
        return float(1.0 / (1.0 + np.exp(-self.raw(np.asarray(x, dtype=np.float64)))))


@lru_cache(maxsize=4)
def load_presence_models(path: str | None = None) -> dict[str, TreeModel] | None:
    """The presence trees per module, or None when no model file is shipped."""
    p = Path(path) if path else MODELS_DIR / "presence.json"
    if not p.exists():
        return None
    data = json.loads(p.read_text())
    return {name: TreeModel(m) for name, m in data["models"].items()}
