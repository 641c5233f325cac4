"""Gradient-boosted trees as plain JSON, evaluated with NumPy (no pickle, no scikit-learn).

:func:`dump_hgb` turns a fitted scikit-learn ``HistGradientBoostingClassifier`` (binary) or
``HistGradientBoostingRegressor`` into a dict of arrays; :class:`TreeModel` evaluates it
(:meth:`~TreeModel.probability` for a classifier, :meth:`~TreeModel.predict` for a
regressor). Written by ``scripts/train_analysis_planner.py`` into ``llm2fx_lab/planners/models/``:

- ``presence.json``: one classifier per module (is the module in the chain?), and optionally
  a second stage, ``"stack"`` (:class:`PresenceStack`), that weighs the nine together;
- ``params.json``: one regressor per parameter (its min-max normalised value), used only
  where it beat the closed form on held-out pairs (``"use"`` lists them, with both MAEs);
- ``order.json``: one classifier per module pair (does the first come before the second?),
  used only for pairs whose held-out accuracy showed their order is audible.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def dump_hgb(model: Any, digits: int = 6) -> dict[str, Any]:
    """A binary ``HistGradientBoostingClassifier`` or a ``HistGradientBoostingRegressor`` as
    JSON-ready lists (one entry per tree); leaf values rounded to ``digits`` decimals."""
    trees = []
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        trees.append({
            "feature": nodes["feature_idx"].astype(int).tolist(),
            "threshold": nodes["num_threshold"].astype(float).tolist(),  # exact: ties decide sides
            "left": nodes["left"].astype(int).tolist(),
            "right": nodes["right"].astype(int).tolist(),
            "leaf": nodes["is_leaf"].astype(int).tolist(),
            "value": [round(float(v), digits) for v in nodes["value"]],
            "missing_left": nodes["missing_go_to_left"].astype(int).tolist(),
        })
    return {"baseline": float(np.ravel(model._baseline_prediction)[0]), "trees": trees}


class TreeModel:
    """Evaluate a dumped tree ensemble (see :func:`dump_hgb`)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.baseline = float(data["baseline"])
        self.trees = [{k: np.asarray(v).tolist() for k, v in t.items()} for t in data["trees"]]

    def raw(self, x: np.ndarray) -> float:
        """Sum of the baseline and the trees' leaf values (log-odds for a classifier)."""
        total = self.baseline
        values = [float(v) for v in np.asarray(x, dtype=np.float64)]
        for t in self.trees:
            feature, threshold, left, right, leaf = t["feature"], t["threshold"], t["left"], t["right"], t["leaf"]
            i = 0
            while not leaf[i]:
                v = values[feature[i]]
                go_left = bool(t["missing_left"][i]) if v != v else v <= threshold[i]
                i = left[i] if go_left else right[i]
            total += t["value"][i]
        return total

    def probability(self, x: np.ndarray) -> float:
        """Probability of the positive class (a dumped classifier)."""
        return float(1.0 / (1.0 + np.exp(-self.raw(x))))

    def predict(self, x: np.ndarray) -> float:
        """The regression value (a dumped regressor)."""
        return float(self.raw(x))


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


@lru_cache(maxsize=4)
def load_presence_models(path: str | None = None) -> dict[str, TreeModel] | None:
    """The presence trees per module, or None when no model file is shipped."""
    data = _load(Path(path) if path else MODELS_DIR / "presence.json")
    if data is None:
        return None
    return {name: TreeModel(m) for name, m in data["models"].items()}


def stack_inputs(probabilities: np.ndarray) -> np.ndarray:
    """The second presence stage's inputs from first-stage probabilities (last axis, one per
    module in ``MODULE_NAMES`` order): their logits, and their sum (the expected chain length)."""
    p = np.clip(np.asarray(probabilities, dtype=float), 1e-4, 1 - 1e-4)
    return np.concatenate([np.log(p / (1 - p)), p.sum(axis=-1, keepdims=True)], axis=-1)


class PresenceStack:
    """Per module, a logistic model over :func:`stack_inputs`: each presence decision weighs
    what the trees say about every module, so a module its own features cannot hear (a widener
    on a mono clip, a gain stage before nothing nonlinear) follows the rest of the chain."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.modules = list(data["modules"])
        self.coef = np.asarray(data["coef"], dtype=float)
        self.intercept = np.asarray(data["intercept"], dtype=float)
        if self.coef.shape != (len(self.modules), len(self.modules) + 1) or self.intercept.shape != (len(self.modules),):
            raise ValueError(f"presence stack: coef {self.coef.shape} / intercept {self.intercept.shape} do not "
                             f"fit {len(self.modules)} modules")

    def probabilities(self, first_stage: dict[str, float]) -> dict[str, float]:
        """Second-stage probabilities from the first stage's (every module of the stack needed)."""
        missing = [m for m in self.modules if m not in first_stage]
        if missing:
            raise KeyError(f"presence stack needs first-stage probabilities of {missing}")
        z = stack_inputs(np.asarray([first_stage[m] for m in self.modules])) @ self.coef.T + self.intercept
        return {m: float(v) for m, v in zip(self.modules, 1.0 / (1.0 + np.exp(-z)))}


@lru_cache(maxsize=4)
def load_presence_stack(path: str | None = None) -> PresenceStack | None:
    """The second presence stage (``"stack"`` in ``presence.json``), or None when not shipped."""
    data = _load(Path(path) if path else MODELS_DIR / "presence.json")
    return PresenceStack(data["stack"]) if data is not None and data.get("stack") else None


@lru_cache(maxsize=4)
def load_param_models(path: str | None = None) -> dict[str, tuple[TreeModel, dict[str, float]]] | None:
    """``"module.param" -> (regressor of the normalised value, its held-out scores)`` for the
    parameters whose regressor beat the closed form; None when no model file is shipped."""
    data = _load(Path(path) if path else MODELS_DIR / "params.json")
    if data is None:
        return None
    return {key: (TreeModel(data["models"][key]), data["scores"][key]) for key in data["use"]}


@lru_cache(maxsize=4)
def load_order_models(path: str | None = None) -> dict[tuple[str, str], tuple[TreeModel, float]] | None:
    """``(a, b) -> (classifier of "a before b", its held-out accuracy)`` for the module pairs
    whose order the trees learned; None when no model file is shipped."""
    data = _load(Path(path) if path else MODELS_DIR / "order.json")
    if data is None:
        return None
    out = {}
    for key in data["use"]:
        a, b = key.split("|")
        out[(a, b)] = (TreeModel(data["models"][key]), float(data["scores"][key]["accuracy"]))
    return out
