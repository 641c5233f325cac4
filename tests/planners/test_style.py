"""Style mode: recovering a chain applied to another clip, the wrapper, the registry, the note."""

import numpy as np
import pytest

from llm2fx_lab.analysis.style import style_distance, style_stats
from llm2fx_lab.errors import ParameterError, PlannerError
from llm2fx_lab.events import Final, Thinking, collect
from llm2fx_lab.fx import Chain, render
from llm2fx_lab.fx.chain import tool_call
from llm2fx_lab.planners import get_planner
from llm2fx_lab.planners.edits import plan_turn
from llm2fx_lab.planners.style import StyleConfig, Styled, StyleResult, select_modules, style_stream, style_targets
from tests._pairs import noise_bursts

SR = 44100


def styled(dry, reference, **settings):
    """Style mode's events and its result on one pair."""
    out = list(style_stream(dry, reference, SR, StyleConfig(**settings)))
    assert isinstance(out[-1], StyleResult) and all(isinstance(e, Thinking) for e in out[:-1])
    return out[:-1], out[-1]


def within_one_grid_step(truth: Chain, found: Chain, dry, module: str, name: str, step: float) -> None:
    """``found``'s render of ``dry`` sits at least as close to ``truth``'s (feature distance) as
    ``truth`` with ``module.name`` moved one step of the sampler's grid either way."""
    target = style_stats(render(dry, SR, truth), SR)
    d_found = style_distance(style_stats(render(dry, SR, found), SR), target).total
    moved = []
    for sign in (-1, 1):
        calls = [tool_call(c.name, {**c.params, name: c.params[name] + sign * step}) if c.name == module else c
                 for c in truth]
        moved.append(style_distance(style_stats(render(dry, SR, Chain(tuple(calls))), SR), target).total)
    assert d_found <= min(moved), (found, d_found, moved)


def test_recovers_an_eq_tilt_applied_to_another_clip():
    dry, other = noise_bursts(1), noise_bursts(2)
    truth = Chain.from_tool_calls([{"name": "equalizer", "arguments": {
        "low_gain_db": -8, "low_cutoff_freq": 200, "high_gain_db": 8, "high_cutoff_freq": 6000}}])
    # the same kind of material: its tone is matched fully (the default takes a fifth of it)
    events, result = styled(dry, render(other, SR, truth), strengths={"envelope_db": 1.0}, budget_seconds=8)
    eq = next(c for c in result.chain if c.name == "equalizer")
    assert eq.params["low_gain_db"] == pytest.approx(-8, abs=2) and eq.params["high_gain_db"] == pytest.approx(8, abs=2)
    assert eq.params["mid_gain_db"] == pytest.approx(0, abs=2)
    within_one_grid_step(truth, result.chain, dry, "equalizer", "high_gain_db", 2.0)


def test_recovers_a_reverb_applied_to_another_clip():
    dry, other = noise_bursts(1), noise_bursts(2)
    truth = Chain.from_tool_calls([{"name": "reverb", "arguments": {
        "room_size": 0.7, "damping": 0.5, "width": 0.9, "mix_ratio": 0.4}}])
    _, result = styled(dry, render(other, SR, truth), budget_seconds=8)
    reverb = next(c for c in result.chain if c.name == "reverb")
    assert reverb.params["mix_ratio"] == pytest.approx(0.4, abs=0.1)
    within_one_grid_step(truth, result.chain, dry, "reverb", "mix_ratio", 0.1)


def test_recovers_a_width_change_applied_to_another_clip():
    dry, other = noise_bursts(1, side_level=0.5), noise_bursts(2, side_level=0.5)
    truth = Chain.from_tool_calls([{"name": "stereo_widener", "arguments": {"width": 0.4}}])
    _, result = styled(dry, render(other, SR, truth), budget_seconds=8)
    widener = next(c for c in result.chain if c.name == "stereo_widener")
    assert widener.params["width"] == pytest.approx(0.4, abs=0.1)
    assert "reverb" not in result.chain.names


