import math

import numpy as np
import pytest
import scipy.signal

from llm2fx_lab.analysis import Evidence, compare
from llm2fx_lab.errors import AudioError
from llm2fx_lab.fx.chain import tool_call
from llm2fx_lab.fx.render import equalizer_sos, render

SR = 44100


def _render(x, name, **args):
    return render(x, SR, [{"name": name, "arguments": args}])


def test_minus_6_db_gain(noise):
    e = compare(noise, _render(noise, "gain", gain_db=-6.0206), SR)
    assert isinstance(e, Evidence)
    assert e.loudness_change_lu == pytest.approx(-6.02, abs=0.01)
    for band in (e.low_band_gain_db, e.mid_band_gain_db, e.high_band_gain_db):
        assert band == pytest.approx(-6.02, abs=0.01)
    assert e.crest_factor_change_db == pytest.approx(0.0, abs=0.01)
    assert "6.0 LU quieter" in e.sentence("loudness_change_lu")
    assert e.direction("loudness_change_lu") == -1
    assert not e.echo_detected and e.direction("echo_detected") == 0
    assert e.notable == ("loudness_change_lu", "low_band_gain_db", "mid_band_gain_db", "high_band_gain_db")


def test_high_shelf_boost_measured_within_1_db(noise):
    params = dict(high_gain_db=8, high_cutoff_freq=5000, high_q_factor=0.707)
    e = compare(noise, _render(noise, "equalizer", **params), SR)
    # white noise: the band gain is the mean power gain of the filter over the band
    full = {**tool_call("equalizer").params, **params}
    freqs = np.fft.rfftfreq(2048, 1 / SR)
    _, h = scipy.signal.sosfreqz(equalizer_sos(SR, **full), worN=freqs[freqs >= 4000], fs=SR)
    expected = 10 * np.log10(np.mean(np.abs(h) ** 2))
    assert e.high_band_gain_db == pytest.approx(expected, abs=1.0)
    assert e.high_band_gain_db > 5
    assert abs(e.low_band_gain_db) < 0.5
    assert e.sentence("high_band_gain_db").startswith("the high band (above 4 kHz) is ")
    assert e.added_harmonics_db <= -40 and e.direction("added_harmonics_db") == 0


def test_echo_at_250_ms(bursts):
    wet = render(bursts, SR, [{"name": "delay", "arguments": {"delay_seconds": 0.25, "feedback": 0.3,
                                                              "mix_ratio": 0.5}}], tail_seconds=1.0)
    e = compare(bursts, wet, SR)
    assert e.echo_detected
    assert e.echo_delay_seconds == pytest.approx(0.25, abs=0.002)
    assert e.echo_level_db == pytest.approx(0.0, abs=1.5)   # mix 0.5: echo as loud as the sound
    assert e.echo_feedback == pytest.approx(0.3, abs=0.1)
    assert "250 ms" in e.sentence("echo_detected")
    assert any("zero-padded the dry clip" in n for n in e.notes)


def test_no_echo_for_reverb_but_added_decay(bursts):
    wet = render(bursts, SR, [{"name": "reverb", "arguments": {"room_size": 0.8, "mix_ratio": 0.5}}],
                 tail_seconds=1.0)
    e = compare(bursts, wet, SR)
    assert not e.echo_detected
    assert e.decay_change_seconds > 0.5 and e.direction("decay_change_seconds") == 1
    assert "added reverberation" in e.sentence("decay_change_seconds")


def test_width_and_pan(noise):
    e = compare(noise, _render(noise, "stereo_widener", width=1.5), SR)
    assert e.side_to_mid_change_db == pytest.approx(20 * math.log10(1.5), abs=0.01)
    assert "wider" in e.sentence("side_to_mid_change_db")
    mono = noise[:1]
    e = compare(mono, _render(mono, "panner", pan=-0.5), SR)
    assert e.pan_change == pytest.approx(-0.5, abs=1e-3)
    assert "left" in e.sentence("pan_change")


def test_distortion_adds_harmonics_to_a_tone():
    t = np.arange(SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    e = compare(x, _render(x, "distortion", drive_db=12), SR)
    assert e.added_harmonics_db > -30 and e.direction("added_harmonics_db") == 1
    assert e.crest_factor_change_db < -0.5  # tanh rounds the peaks off
    clean = compare(x, _render(x, "gain", gain_db=6), SR)
    assert clean.added_harmonics_db <= -100


def test_identical_clips_have_no_notable_change(bursts):
    e = compare(bursts, bursts, SR)
    assert e.notable == ()
    assert e.summary() == "No clear difference between the two clips."
    assert e.loudness_change_lu == 0.0 and e.decay_change_seconds == 0.0


def test_length_policies(noise):
    longer = np.concatenate([noise, np.zeros((2, 1000), np.float32)], axis=1)
    assert compare(noise, longer, SR).loudness_change_lu == pytest.approx(0.0, abs=0.05)
    assert compare(noise, longer, SR, length="crop").notes == ("cropped both clips to 132300 samples",)
    with pytest.raises(AudioError, match="same length"):
        compare(noise, longer, SR, length="error")
    with pytest.raises(AudioError, match="length policy"):
        compare(noise, longer, SR, length="stretch")


def test_different_rates_raise(noise):
    with pytest.raises(AudioError, match="different sample rates"):
        compare(noise, noise, SR, wet_sample_rate=48000)
    assert compare(noise, noise, SR, wet_sample_rate=SR).loudness_change_lu == 0.0


def test_mono_against_stereo(noise):
    e = compare(noise[0], noise, SR)
    # from no side at all (floored at -60 dB, "mono") to independent noise's ~0 dB
    assert e.dry_side_to_mid_db == -60.0 and abs(e.wet_side_to_mid_db) < 0.5
    assert e.side_to_mid_change_db == pytest.approx(60.0, abs=0.5)
    assert e.sentence("side_to_mid_change_db").startswith("the dry clip is mono and the reference is not")
    back = compare(noise, noise.mean(axis=0), SR)
    assert back.sentence("side_to_mid_change_db") == "the reference is mono: its stereo image collapsed to the centre"


@pytest.mark.parametrize("which", ["dry", "wet"])
def test_silence_raises(noise, which):
    silent = np.zeros_like(noise)
    args = (silent, noise) if which == "dry" else (noise, silent)
    with pytest.raises(AudioError, match=f"{which} clip is silent"):
        compare(*args, SR)


def test_nan_raises(noise):
    bad = noise.copy()
    bad[0, 10] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        compare(noise, bad, SR)


def test_as_dict_has_numbers_only(noise):
    d = compare(noise, noise * 2, SR).as_dict()
    assert "sentences" not in d and d["loudness_change_lu"] == pytest.approx(6.02, abs=0.01)
