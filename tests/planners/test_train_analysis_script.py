"""scripts/train_analysis_planner.py end to end on two tiny generated datasets (the plumbing:
several datasets, per-dataset caches, parallel extraction, argument errors)."""

import json

import pytest

from llm2fx_lab.data.generate import GenerateConfig, generate
from tests._scripts import load_script

N = 18


def _script():
    # worker processes unpickle its functions by module name
    return load_script("scripts/train_analysis_planner.py", register=True)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("afx_data")
    out = []
    for name, seed in (("a", 1), ("b", 2)):
        cfg = GenerateConfig(str(root / name), splits=("train",), n_examples=N, seed=seed, shard_size=N)
        generate(cfg, workers=1, progress=False)
        out.append(root / name)
    return out


def test_trains_on_two_datasets_with_a_cache_each(datasets, tmp_path):
    script = _script()
    cache, models = tmp_path / "cache", tmp_path / "models"
    args = ["--data", *map(str, datasets), "--n-rows", str(N), "--cache", str(cache), "--out-dir", str(models),
            "--workers", "2"]
    script.main(args)
    assert sorted(p.name for p in cache.iterdir()) == ["a", "b"]
    presence = json.loads((models / "presence.json").read_text())
    assert presence["n_train"] == 2 * N
    assert presence["data"] == [f"a ({N} train rows)", f"b ({N} train rows)"]
    assert set(presence["models"]) == {"equalizer", "compressor", "stereo_widener", "gain", "panner",
                                       "distortion", "reverb", "delay", "limiter"}
    # the second stage is scored either way, and kept only when it beat the trees held out
    assert all("stacked_accuracy" in v for v in presence["scores"].values())
    stack = presence["stack"]
    if stack is not None:
        assert len(stack["coef"]) == 9 and all(len(c) == 10 for c in stack["coef"]) and len(stack["intercept"]) == 9
    # a rerun reads the caches instead of measuring again, and trains the same models
    before = (models / "presence.json").read_text()
    chunks = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npz")}
    script.main(args)
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.npz")} == chunks
    assert (models / "presence.json").read_text() == before


def test_argument_errors(datasets, tmp_path):
    script = _script()
    with pytest.raises(SystemExit):  # three counts for two datasets
        script.main(["--data", *map(str, datasets), "--n-rows", "1", "2", "3", "--cache", str(tmp_path)])
    with pytest.raises(SystemExit):  # the same folder twice would share one cache
        script.main(["--data", str(datasets[0]), str(datasets[0]), "--cache", str(tmp_path)])


@pytest.mark.parametrize("flag, value", [("--presence-leaves", "1"), ("--presence-iterations", "0"),
                                         ("--presence-learning-rate", "0"), ("--presence-learning-rate", "1.5")])
def test_bad_presence_settings_fail_before_measuring(datasets, tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit):
        _script().main(["--data", str(datasets[0]), "--cache", str(tmp_path / "cache"), flag, value])
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()  # nothing was measured
