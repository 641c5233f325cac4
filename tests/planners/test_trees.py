import json

import numpy as np
import pytest

from llm2fx_lab.fx.spec import MODULE_NAMES
from llm2fx_lab.planners.estimators import DERIVED_NAMES
from llm2fx_lab.planners.pair_features import PairFeatures
from llm2fx_lab.planners.trees import MODELS_DIR, TreeModel, dump_hgb, load_presence_models


def test_dump_matches_sklearn():
    sklearn = pytest.importorskip("sklearn.ensemble")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 5))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = ((np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 2]) ** 2) > 0.3).astype(int)
    clf = sklearn.HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)
    model = TreeModel(json.loads(json.dumps(dump_hgb(clf))))
    ours = np.array([model.probability(row) for row in x[:50]])
    np.testing.assert_allclose(ours, clf.predict_proba(x[:50])[:, 1], atol=1e-5)


def test_shipped_presence_models():
    path = MODELS_DIR / "presence.json"
    if not path.exists():
        pytest.skip("no presence model shipped")
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
    sklearn = pytest.importorskip("sklearn.ensemble")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 4))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = np.nan_to_num(x[:, 1]) * 0.3 + 0.5 + 0.05 * rng.standard_normal(300)
    reg = sklearn.HistGradientBoostingRegressor(loss="absolute_error", max_iter=20, random_state=0).fit(x, y)
    model = TreeModel(json.loads(json.dumps(dump_hgb(reg))))
    ours = np.array([model.predict(row) for row in x[:50]])
    np.testing.assert_allclose(ours, reg.predict(x[:50]), atol=1e-5)


def test_shipped_param_and_order_models():
    from llm2fx_lab.planners.estimators import model_feature_names
    from llm2fx_lab.planners.trees import load_order_models, load_param_models

    for name in ("params", "order"):
        path = MODELS_DIR / f"{name}.json"
        if not path.exists():
            pytest.skip(f"no {name} model shipped")
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
