import numpy as np
import pytest

from llm2fx_lab.errors import ParameterError
from llm2fx_lab.examples import load_example
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.fx.render import render
from llm2fx_lab.fx.spec import TOOLSET
from llm2fx_lab.planners import Final, Thinking, ToolCallEvent, collect, get_planner
from llm2fx_lab.planners.refine import RefineConfig, _Problem, refine, refine_stream

CROP_1S = RefineConfig(crop_seconds=1.0)


@pytest.fixture(scope="module")
def pair():
    x, sr = load_example("piano")
    x = x[:, : int(1.5 * sr)]
    truth = Chain((tool_call("gain", {"gain_db": -6}), tool_call("equalizer", {"high_gain_db": 8})))
    return x, render(x, sr, truth), sr


def _in_range(chain):
    for call in chain:
        for p in TOOLSET[call.name].params:
            assert p.lowest_valid <= call[p.name] <= p.maximum


def test_refine_lowers_loss_and_respects_ranges(pair):
    x, y, sr = pair
    start = Chain((tool_call("gain", {"gain_db": 2}), tool_call("equalizer", {"high_gain_db": 0})))
    result = refine(start, x, y, sr, steps=8, budget_seconds=60, crop_seconds=1.0, structure=False)
    assert result.loss_after < result.loss_before
    assert result.chain["gain"]["gain_db"] < 2  # moved towards -6
    _in_range(result.chain)


def test_refine_never_worse_from_truth(pair):
    x, y, sr = pair
    truth = Chain((tool_call("gain", {"gain_db": -6}), tool_call("equalizer", {"high_gain_db": 8})))
    result = refine(truth, x, y, sr, steps=3, budget_seconds=60, crop_seconds=1.0)
    assert result.loss_after <= result.loss_before
    problem = _Problem(x, y, sr, CROP_1S, "cpu")
    assert problem.loss(result.chain) <= problem.loss(truth) + 1e-6
    _in_range(result.chain)


def test_refine_streams_refinement_thinking(pair):
    x, y, sr = pair
    events = []
    gen = refine_stream(Chain(), x, y, sr, steps=2, budget_seconds=60, crop_seconds=1.0)
    try:
        while True:
            events.append(next(gen))
    except StopIteration as done:
        result = done.value
    assert events and all(isinstance(e, Thinking) and e.step == "refinement" for e in events)
    assert result.loss_after <= result.loss_before


def test_refine_bad_steps(pair):
    x, y, sr = pair
    with pytest.raises(ParameterError):
        refine(Chain(), x, y, sr, steps=-1)


@pytest.fixture(scope="module")
def tail_pair():
    """A 4 s clip through a chain with long tails and dynamics: the loudest crop is not at its start."""
    x, sr = load_example("piano")
    x = x[:, : int(4 * sr)]
    truth = Chain((tool_call("delay", {"delay_seconds": 0.3, "feedback": 0.4, "mix_ratio": 0.5}),
                   tool_call("reverb", {"room_size": 0.7, "damping": 0.3, "width": 0.9, "mix_ratio": 0.5}),
                   tool_call("compressor", {"threshold_db": -30, "ratio": 8, "attack_ms": 5, "release_ms": 300})))
    return x, render(x, sr, truth), sr, truth


def test_preroll_lets_the_true_chain_match_its_reference(tail_pair):
    """The reference was rendered from the whole clip: without a pre-roll its crop holds tails and
    compressor state the crop-alone render lacks, and the true chain itself scores badly."""
    x, y, sr, truth = tail_pair
    with_preroll, without = _Problem(x, y, sr, CROP_1S, "cpu"), _Problem(x, y, sr, CROP_1S.replace(preroll_seconds=0), "cpu")
    assert with_preroll.span.preroll_samples > 0 and without.span.preroll_samples == 0
    assert with_preroll.loss(truth) < 0.02
    assert without.loss(truth) > 10 * max(with_preroll.loss(truth), 0.01)
    result = refine(truth, x, y, sr, steps=2, budget_seconds=60, crop_seconds=1.0, structure=False)
    assert "pre-roll" in result.notes[0]


