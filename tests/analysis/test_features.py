import math

import numpy as np
import pytest
import scipy.signal

from llm2fx_lab.analysis import features as F
from llm2fx_lab.errors import AudioError
from llm2fx_lab.fx.render import equalizer_sos, render

SR = 44100


def tone(freq_hz, seconds=1.0, amplitude=0.5):
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def test_minus_6_db_gain(noise):
    a, b = F.clip_features(noise, SR), F.clip_features(noise * 0.5, SR)
    assert b.loudness_lufs - a.loudness_lufs == pytest.approx(-6.02, abs=0.01)
    assert b.peak_dbfs - a.peak_dbfs == pytest.approx(-6.02, abs=0.01)
    assert b.crest_factor_db == pytest.approx(a.crest_factor_db, abs=0.01)


def test_sine_closed_forms():
    f = F.clip_features(tone(1000, 1.0, 0.5), SR)
    assert f.spectral_centroid_hz == pytest.approx(1000, abs=5)
    assert f.rms_dbfs == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.01)
    assert f.crest_factor_db == pytest.approx(3.01, abs=0.02)
    assert f.thd_db < -80
    assert f.correlation == pytest.approx(1.0)
    assert f.side_to_mid_db == F.RATIO_FLOOR_DB  # mono duplicated: no side at all
    assert not f.echo.detected


def test_true_peak_above_sample_peak():
    # fs/4 sine at 45 degrees: samples hit 0.707 of the true peak (-3 dB)
    n = np.arange(4000)
    x = np.sin(np.pi / 2 * n + np.pi / 4).astype(np.float32)
    assert F.peak_dbfs(x) == pytest.approx(-3.01, abs=0.01)
    # 0.2 dB: the FIR rings a little at the abrupt start of the test signal
    assert F.true_peak_dbfs(x, SR) == pytest.approx(0.0, abs=0.2)


def test_tanh_distortion_raises_thd():
    clean = tone(440, 1.0, 0.5)
    assert F.thd_db(np.tanh(4 * clean), SR) > F.thd_db(clean, SR) + 60


def test_hard_pan_and_constant_power_pan():
    x = tone(500)
    hard = F.stereo_measures(np.stack([np.zeros_like(x), x]))
    assert hard["pan_position"] == pytest.approx(1.0)
    assert hard["balance_db"] == -F.RATIO_FLOOR_DB
    for pan in (-0.6, 0.3):
        y = render(x, SR, [{"name": "panner", "arguments": {"pan": pan}}])
        assert F.stereo_measures(y)["pan_position"] == pytest.approx(pan, abs=1e-4)


def test_widener_changes_side_to_mid_by_20log_width(noise):
    y = render(noise, SR, [{"name": "stereo_widener", "arguments": {"width": 0.5}}])
    diff = F.stereo_measures(y)["side_to_mid_db"] - F.stereo_measures(noise)["side_to_mid_db"]
    assert diff == pytest.approx(20 * math.log10(0.5), abs=0.01)


def test_third_octave_eq_boost_within_1_db(noise):
    params = dict(low_gain_db=0, low_cutoff_freq=100, low_q_factor=0.707, mid_gain_db=8,
                  mid_cutoff_freq=1000, mid_q_factor=1.0, high_gain_db=0, high_cutoff_freq=8000,
                  high_q_factor=0.707)
    y = render(noise, SR, [{"name": "equalizer", "arguments": params}])
    centres, dry = F.third_octave_levels(F.analyse(noise, SR))
    _, wet = F.third_octave_levels(F.analyse(y, SR))
    _, h = scipy.signal.sosfreqz(equalizer_sos(SR, **params), worN=centres, fs=SR)
    expected = 20 * np.log10(np.abs(h))
    i = int(np.argmin(np.abs(centres - 1000)))
    assert wet[i] - dry[i] == pytest.approx(expected[i], abs=1.0)
    assert wet[i] - dry[i] > 7


def test_tilt_of_white_noise_is_3_db_per_octave(noise):
    assert F.clip_features(noise, SR).spectral_tilt_db_per_octave == pytest.approx(3.0, abs=0.5)


def test_echo_at_250_ms_from_cepstrum(bursts):
    y = render(bursts, SR, [{"name": "delay", "arguments": {"delay_seconds": 0.25, "feedback": 0.3,
                                                            "mix_ratio": 0.5}}])
    echo = F.echo_from_cepstrum(y, SR)
    assert echo.detected
    assert echo.delay_seconds == pytest.approx(0.25, abs=0.002)
    assert echo.feedback == pytest.approx(0.3, abs=0.15)
    assert not F.echo_from_cepstrum(bursts, SR).detected


def test_reverb_lengthens_decay(bursts):
    wet = render(bursts, SR, [{"name": "reverb", "arguments": {"room_size": 0.9, "mix_ratio": 0.5}}])
    dry_t = F.decay_time_seconds(F.analyse(bursts, SR))
    wet_t = F.decay_time_seconds(F.analyse(wet, SR))
    assert dry_t < 0.3
    assert wet_t > dry_t + 0.5


def test_silence_gives_clear_values():
    f = F.clip_features(np.zeros((2, SR), np.float32), SR)
    assert f.is_silent
    assert f.loudness_lufs == -math.inf and f.peak_dbfs == -math.inf and f.true_peak_dbfs == -math.inf
    assert math.isnan(f.spectral_centroid_hz) and math.isnan(f.correlation) and math.isnan(f.crest_factor_db)
    assert not f.echo.detected


@pytest.mark.parametrize("bad", [np.full((2, 100), np.nan), np.zeros((3, 100)), np.zeros((2, 0)),
                                 np.zeros((2, 2, 2)), "audio"])
def test_bad_input_raises(bad):
    with pytest.raises(AudioError):
        F.clip_features(bad, SR)


def test_bad_rate_raises():
    with pytest.raises(AudioError):
        F.clip_features(np.zeros(100), 0)


def test_mono_equals_duplicated_stereo():
    x = tone(300)
    a, b = F.clip_features(x, SR), F.clip_features(np.stack([x, x]), SR)
    assert a.loudness_lufs == b.loudness_lufs and a.band_levels_db == b.band_levels_db


def test_short_clip_works():
    f = F.clip_features(tone(1000, 0.01), SR)
    assert np.isfinite(f.loudness_lufs) and f.loudness_range_lu == 0.0
    assert math.isnan(f.decay_time_seconds)
