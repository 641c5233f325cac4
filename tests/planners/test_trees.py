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
    assert data["features"] == PairFeatures.vector_names() + list(DERIVED_NAMES)
    models = load_presence_models()
    assert set(models) == set(MODULE_NAMES)
    p = models["reverb"].probability(np.zeros(len(data["features"])))
    assert 0.0 <= p <= 1.0


def test_from_vector_round_trip():
    rng = np.random.default_rng(1)
    v = rng.standard_normal(len(PairFeatures.vector_names()))
    np.testing.assert_allclose(PairFeatures.from_vector(v).vector(), v)
