import math

import pytest

from llm2fx_lab.analysis import compare
from llm2fx_lab.analysis.claims import ClaimCheck, check_claims, coverage, share_confirmed
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


@pytest.fixture(scope="module")
def reverberant(bursts):
    wet = render(bursts, SR, [{"name": "reverb", "arguments": {"room_size": 0.8, "damping": 0.3, "width": 0.9,
                                                               "mix_ratio": 0.5}}])
    return compare(bursts, wet, SR)


@pytest.fixture(scope="module")
def saturated(bursts):
    return compare(bursts, render(bursts, SR, [{"name": "distortion", "arguments": {"drive_db": 20}}]), SR)


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


# Free prose, as a chat LLM writes it (issue 31): the module claims and the directions.
LLM_PROSE = ("Looking at the measurements, there is a reverb: the tail is much longer. There is no compression "
             "here, and I do not hear any distortion. The reference is a bit louder and darker. Without a delay.")


def test_prose_claims_against_a_reverb(reverberant):
    checks = check_claims(LLM_PROSE, reverberant)
    assert [(c.text, c.verdict) for c in checks] == [
        ("there is a reverb", "confirmed"), ("tail is much longer", "confirmed"), ("no compression", "confirmed"),
        ("do not hear any distortion", "confirmed"), ("louder", "confirmed"), ("darker", "confirmed"),
        ("Without a delay", "confirmed")]
    assert coverage(checks) == (7, 7)
    wrong = check_claims("No reverb at all; the sound is drier, with a shorter decay.", reverberant)
    assert [(c.field, c.verdict) for c in wrong] == [("decay_change_seconds", "contradicted")] * 3


def test_prose_claims_against_a_saturation(saturated):
    checks = check_claims(LLM_PROSE, saturated)
    verdicts = {c.text: c.verdict for c in checks}
    # no reverb trace: a reverb may be subtle, so neither confirmed nor refuted; the crest factor fell,
    # and saturation on noise can hide from the harmonics measure, so "no distortion" is not confirmed
    assert verdicts["there is a reverb"] == verdicts["do not hear any distortion"] == "unverifiable"
    assert verdicts["no compression"] == "contradicted" and verdicts["louder"] == "confirmed"
    assert coverage(checks) == (sum(v != "unverifiable" for v in verdicts.values()), len(checks))


def test_prose_claims_know_which_clip_they_are_about(reverberant):
    assert _verdicts("The dry is louder and the decay is longer.", reverberant) == [
        ("loudness_change_lu", "contradicted"), ("decay_change_seconds", "confirmed")]
    assert _verdicts("The reference is louder than the dry.", reverberant) == [("loudness_change_lu", "confirmed")]


def test_prose_module_words_that_are_not_claims(reverberant, quieter, panned_echo):
    # "room" is not a reverb; a gain leaves no trace of its own; an echo hides a reverb's decay
    assert check_claims("There is room for more.", reverberant) == []
    assert _verdicts("It needs a gain stage.", quieter) == [("gain", "unverifiable")]
    assert _verdicts("there is a reverb", panned_echo) == [("decay_change_seconds", "unverifiable")]
    assert _verdicts("there is a delay, panned to the left", panned_echo) == [
        ("echo_detected", "confirmed"), ("pan_change", "confirmed")]
    assert coverage([]) == (0, 0)


# --- the sentences the grounded chain-of-thought writes (the training data, the mini's reasoning)

_QUIET = dict(sample_rate=44100.0, dry_loudness_lufs=-20.0, wet_loudness_lufs=-20.0, loudness_change_lu=0.0,
              low_band_gain_db=0.0, mid_band_gain_db=0.0, high_band_gain_db=0.0, crest_factor_change_db=0.0,
              loudness_range_change_lu=0.0, side_to_mid_change_db=0.0, balance_change_db=0.0, pan_change=0.0,
              correlation_change=0.0, dry_decay_seconds=0.5, wet_decay_seconds=0.5, decay_change_seconds=0.0,
              echo_detected=False, echo_delay_seconds=float("nan"), echo_level_db=float("nan"),
              echo_feedback=float("nan"), added_harmonics_db=-60.0, sentences=())
_COT_VALUES = {"loudness_change_lu": 5.3, "low_band_gain_db": 4.9, "mid_band_gain_db": 3.0, "high_band_gain_db": 5.1,
               "crest_factor_change_db": 9.9, "loudness_range_change_lu": 2.6, "side_to_mid_change_db": 7.2,
               "pan_change": 0.5, "decay_change_seconds": 1.06}


def _evidence_with(field, value):
    from llm2fx_lab.analysis.evidence import Evidence

    values = dict(_QUIET, **{field: value})
    if field == "decay_change_seconds":
        values["wet_decay_seconds"] = 0.5 + value if value > -0.5 else 0.1
    return Evidence(**values)


@pytest.mark.parametrize("field", sorted(_COT_VALUES))
@pytest.mark.parametrize("sign", [1, -1])
def test_every_sentence_the_grounded_reasoning_writes_is_read_with_its_sign(field, sign):
    """Each wording of data/cot.py, for a rise and a fall: confirmed against Evidence that
    holds the quoted change, contradicted against the opposite change (the checker once read
    "the crest factor shrinks by 9.9 dB" as a rise and "4.9 dB quieter below 250 Hz" as the
    overall level, and found nothing in most of the other wordings)."""
    import numpy as np

    from llm2fx_lab.data.cot import CLAIM_TEXT

    value = sign * _COT_VALUES[field]
    texts = {CLAIM_TEXT[field](value, "the reference", np.random.default_rng(seed)) for seed in range(60)}
    assert len(texts) >= 2
    for text in texts:
        right = check_claims(text, _evidence_with(field, value))
        wrong = check_claims(text, _evidence_with(field, -value))
        assert right and all(c.verdict == "confirmed" for c in right), (text, right)
        assert any(c.verdict == "contradicted" for c in wrong), (text, wrong)


@pytest.mark.parametrize("field, value", [("added_harmonics_db", -20.0), ("echo_detected", 0.35)])
def test_harmonics_and_echo_sentences_are_read(field, value):
    import dataclasses

    import numpy as np

    from llm2fx_lab.data.cot import CLAIM_TEXT

    evidence = _evidence_with("added_harmonics_db", value) if field == "added_harmonics_db" else dataclasses.replace(
        _evidence_with("loudness_change_lu", 0.0), echo_detected=True, echo_delay_seconds=value, echo_level_db=-8.0,
        echo_feedback=0.3)
    texts = {CLAIM_TEXT[field](value, "the reference", np.random.default_rng(seed)) for seed in range(60)}
    for text in texts:
        checks = check_claims(text, evidence)
        assert checks and all(c.verdict == "confirmed" for c in checks), (text, checks)
    no_echo = dataclasses.replace(evidence, echo_detected=False, added_harmonics_db=-90.0)
    assert all(any(c.verdict == "contradicted" for c in check_claims(t, no_echo)) for t in texts)


def test_the_echo_search_range_is_not_read_as_an_echo():
    evidence = _evidence_with("loudness_change_lu", 0.0)
    assert check_claims("Echo: no distinct echo was found between 40 ms and 1 s; the strongest", evidence) == []
