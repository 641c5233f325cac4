import pytest

from llm2fx_lab.planners import PLANNER_NAMES, PlannerError, default_planner, get_planner, mini_available
from llm2fx_lab.planners.analysis_planner import AnalysisPlanner


def test_analysis_by_name():
    planner = get_planner("analysis")
    assert isinstance(planner, AnalysisPlanner) and planner.name == "analysis"


def test_unknown_name_lists_allowed():
    with pytest.raises(PlannerError) as err:
        get_planner("gemini")
    for name in PLANNER_NAMES:
        assert name in str(err.value)


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_bad_names(bad):
    with pytest.raises(PlannerError):
        get_planner(bad)


def test_mini_without_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM2FX_MINI_DIR", str(tmp_path / "nothing"))
    with pytest.raises(PlannerError, match="no weights at .*use 'analysis'"):
        get_planner("mini")
    assert isinstance(default_planner(), AnalysisPlanner)


def test_model_path_without_weights(tmp_path):
    with pytest.raises(PlannerError, match="no weights at"):
        get_planner(f"model:{tmp_path}")
    with pytest.raises(PlannerError, match="checkpoint directory"):
        get_planner("model:")


def test_baselines_by_name(tmp_path):
    from llm2fx_lab.planners.refine import Refined

    for name in ("regression", "multitask"):
        assert get_planner(name).name == name
    assert isinstance(get_planner("multitask+refine"), Refined)
    with pytest.raises(PlannerError, match="regression.safetensors is missing"):
        get_planner("regression", models_dir=tmp_path)


def test_device_option():
    import torch

    from llm2fx_lab.errors import BackendError
    from llm2fx_lab.planners.refine import Refined

    wrapped = get_planner("analysis+refine", device="cpu")
    assert isinstance(wrapped, Refined) and wrapped.device == "cpu"
    assert isinstance(get_planner("analysis", device="cpu"), AnalysisPlanner)  # runs on the CPU anyway
    mini = get_planner("mini", device="cpu")
    assert next(mini.model.parameters()).device == torch.device("cpu")
    with pytest.raises(BackendError, match="'auto', 'cpu', 'cuda'"):
        get_planner("analysis", device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="CUDA is not available"):
            get_planner("mini", device="cuda")


def test_planner_choices_list_what_loads_here(monkeypatch, tmp_path):
    from llm2fx_lab.planners import baselines
    from llm2fx_lab.planners.registry import PLANNER_CHOICES, planner_choices

    assert [c.key for c in PLANNER_CHOICES] == ["analysis", "mini", "mini-guided", "regression", "multitask"]
    assert {c.name for c in PLANNER_CHOICES} <= {n for n in PLANNER_NAMES if n != "model:PATH"}
    assert ({"mini", "mini-guided"} <= {c.key for c in planner_choices()}) == mini_available()
    monkeypatch.setenv("LLM2FX_MINI_DIR", str(tmp_path / "no-mini"))  # no mini weights
    monkeypatch.setattr(baselines, "MODELS_DIR", tmp_path / "no-baselines")
    assert [c.key for c in planner_choices()] == ["analysis"]


def test_planner_choice_names_its_planner_by_its_key():
    from llm2fx_lab.planners.registry import PlannerChoice

    choice = PlannerChoice("analysis", "analysis", "analysis")
    assert choice.make().name == "analysis"
    refined = choice.make(refine=True)
    assert refined.name == "analysis+refine" and refined.planner.name == "analysis"
