"""scripts/learner_gap.py: trees and an MLP on the same cached pair features, same held-out rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from llm2fx_lab.data.chains import sample_chain
from llm2fx_lab.fx.spec import MODULE_NAMES
from tests._scripts import load_script


def _script():
    return load_script("scripts/learner_gap.py")


def _fake_cache(folder: Path, n: int = 600, seed: int = 0) -> None:
    """A cache in train_analysis_planner.py's layout whose first 9 features are each module's
    presence plus noise (so presence is learnable), then noise with missing values."""
    rng = np.random.default_rng(seed)
    chains = [sample_chain(int(rng.integers(1, 10)), rng) for _ in range(n)]
    presence = np.array([[m in c.names for m in MODULE_NAMES] for c in chains], dtype=float)
    x = np.concatenate([presence + 0.3 * rng.standard_normal(presence.shape), rng.standard_normal((n, 5))], axis=1)
    x[rng.random(x.shape) < 0.05] = np.nan
    folder.mkdir()
    for start in range(0, n, 50):
        rows = slice(start, start + 50)
        k = len(range(n)[rows])
        np.savez(folder / f"train-{start // 50:05d}.npz", x=x[rows], closed=np.zeros((k, 26)),
                 rule=np.zeros((k, 9), dtype=bool), shaped=np.zeros(k, dtype=bool), coherence=np.ones(k),
                 index=np.arange(start, start + k),
                 chain=np.array([json.dumps(c.to_tool_calls()) for c in chains[rows]]))


def test_both_learners_score_the_same_held_out_rows(tmp_path, capsys):
    _fake_cache(tmp_path / "cache")
    assert _script().main(["--cache", str(tmp_path / "cache"), "--rows", "200", "400", "--epochs", "15"]) == 0
    out = capsys.readouterr().out
    assert "600 cached pairs, 14 features, 120 held out" in out
    rows = re.findall(r"\| (\d+) \| ([\d.]+)% \| ([\d.]+)% \| (\d+) \|", out)
    assert [r[0] for r in rows] == ["200", "400"]
    for _, trees, mlp, epoch in rows:
        # presence is in the features with little noise: both must find it (the empty chain scores about 45 %)
        assert float(trees) > 80 and float(mlp) > 80
        assert 1 <= int(epoch) <= 15


def test_weighted_accuracy_weights_rows():
    acc = _script().weighted_accuracy
    presence = np.array([[1, 0], [1, 1]])
    probabilities = np.array([[0.9, 0.1], [0.1, 0.1]])  # row 0 all right, row 1 all wrong
    assert acc(probabilities, presence, np.array([1.0, 1.0])) == pytest.approx(0.5)
    assert acc(probabilities, presence, np.array([3.0, 1.0])) == pytest.approx(0.75)


def test_bad_input_names_the_problem(tmp_path, capsys):
    script = _script()
    with pytest.raises(SystemExit):
        script.main(["--cache", str(tmp_path)])
    assert "holds no train-*.npz feature cache" in capsys.readouterr().err
    _fake_cache(tmp_path / "cache", n=300)
    with pytest.raises(SystemExit):
        script.main(["--cache", str(tmp_path / "cache"), "--rows", "1000"])
    assert "--rows 1000 is more than the 240 fit rows of this cache (300 rows, 60 held out)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--cache", str(tmp_path / "cache"), "--rows", "10"])
    assert "--rows must each be >= 50" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--cache", str(tmp_path / "cache"), "--networks", "0"])
    assert "--networks >= 1 (got 0)" in capsys.readouterr().err


def test_an_ensemble_averages_networks(tmp_path, capsys):
    _fake_cache(tmp_path / "cache")
    assert _script().main(["--cache", str(tmp_path / "cache"), "--rows", "300", "--epochs", "6",
                           "--networks", "2"]) == 0
    out = capsys.readouterr().out
    assert "| fit rows | trees | mlp (mean of 2) | mlp epoch |" in out
    row = re.search(r"\| 300 \| ([\d.]+)% \| ([\d.]+)% \| (\d+)/(\d+) \|", out)
    assert row and float(row.group(2)) > 80, out
