import re
import shutil
import threading

import numpy as np
import pytest
import torch

from llm2fx_lab.errors import AudioError
from llm2fx_lab.events import Final, Response, Thinking, ToolCallEvent, collect
from llm2fx_lab.examples import example_pair
from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.fx.spec import ALL_PARAMS, MODULE_NAMES
from llm2fx_lab.planners import PlannerError, get_planner
from llm2fx_lab.planners.baselines import (
    BASELINE_NAMES,
    ORDER,
    BaselinePlanner,
    baseline_planner,
    feature_vector,
    weight_paths,
)
from tests._scripts import load_script


@pytest.fixture(scope="module")
def pair():
    torch.set_num_threads(1)
    dry, ref, sr, _ = example_pair("guitar")
    return dry[:, : 3 * sr], ref[:, : 3 * sr], sr


@pytest.fixture(scope="module")
def planners():
    return {name: get_planner(name) for name in BASELINE_NAMES}


def _kinds(events):
    return [type(e).__name__ for e in events]


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_plans_a_valid_chain_thinking_first(name, planners, pair):
    planner = planners[name]
    assert isinstance(planner, BaselinePlanner) and planner.name == name
    result = collect(planner.plan(*pair))
    kinds = _kinds(result.events)
    assert kinds[0] == "Thinking" and kinds[-1] == "Final" and kinds.count("Final") == 1
    if "ToolCallEvent" in kinds:
        assert kinds.index("Thinking") < kinds.index("ToolCallEvent") < kinds.index("Response")
    assert {"selection", "order", "parameters"} <= set(result.reasoning_by_step) or not len(result.chain)
    # every output chain passes strict validation and keeps the fixed official order
    again = Chain.from_tool_calls(result.chain.to_tool_calls(), mode="strict")
    assert again == result.chain
    assert list(result.chain.names) == [m for m in ORDER if m in result.chain.names]
    assert result.planner == name and result.response


def test_regression_always_all_nine(planners, pair):
    result = collect(planners["regression"].plan(*pair))
    assert result.chain.names == MODULE_NAMES
    assert "cannot select effects" in result.reasoning_by_step["selection"]


def test_multitask_respects_its_threshold(planners, pair):
    planner = planners["multitask"]
    assert 0.0 < planner.threshold < 1.0  # tuned on validation and shipped
    probs, _ = planner.predict(feature_vector(*pair))
    result = collect(planner.plan(*pair))
    assert list(result.chain.names) == [m for m, p in zip(ORDER, probs) if p >= planner.threshold]
    for m, p in zip(ORDER, probs):
        assert f"{m} {p:.2f}" in result.reasoning_by_step["selection"]
    everything = collect(BaselinePlanner("multitask", threshold=0.0).plan(*pair))
    assert everything.chain.names == MODULE_NAMES
    nothing = collect(BaselinePlanner("multitask", threshold=1.0).plan(*pair))
    assert len(nothing.chain) == int((probs >= 1.0).sum()) and nothing.response
    with pytest.raises(PlannerError, match="threshold"):
        BaselinePlanner("multitask", threshold=1.5)


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_blind_mode(name, planners, pair):
    _, ref, sr = pair
    assert feature_vector(None, ref, sr)[-1] == 1.0 and feature_vector(*pair)[-1] == 0.0
    result = collect(planners[name].plan(None, ref, sr))
    assert "pseudo-dry" in result.reasoning_by_step["selection"]
    Chain.from_tool_calls(result.chain.to_tool_calls(), mode="strict")


def test_stop_before_start_gives_a_stopped_final(planners, pair):
    stop = threading.Event()
    stop.set()
    events = list(planners["regression"].plan(*pair, stop=stop))
    assert isinstance(events[-1], Final) and events[-1].stopped and len(events[-1].chain) == 0
    assert not any(isinstance(e, ToolCallEvent) for e in events)
    assert isinstance(events[0], Thinking) and isinstance(events[-2], Response)


def test_short_audio_is_refused(planners, pair):
    dry, ref, sr = pair
    with pytest.raises(AudioError, match="at least 0.5 s"):
        collect(planners["regression"].plan(dry[:, :1000], ref[:, :1000], sr))


def test_unknown_baseline_name():
    with pytest.raises(PlannerError, match="allowed: regression, multitask"):
        baseline_planner("svm")


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_missing_weights_name_the_file(name, tmp_path):
    with pytest.raises(PlannerError) as err:
        get_planner(name, models_dir=tmp_path)
    assert str(weight_paths(name, tmp_path)[0]) in str(err.value)


def test_corrupt_files_name_the_file(tmp_path):
    weights, info = weight_paths("multitask")
    shutil.copy(info, tmp_path / info.name)
    (tmp_path / weights.name).write_bytes(b"not a safetensors file")
    with pytest.raises(PlannerError, match=re.escape(f"weights {tmp_path / weights.name}")):
        BaselinePlanner("multitask", models_dir=tmp_path)
    shutil.copy(weights, tmp_path / weights.name)
    (tmp_path / info.name).write_text("{ not json")
    with pytest.raises(PlannerError, match=re.escape(f"settings {tmp_path / info.name}")):
        BaselinePlanner("multitask", models_dir=tmp_path)


def test_shipped_files_are_small_and_say_how_they_were_made():
    import json

    for name in BASELINE_NAMES:
        weights, info = weight_paths(name)
        assert weights.stat().st_size < 2_000_000 and info.stat().st_size < 500_000
        training = json.loads(info.read_text())["training"]
        assert {"data", "seed", "command", "validation_scores"} <= set(training)
        assert "test" not in training["examples"]


def _script():
    return load_script("scripts/train_baselines.py")


def _synthetic(rng, n):
    x = rng.standard_normal((n, 12)).astype(np.float32)
    presence = (x[:, :9] > 0).astype(np.float32)
    params = 1 / (1 + np.exp(-x[:, [i % 12 for i in range(len(ALL_PARAMS))]]))
    return {"x": x, "presence": presence, "params": params.astype(np.float32),
            "mask": np.ones((n, len(ALL_PARAMS)), np.float32)}


@pytest.mark.parametrize("kind", BASELINE_NAMES)
def test_training_lowers_the_loss(kind):
    torch.set_num_threads(1)
    tb = _script()
    rng = np.random.default_rng(0)
    net, facts = tb.train(_synthetic(rng, 96), _synthetic(rng, 32), kind, hidden=32, max_epochs=40,
                          patience=40, batch_size=32, progress=False)
    history = facts["history"]
    assert history[-1]["train_loss"] < 0.8 * history[0]["train_loss"]
    assert min(h["val_loss"] for h in history) < history[0]["val_loss"]
    assert (net.presence_head is not None) == (kind == "multitask")
    with pytest.raises(ValueError, match="kind"):
        tb.train(_synthetic(rng, 8), _synthetic(rng, 8), "svm")


def test_threshold_tuning_and_test_split_refused(tmp_path):
    tb = _script()
    presence = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], np.float32)
    probs = np.where(presence > 0, 0.35, 0.2)
    threshold, acc = tb.tune_threshold(probs, presence)
    assert acc == 1.0 and 0.2 < threshold <= 0.35
    with pytest.raises(ValueError, match="test split"):
        tb.split_features(tmp_path, "test", tmp_path)