def test_descent_leaves_the_delay_time_and_feedback(tail_pair):
    """Descent tunes the delay's mix but keeps its time and feedback as measured (see FROZEN)."""
    x, y, sr, truth = tail_pair
    start = Chain((tool_call("delay", {"delay_seconds": 0.3, "feedback": 0.2, "mix_ratio": 0.2}),) + truth.calls[1:])
    result = refine(start, x, y, sr, steps=6, budget_seconds=60, crop_seconds=1.0, structure=False)
    assert result.loss_after < result.loss_before
    delay = result.chain["delay"]
    assert delay["delay_seconds"] == pytest.approx(0.3) and delay["feedback"] == pytest.approx(0.2)
    assert delay["mix_ratio"] > 0.2  # moved towards the true 0.5


def test_loudest_span():
    from llm2fx_lab.planners.analysis_planner import loudest_span

    sr = 1000.0
    x = np.zeros((2, 5000), np.float32)
    x[:, 3000:4000] = 1.0
    y = 2 * x
    span = loudest_span(x, y, sr, 1.0, preroll_seconds=2.0)
    assert span.preroll_samples == 2000 and span.dry.shape == (2, 3000) and span.reference.shape == (2, 1000)
    assert np.all(span.tail(span.dry) == x[:, 3000:4000]) and np.all(span.reference == 2)
    # the pre-roll stops at the clip's start, and a clip shorter than the crop is taken whole
    early = loudest_span(np.roll(x, -2500, axis=1), y, sr, 1.0, preroll_seconds=2.0)
    assert early.preroll_samples == 500
    whole = loudest_span(x[:, :800], y[:, :800], sr, 1.0)
    assert whole.preroll_samples == 0 and whole.dry.shape == whole.reference.shape == (2, 800)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_refine_bad_preroll(pair, bad):
    x, y, sr = pair
    with pytest.raises(ParameterError, match="preroll_seconds"):
        refine(Chain(), x, y, sr, steps=1, preroll_seconds=bad)


def test_refined_planner(pair):
    x, y, sr = pair
    planner = get_planner("analysis", refine=True, refine_options={"steps": 2, "budget_seconds": 60,
                                                                   "crop_seconds": 1.0, "structure": False})
    assert planner.name == "analysis+refine"
    events = list(planner.plan(x, y, sr))
    assert isinstance(events[-1], Final) and events[-1].planner == "analysis+refine"
    steps = [e.step for e in events if isinstance(e, Thinking)]
    assert "refinement" in steps
    # refinement thinking comes after the inner planner's thinking
    assert steps.index("refinement") > steps.index("selection")
    assert any(isinstance(e, ToolCallEvent) for e in events)
    # descent leaves values like 3.4719999; the planner hands them out at the toolset's precision
    for call in [e.call for e in events if isinstance(e, ToolCallEvent)] + list(events[-1].chain):
        for p in TOOLSET[call.name].params:
            assert call[p.name] == round(call[p.name], p.decimals)


def test_refined_blind_mode_skips(pair):
    _, y, sr = pair
    result = collect(get_planner("analysis+refine").plan(None, y, sr))
    assert "blind mode" in result.reasoning


def test_refine_device_choice():
    import torch

    from llm2fx_lab.errors import BackendError
    from llm2fx_lab.fx.torch_render import resolve_device

    def refine_device(device):  # how refinement resolves its device: quietly on the CPU
        return resolve_device(device, warn_cpu_fallback=False)

    assert refine_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert refine_device("cpu") == torch.device("cpu")
    with pytest.raises(BackendError, match="'auto', 'cpu', 'cuda'"):
        refine_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="CUDA is not available"):
            refine_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA")
def test_refine_on_cuda_matches_cpu(pair):
    """The same loss on both devices; refining on CUDA lowers it, keeps ranges, says where it ran."""
    x, y, sr = pair
    start = Chain((tool_call("gain", {"gain_db": 2}), tool_call("equalizer", {"high_gain_db": 0})))
    cpu, cuda = _Problem(x, y, sr, CROP_1S, "cpu"), _Problem(x, y, sr, CROP_1S, "cuda")
    assert cuda.device.type == "cuda"
    assert cuda.loss(start) == pytest.approx(cpu.loss(start), rel=1e-3)
    result = refine(start, x, y, sr, steps=8, budget_seconds=60, crop_seconds=1.0, structure=False, device="cuda")
    assert result.loss_after < result.loss_before
    assert result.chain["gain"]["gain_db"] < 2
    assert "(cuda)" in result.notes[0]
    _in_range(result.chain)
    # the CUDA result, measured on the CPU, is as good as the CPU measured it on CUDA
    assert cpu.loss(result.chain) == pytest.approx(result.loss_after, rel=1e-2)


