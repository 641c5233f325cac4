"""Loudness (audio/loudness.py): BS.1770 against pyloudnorm, loudness range, normalisation."""

import warnings

import numpy as np
import pyloudnorm
import pytest
import scipy.signal

from llm2fx_lab.audio import integrated_loudness_lufs, loudness_range_lu, normalize_loudness
from llm2fx_lab.errors import AudioError
from tests.conftest import SR, sine


def pyloudnorm_lufs(x, sr):
    """The reference: pyloudnorm's meter, clips shorter than one gating block padded to it."""
    block = int(np.ceil(0.4 * sr)) + 1
    x = np.atleast_2d(x)
    if x.shape[0] == 1:
        x = np.repeat(x, 2, axis=0)
    if x.shape[1] < block:
        x = np.pad(x, ((0, 0), (0, block - x.shape[1])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pyloudnorm.Meter(int(round(sr))).integrated_loudness(x.T.astype(np.float64)))


@pytest.mark.parametrize("scale", [1.0, 0.3, 0.01])
def test_loudness_matches_pyloudnorm(bursts, scale):
    x = bursts * scale
    assert integrated_loudness_lufs(x, SR) == pytest.approx(pyloudnorm_lufs(x, SR), abs=0.1)


def test_loudness_matches_pyloudnorm_at_48k_and_short_clip():
    x = sine(997, 0.3)[0]  # shorter than one gating block
    assert integrated_loudness_lufs(x, SR) == pytest.approx(pyloudnorm_lufs(x, SR), abs=0.1)
    y = scipy.signal.resample_poly(sine(440, 2.0)[0], 160, 147)
    assert integrated_loudness_lufs(y, 48000) == pytest.approx(pyloudnorm_lufs(y, 48000), abs=0.1)


def test_loudness_minus_6_db():
    x = sine(1000, 2.0, amplitude=0.2)
    assert integrated_loudness_lufs(x * 0.5, SR) - integrated_loudness_lufs(x, SR) == pytest.approx(-6.02, abs=0.01)


def test_silence_and_bad_input():
    assert integrated_loudness_lufs(np.zeros((2, SR), np.float32), SR) == float("-inf")
    assert np.isnan(loudness_range_lu(np.zeros((2, SR), np.float32), SR))
    with pytest.raises(AudioError, match="sample_rate"):
        integrated_loudness_lufs(sine(1000), 10)
    with pytest.raises(AudioError):
        integrated_loudness_lufs(np.full((2, SR), np.nan, np.float32), SR)


def test_loudness_range_of_steps():
    # 5 s at -30 dBFS then 5 s at -10 dBFS: range about 20 LU
    x = np.concatenate([sine(1000, 5, 0.0316), sine(1000, 5, 0.316)], axis=1)
    assert loudness_range_lu(x, SR) == pytest.approx(20.0, abs=1.0)
    assert loudness_range_lu(sine(1000, 5, 0.3), SR) == pytest.approx(0.0, abs=0.1)


def test_loudness_normalise_to_reference_target():
    x = sine(1000, 3.0, amplitude=0.05)
    y = normalize_loudness(x, SR)
    assert integrated_loudness_lufs(y, SR) == pytest.approx(-12.0, abs=0.05)
    assert pyloudnorm_lufs(y, SR) == pytest.approx(-12.0, abs=0.1)
    capped = normalize_loudness(x, SR, target_lufs=0.0, peak_db=-1.0)
    assert 20 * np.log10(np.abs(capped).max()) == pytest.approx(-1.0, abs=1e-3)
    clipped = normalize_loudness(x, SR, target_lufs=6.0)
    assert np.abs(clipped).max() <= 1.0
    with pytest.raises(AudioError, match="silent"):
        normalize_loudness(np.zeros((2, SR), np.float32), SR)
