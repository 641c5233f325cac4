import math

import pytest

from llm2fx_lab.analysis import compare
from llm2fx_lab.analysis.claims import ClaimCheck, check_claims, share_confirmed
from llm2fx_lab.fx.render import render

SR = 44100


@pytest.fixture(scope="module")
def quieter(noise):
    """Evidence of a plain -6.02 dB gain (half the amplitude)."""
    return compare(noise, 0.5 * noise, SR)


@pytest.fixture(scope="module")
def panned_echo(bursts):
    wet = render(bursts, SR, [{"name": "delay", "arguments": {"delay_seconds": 0.25, "feedback": 0.0,
                                                              "mix_ratio": 0.4}},
                              {"name": "panner", "arguments": {"pan": -0.6}}])
    return compare(bursts, wet, SR)


def _verdicts(text, evidence):
    return [(c.field, c.verdict) for c in check_claims(text, evidence)]


def test_loudness_claims(quieter):
    assert _verdicts("The clip is 6 dB quieter.", quieter) == [("loudness_change_lu", "confirmed")]
    assert _verdicts("The clip is 6 dB louder.", quieter) == [("loudness_change_lu", "contradicted")]
    assert _verdicts("The clip is 15 dB quieter.", quieter) == [("loudness_change_lu", "contradicted")]


def test_band_claims(quieter):
    checks = check_claims("the high band (above 4 kHz) is 5.9 dB quieter; low band +6 dB", quieter)
    assert [(c.field, c.verdict) for c in checks] == [("high_band_gain_db", "confirmed"),
                                                      ("low_band_gain_db", "contradicted")]
    assert checks[0].claimed == pytest.approx(-5.9)
    assert checks[0].measured == pytest.approx(-6.02, abs=0.1)


def test_direction_only_claims_without_change_are_unverifiable(quieter):
    assert _verdicts("it sounds wider and brighter", quieter) == [
        ("side_to_mid_change_db", "unverifiable"), ("high_band_gain_db", "unverifiable")]


def test_single_frequency_claims_are_unverifiable(quieter):
    assert _verdicts("+7.0 dB at 12.7 kHz", quieter) == [("", "unverifiable")]


def test_echo_and_pan_claims(panned_echo, quieter):
    assert panned_echo.echo_detected
    assert _verdicts("an echo at 250 ms; pan -0.6", panned_echo) == [
        ("echo_delay_seconds", "confirmed"), ("pan_change", "confirmed")]
    assert _verdicts("an echo at 600 ms; pan +0.6", panned_echo) == [
        ("echo_delay_seconds", "contradicted"), ("pan_change", "contradicted")]
    assert _verdicts("the balance moves left", panned_echo) == [("pan_change", "confirmed")]
    assert _verdicts("an echo at 250 ms", quieter) == [("echo_delay_seconds", "contradicted")]
    assert _verdicts("an echo at 5 ms", quieter) == [("echo_delay_seconds", "unverifiable")]


def test_offsets_point_into_the_text(quieter):
    text = "First, nothing. Then: it is 6 dB quieter."
    (c,) = check_claims(text, quieter)
    assert isinstance(c, ClaimCheck)
    assert text[c.start:c.end] == c.text == "6 dB quieter"


def test_evidence_sentences_confirm_themselves(panned_echo):
    checks = check_claims(panned_echo.summary(), panned_echo)
    assert checks and all(c.verdict == "confirmed" for c in checks)


def test_analysis_planner_reasoning_on_a_bundled_pair():
    from llm2fx_lab.examples import example_pair
    from llm2fx_lab.planners import collect, get_planner

    dry, reference, sr, _ = example_pair("piano")
    dry, reference = dry[:, : 4 * sr], reference[:, : 4 * sr]
    result = collect(get_planner("analysis").plan(dry, reference, sr))
    checks = check_claims(result.reasoning, compare(dry, reference, sr))
    assert checks, result.reasoning
    assert {c.verdict for c in checks} <= {"confirmed", "contradicted", "unverifiable"}
    assert any(c.field == "pan_change" and c.verdict == "confirmed" for c in checks)
    assert 0.5 <= share_confirmed(checks) <= 1.0


def test_share_confirmed():
    def make(verdict):
        return ClaimCheck("x", "f", 0.0, 0.0, verdict, "", 0, 1)

    checks = [make("confirmed"), make("contradicted"), make("unverifiable"), make("confirmed")]
    assert share_confirmed(checks) == pytest.approx(2 / 3)
    assert share_confirmed(checks, of="all") == pytest.approx(0.5)
    assert math.isnan(share_confirmed([]))
    with pytest.raises(ValueError, match="checkable"):
        share_confirmed(checks, of="some")


def test_bad_input(quieter):
    with pytest.raises(TypeError, match="string"):
        check_claims(None, quieter)
    assert check_claims("", quieter) == []