def test_first_per_length():
    from llm2fx_lab.planners.bench import first_per_length

    pairs = [{"id": f"{n}-{k}"} for n in range(1, 4) for k in range(5)]
    assert [p["id"] for p in first_per_length(pairs, 5, 2)] == ["1-0", "1-1", "2-0", "2-1", "3-0", "3-1"]


# --- structure search ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reverb_pair():
    x, sr = load_example("piano")
    x = x[:, : int(3 * sr)]
    truth = Chain((tool_call("gain", {"gain_db": -6}),
                   tool_call("reverb", {"room_size": 0.8, "damping": 0.3, "width": 0.9, "mix_ratio": 0.6})))
    return x, render(x, sr, truth), sr, truth


def _refined(chain, pair, **options):
    x, y, sr, _ = pair
    return refine(chain, x, y, sr, steps=6, budget_seconds=120, crop_seconds=1.0, **options)


def test_structure_adds_a_missing_module(reverb_pair):
    result = _refined(Chain((tool_call("gain", {"gain_db": -6}),)), reverb_pair)
    assert "reverb" in result.chain.names
    assert any(n.startswith("reverb (trees") and n.endswith("; added.") for n in result.notes)
    assert result.loss_after < result.loss_before / 2
    _in_range(result.chain)


def test_structure_removes_a_spurious_module(reverb_pair):
    x, y, sr, truth = reverb_pair
    start = Chain(truth.calls + (tool_call("distortion", {"drive_db": 20}),))
    result = _refined(start, reverb_pair)
    assert "distortion" not in result.chain.names and {"gain", "reverb"} <= set(result.chain.names)
    assert any(n.startswith("distortion (trees") and n.endswith("; removed.") for n in result.notes)


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA")
def test_structure_search_on_cuda(reverb_pair):
    """On a GPU the structure search orders with the batched torch renderer there and still
    removes a spurious module."""
    x, y, sr, truth = reverb_pair
    start = Chain(truth.calls + (tool_call("distortion", {"drive_db": 20}),))
    result = _refined(start, reverb_pair, device="cuda")
    assert "distortion" not in result.chain.names and {"gain", "reverb"} <= set(result.chain.names)
    assert any(n.startswith("Order search on the crop") and "on cuda" in n for n in result.notes), result.notes
    _in_range(result.chain)


def test_structure_without_trees_lets_the_loss_decide(reverb_pair, monkeypatch):
    """Without shipped trees every prior is 0.5: a module stays exactly when it lowers the loss."""
    from llm2fx_lab.planners import refine as refinement
    from llm2fx_lab.planners.analysis_planner import PresencePriors

    monkeypatch.setattr(refinement, "presence_priors", lambda *a, **k: PresencePriors({}, {}))
    result = _refined(Chain((tool_call("gain", {"gain_db": -6}),)), reverb_pair)
    assert "reverb" in result.chain.names
    lines = [n for n in result.notes if "(trees 0.50" in n]
    assert len(lines) >= 8  # every module toggled: none is sure
    for line in lines:
        evidence = float(line.split("evidence ")[1].split(";")[0])
        assert (line.rsplit("; ", 1)[1] in ("kept.", "added.")) == (evidence > 0)


def test_structure_keeps_the_prior_when_the_loss_cannot_tell(reverb_pair, monkeypatch):
    """A module that changes nothing audible (an equalizer at 0 dB in every band) gives no loss
    evidence: the trees' prior decides, and the result is never worse than the start."""
    from llm2fx_lab.planners import refine as refinement
    from llm2fx_lab.planners.analysis_planner import PresencePriors

    x, y, sr, truth = reverb_pair
    probs = {m: (0.99 if m in truth else 0.01) for m in TOOLSET}
    probs["equalizer"] = 0.3
    monkeypatch.setattr(refinement, "presence_priors", lambda *a, **k: PresencePriors(probs, {}))
    flat = tool_call("equalizer", {"low_gain_db": 0.0, "mid_gain_db": 0.0, "high_gain_db": 0.0})
    result = refine(Chain((flat,) + truth.calls), x, y, sr, steps=0, budget_seconds=120, crop_seconds=1.0)
    assert result.chain.names == ("gain", "reverb")
    line = next(n for n in result.notes if n.startswith("equalizer (trees 0.30"))
    assert abs(float(line.split("evidence ")[1].split(";")[0])) < 0.05 and line.endswith("; removed.")
    assert result.loss_after <= result.loss_before + 1e-6