def test_reasoning_names_each_statistic_with_the_gaps_before_and_after():
    dry, other = noise_bursts(3), noise_bursts(4)
    reference = render(other, SR, Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": 8}}]))
    events, result = styled(dry, reference, budget_seconds=3)
    text = "".join(e.text for e in events)
    for word in ("loudness", "crest factor", "width", "balance", "decay", "tone", "loudness range"):
        assert word in text
    assert "Gaps to the targets, dry clip -> render:" in text
    assert {e.step for e in events} <= {"selection", "order", "parameters", "refinement"}
    assert result.gaps_after["loudness_lu"] < 1.0 < result.gaps_before["loudness_lu"]
    assert result.loss < result.start_loss
    assert "gain" in result.chain.names


def test_targets_move_each_statistic_by_its_strength():
    a = style_stats(noise_bursts(5), SR)
    b = style_stats(render(noise_bursts(6), SR, Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": 10}}])),
                    SR)
    full = style_targets(a, b, StyleConfig())
    assert full.values["loudness_lu"] == pytest.approx(b.loudness_lufs)
    none = style_targets(a, b, StyleConfig(strengths={"loudness_lu": 0.0}))
    assert none.values["loudness_lu"] == pytest.approx(a.loudness_lufs)
    half = style_targets(a, b, StyleConfig(strengths={"loudness_lu": 0.5}))
    assert half.values["loudness_lu"] == pytest.approx((a.loudness_lufs + b.loudness_lufs) / 2)
    assert [m for m, _ in select_modules(a, full)][-1] == "gain"


def test_an_echo_in_the_reference_gives_a_delay_at_its_time():
    dry, other = noise_bursts(7), noise_bursts(8)
    reference = render(other, SR, Chain.from_tool_calls([{"name": "delay", "arguments": {
        "delay_seconds": 0.3, "feedback": 0.3, "mix_ratio": 0.5}}]))
    targets = style_targets(style_stats(dry, SR), style_stats(reference, SR), StyleConfig())
    assert targets.echo_delay_seconds == pytest.approx(0.3, abs=0.02)
    assert "delay" in [m for m, _ in select_modules(style_stats(dry, SR), targets)]


def test_the_styled_wrapper_streams_the_planner_then_style_mode():
    dry, other = noise_bursts(1), noise_bursts(2)
    reference = render(other, SR, Chain.from_tool_calls([{"name": "stereo_widener", "arguments": {"width": 0.5}}]))
    planner = get_planner("analysis", style=True, style_options={"budget_seconds": 3})
    assert isinstance(planner, Styled) and planner.name == "analysis+style"
    result = collect(plan_turn(planner, noise_bursts(1, side_level=0.5), render(
        noise_bursts(2, side_level=0.5), SR, Chain.from_tool_calls([{"name": "stereo_widener",
                                                                      "arguments": {"width": 0.5}}])), SR))
    assert result.planner == "analysis+style"
    assert "Blind mode" in result.reasoning and "Style mode" in result.reasoning
    assert "do not seem to hold the same recording" not in result.reasoning  # no offer inside style mode
    assert result.response.startswith("Style chain:") and len(result.chain)
    with pytest.raises(PlannerError, match="needs your dry track"):
        list(planner.plan(None, reference, SR))
    assert dry.shape == reference.shape


def test_the_planner_says_when_the_clips_are_different_recordings_and_offers_style_mode():
    a, b = noise_bursts(11), noise_bursts(21)
    planner = get_planner("analysis")
    events = list(plan_turn(planner, a, b, SR))
    first = events[0]
    assert isinstance(first, Thinking) and "do not seem to hold the same recording" in first.text
    assert "--style" in first.text
    final = events[-1]
    assert isinstance(final, Final) and final.reasoning.startswith(first.text)
    same = list(plan_turn(planner, a, render(a, SR, Chain.from_tool_calls(
        [{"name": "gain", "arguments": {"gain_db": 3}}])), SR))
    assert not any(isinstance(e, Thinking) and "same recording" in e.text for e in same)


def test_registry_and_config_refuse_bad_requests_with_one_line_errors():
    with pytest.raises(PlannerError, match="cannot be combined with"):
        get_planner("analysis+refine", style=True)
    with pytest.raises(PlannerError, match="pass style=True"):
        get_planner("analysis", style_options={"budget_seconds": 2})
    with pytest.raises(ParameterError, match="unknown style statistic"):
        StyleConfig(strengths={"brightness": 1.0})
    with pytest.raises(ParameterError, match=r"must be a number in \[0, 1\]"):
        StyleConfig(strengths={"envelope_db": 1.5})
    with pytest.raises(ParameterError, match="budget_seconds"):
        StyleConfig(budget_seconds=0)
    with pytest.raises(ParameterError, match="unknown StyleConfig setting"):
        Styled(get_planner("analysis"), budget=3)


def test_bad_audio_in_style_mode_gets_a_clear_error():
    from llm2fx_lab.errors import AudioError

    good = noise_bursts(1)
    for bad, message in ((np.zeros((2, SR), np.float32), "silent"), (np.full((2, SR), np.nan, np.float32), "NaN")):
        with pytest.raises(AudioError, match=message):
            styled(good, bad, budget_seconds=1)
        with pytest.raises(AudioError, match=message):
            styled(bad, good, budget_seconds=1)


def test_same_inputs_and_seed_give_the_same_chain():
    dry, other = noise_bursts(1), noise_bursts(2)
    reference = render(other, SR, Chain.from_tool_calls([{"name": "compressor", "arguments": {
        "threshold_db": -30, "ratio": 6}}]))
    # a budget in renders (the time budget never reached) makes the search repeatable
    one = styled(dry, reference, budget_seconds=120, max_renders=60)[1].chain
    two = styled(dry, reference, budget_seconds=120, max_renders=60)[1].chain
    assert one == two


def test_a_style_suffix_names_style_mode_for_the_cli_and_the_server():
    planner = get_planner("analysis+style", style_options={"budget_seconds": 2})
    assert isinstance(planner, Styled) and planner.name == "analysis+style" and planner.config.budget_seconds == 2
    with pytest.raises(PlannerError, match="cannot be combined"):
        get_planner("analysis+refine+style")


def test_a_planner_without_a_blind_mode_still_gets_style_mode():
    from llm2fx_lab.errors import AudioError

    class NoBlind:
        name = "needs-dry"

        def plan(self, dry, reference, sample_rate, instruction=None, stop=None):
            if dry is None:
                raise AudioError("this planner needs the dry clip")
            yield from ()

    dry, other = noise_bursts(1), noise_bursts(2)
    reference = render(other, SR, Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": 6}}]))
    result = collect(Styled(NoBlind(), budget_seconds=2).plan(dry, reference, SR))
    assert "gave no blind estimate (this planner needs the dry clip)" in result.reasoning
    assert result.planner == "needs-dry+style" and "gain" in result.chain.names
