import json

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from llm2fx_lab.fx.spec import MODULE_NAMES
from llm2fx_lab.planners.analysis_planner.estimators import DERIVED_NAMES
from llm2fx_lab.planners.analysis_planner.pair_features import PairFeatures
from llm2fx_lab.planners.analysis_planner.trees import (
    MODELS_DIR,
    PresenceStack,
    TreeModel,
    dump_hgb,
    load_presence_models,
    load_presence_stack,
    stack_inputs,
)


def test_dump_matches_sklearn():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 5))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = ((np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 2]) ** 2) > 0.3).astype(int)
    clf = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)
    model = TreeModel(json.loads(json.dumps(dump_hgb(clf))))
    ours = np.array([model.probability(row) for row in x[:50]])
    np.testing.assert_allclose(ours, clf.predict_proba(x[:50])[:, 1], atol=1e-5)


def test_shipped_presence_models():
    path = MODELS_DIR / "presence.json"
    assert path.exists(), f"the presence trees ship with the package: {path}"
    data = json.loads(path.read_text())
    assert data["features"] == PairFeatures.vector_names() + list(DERIVED_NAMES)  # model_features order
    models = load_presence_models()
    assert set(models) == set(MODULE_NAMES)
    p = models["reverb"].probability(np.zeros(len(data["features"])))
    assert 0.0 <= p <= 1.0


def test_from_vector_round_trip():
    rng = np.random.default_rng(1)
    v = rng.standard_normal(len(PairFeatures.vector_names()))
    np.testing.assert_allclose(PairFeatures.from_vector(v).vector(), v)


def test_regressor_dump_matches_sklearn():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 4))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = np.nan_to_num(x[:, 1]) * 0.3 + 0.5 + 0.05 * rng.standard_normal(300)
    reg = HistGradientBoostingRegressor(loss="absolute_error", max_iter=20, random_state=0).fit(x, y)
    model = TreeModel(json.loads(json.dumps(dump_hgb(reg))))
    ours = np.array([model.predict(row) for row in x[:50]])
    np.testing.assert_allclose(ours, reg.predict(x[:50]), atol=1e-5)


def test_shipped_param_and_order_models():
    from llm2fx_lab.planners.analysis_planner.estimators import model_feature_names
    from llm2fx_lab.planners.analysis_planner.trees import load_order_models, load_param_models

    for name in ("params", "order"):
        path = MODELS_DIR / f"{name}.json"
        assert path.exists(), f"the {name} trees ship with the package: {path}"
        data = json.loads(path.read_text())
        assert data["features"] == model_feature_names()
        assert set(data["use"]) <= set(data["models"])
    x = np.zeros(len(model_feature_names()))
    for key, (model, score) in load_param_models().items():
        module, param = key.split(".")
        assert param in dict.fromkeys(__import__("llm2fx_lab.fx.spec", fromlist=["module"]).module(module).param_names)
        # used only where it beat the closed form on held-out pairs
        assert score["closed_mae"] is None or score["tree_mae"] < score["closed_mae"]
        assert np.isfinite(model.predict(x))
    for (a, b), (model, accuracy) in load_order_models().items():
        assert MODULE_NAMES.index(a) < MODULE_NAMES.index(b)
        assert accuracy > 0.5 and 0.0 <= model.probability(x) <= 1.0


def test_shipped_models_are_small():
    ours = [p for name in ("presence", "params", "order") for p in MODELS_DIR.glob(f"{name}*.json")]
    total = sum(p.stat().st_size for p in ours)
    assert total < 3.5 * 2 ** 20


def test_presence_stack_matches_sklearn_logistic_regression():
    rng = np.random.default_rng(3)
    first = rng.uniform(0.01, 0.99, (400, 9))
    y = (first[:, 2] + 0.3 * first.sum(1) / 9 + 0.2 * rng.standard_normal(400) > 0.8).astype(int)
    inputs = stack_inputs(first)
    assert inputs.shape == (400, 10)
    np.testing.assert_allclose(inputs[:, 9], first.sum(1))
    np.testing.assert_allclose(1 / (1 + np.exp(-inputs[:, :9])), first, atol=1e-12)  # logits
    models = [LogisticRegression(max_iter=1000).fit(inputs, y) for _ in MODULE_NAMES]
    stack = PresenceStack(json.loads(json.dumps({"modules": list(MODULE_NAMES), "coef": [m.coef_[0].tolist() for m in models],
                                                 "intercept": [float(m.intercept_[0]) for m in models]})))
    for row in range(5):
        ours = stack.probabilities(dict(zip(MODULE_NAMES, first[row])))
        assert ours["reverb"] == pytest.approx(models[6].predict_proba(inputs[row:row + 1])[0, 1], abs=1e-9)
    with pytest.raises(KeyError, match="gain"):
        stack.probabilities({m: 0.5 for m in MODULE_NAMES if m != "gain"})
    with pytest.raises(ValueError, match="do not fit"):
        PresenceStack({"modules": list(MODULE_NAMES), "coef": [[0.0] * 9] * 9, "intercept": [0.0] * 9})


def test_shipped_presence_stack_is_well_formed():
    stack = load_presence_stack()
    assert stack is not None, "the presence stack ships with the package (models/presence.json)"
    assert stack.modules == list(MODULE_NAMES)
    p = stack.probabilities({m: 0.5 for m in MODULE_NAMES})
    assert set(p) == set(MODULE_NAMES) and all(0.0 < v < 1.0 for v in p.values())
    # a module whose own tree is sure stays on its side whatever the others say
    for others in (0.05, 0.95):
        sure = stack.probabilities({m: (0.999 if m == "delay" else others) for m in MODULE_NAMES})
        assert sure["delay"] > 0.5
