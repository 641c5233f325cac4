import numpy as np
import pytest

from llm2fx_lab.examples import load_example
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.fx.render import render
from llm2fx_lab.planners import Final, Response, Thinking, ToolCallEvent, collect, get_planner


@pytest.fixture(scope="module")
def dry():
    x, sr = load_example("guitar")
    return x[:, : int(4 * sr)], sr


def _estimate(dry, calls, **kwargs):
    x, sr = dry
    ref = render(x, sr, Chain(tuple(calls)))
    return collect(get_planner("analysis").plan(x, ref, sr, **kwargs))


def test_gain_plus_12_db(dry):
    result = _estimate(dry, [tool_call("gain", {"gain_db": 12})])
    assert "gain" in result.chain
    assert result.chain["gain"]["gain_db"] == pytest.approx(12, abs=1.0)
    assert "reverb" not in result.chain and "delay" not in result.chain


@pytest.mark.parametrize("pan", [-1.0, 1.0, 0.5])
def test_pan(dry, pan):
    result = _estimate(dry, [tool_call("panner", {"pan": pan})])
    assert "panner" in result.chain
    assert result.chain["panner"]["pan"] == pytest.approx(pan, abs=0.1)


def test_heavy_reverb(dry):
    result = _estimate(dry, [tool_call("reverb", {"room_size": 0.8, "mix_ratio": 0.8})])
    assert "reverb" in result.chain
    assert result.chain["reverb"]["mix_ratio"] >= 0.5


def test_delay(dry):
    result = _estimate(dry, [tool_call("delay", {"delay_seconds": 0.3, "feedback": 0.4, "mix_ratio": 0.4})])
    assert "delay" in result.chain
    call = result.chain["delay"]
    assert call["delay_seconds"] == pytest.approx(0.3, abs=0.01)
    assert call["mix_ratio"] == pytest.approx(0.4, abs=0.1)


def test_identity_gives_short_chain(dry):
    x, sr = dry
    result = collect(get_planner("analysis").plan(x, x.copy(), sr))
    assert len(result.chain) <= 1


def test_stream_order_and_steps(dry):
    x, sr = dry
    ref = render(x, sr, Chain((tool_call("gain", {"gain_db": -8}), tool_call("panner", {"pan": 0.6}))))
    events = list(get_planner("analysis").plan(x, ref, sr))
    kinds = [type(e) for e in events]
    assert kinds.index(Thinking) < kinds.index(ToolCallEvent)
    assert isinstance(events[-1], Final) and kinds.count(Final) == 1
    assert any(isinstance(e, Response) for e in events)
    steps = {e.step for e in events if isinstance(e, Thinking)}
    assert {"selection", "order", "parameters"} <= steps
    final = events[-1]
    assert final.timings.first_token_seconds is not None
    assert final.timings.total_seconds >= final.timings.first_token_seconds
    # the reasoning quotes measured numbers
    assert any(ch.isdigit() for ch in final.reasoning)


def test_blind_mode(dry):
    x, sr = dry
    ref = render(x, sr, Chain((tool_call("panner", {"pan": 0.8}),)))
    result = collect(get_planner("analysis").plan(None, ref, sr))
    assert "Blind mode" in result.reasoning
    # the pseudo-dry (Fx-normalised reference) has a centred image: the panner is heard, with its setting
    assert "panner" in result.chain.names and result.chain["panner"]["pan"] == pytest.approx(0.8, abs=0.05)


def test_instruction_applied(dry):
    result = _estimate(dry, [tool_call("reverb", {"mix_ratio": 0.6})], instruction="less reverb")
    plain = _estimate(dry, [tool_call("reverb", {"mix_ratio": 0.6})])
    assert result.chain["reverb"]["mix_ratio"] < plain.chain["reverb"]["mix_ratio"]


def test_stop_event(dry):
    import threading

    x, sr = dry
    stop = threading.Event()
    stop.set()
    result = collect(get_planner("analysis").plan(x, x, sr, stop=stop))
    assert result.stopped


def test_bad_input(dry):
    x, sr = dry
    from llm2fx_lab.errors import AudioError

    with pytest.raises(AudioError):
        collect(get_planner("analysis").plan(x, np.full_like(x, np.nan), sr))


def test_presence_priors_match_the_planner(dry):
    """The refinement's priors are the planner's own presence probabilities and settings."""
    from llm2fx_lab.fx.spec import MODULE_NAMES, TOOLSET
    from llm2fx_lab.planners.analysis_planner import presence_priors

    x, sr = dry
    truth = Chain((tool_call("reverb", {"room_size": 0.8, "damping": 0.3, "width": 0.9, "mix_ratio": 0.6}),))
    ref = render(x, sr, truth)
    priors = presence_priors(x, ref, sr)
    result = collect(get_planner("analysis").plan(x, ref, sr))
    assert set(priors.probability) == set(MODULE_NAMES) and priors.probability["reverb"] > 0.9
    assert {m for m, p in priors.probability.items() if p >= 0.5 and m != "gain"} == set(result.chain.names) - {"gain"}
    assert set(priors.candidates) == set(MODULE_NAMES) - {"gain"}
    # the planner hands its settings out at the toolset's precision
    assert tool_call("reverb", priors.candidates["reverb"]).at_precision() == result.chain["reverb"]
    for name, params in priors.candidates.items():
        for p in TOOLSET[name].params:
            if p.name in params:
                assert p.lowest_valid <= params[p.name] <= p.maximum


def test_measurements_are_kept_for_the_presence_check(dry, monkeypatch):
    """Refinement's presence check reuses the measurements of the pair the planner just
    measured (keyed by content), measures any other pair, and gets the same priors either way."""
    import llm2fx_lab.planners.analysis_planner as A
    import llm2fx_lab.planners.analysis_planner.measure as M

    dry, sr = dry
    wet = render(dry, sr, Chain((tool_call("reverb", {"mix_ratio": 0.5}),)))
    monkeypatch.setattr(M, "_measured", {})
    fresh = A.presence_priors(dry, wet, sr)
    calls = []
    real = M.pair_features
    monkeypatch.setattr(M, "pair_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    collect(get_planner("analysis").plan(dry, wet, sr))
    kept = A.presence_priors(dry.copy(), wet.copy(), sr)  # same contents, other arrays
    assert calls == [] and kept.probability == fresh.probability and kept.candidates == fresh.candidates
    other = render(dry, sr, Chain((tool_call("gain", {"gain_db": -3}),)))
    A.presence_priors(dry, other, sr)
    A.presence_priors(dry, wet * 0.5, sr)
    assert len(calls) == 2 and len(M._measured) == M.MEASURED_PAIRS_KEPT
    # callers may change what they get without changing what is kept
    f, x, fits = A.measure_pair(dry, other, sr)
    x[:] = 0
    fits.clear()
    f2, x2, fits2 = A.measure_pair(dry, other, sr)
    assert f2 is f and np.any(x2 != 0) and fits2 and len(calls) == 2
    A.clear_measurements()
    A.measure_pair(dry, other, sr)
    assert len(calls) == 3
