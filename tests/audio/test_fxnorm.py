"""Fx-normalisation: differently processed versions of a clip normalise to nearly the same."""

import numpy as np
import pytest

from llm2fx_lab.analysis.features import stereo_measures
from llm2fx_lab.audio.fxnorm import FxNormBaseline, fx_normalize, spectral_envelope_db
from llm2fx_lab.audio.loudness import integrated_loudness_lufs
from llm2fx_lab.errors import AudioError, ParameterError
from llm2fx_lab.examples import load_example
from llm2fx_lab.fx import Chain, render


def _eq(lo, hi):
    return Chain.from_tool_calls([{"name": "equalizer", "arguments": {
        "low_gain_db": lo, "low_cutoff_freq": 200, "low_q_factor": 0.7, "mid_gain_db": 0,
        "mid_cutoff_freq": 1000, "mid_q_factor": 0.7, "high_gain_db": hi, "high_cutoff_freq": 5000,
        "high_q_factor": 0.7}}])


def _env(x, sr):
    f, level, _ = spectral_envelope_db(x, sr)
    band = (f > 60) & (f < 12000)
    return level[band]


def test_two_eqs_normalise_to_nearly_the_same_spectrum():
    x, sr = load_example("guitar")
    a, b = render(x, sr, _eq(10, -10)), render(x, sr, _eq(-10, 10))
    before = np.mean(np.abs(_env(a, sr) - _env(b, sr)))
    after = np.mean(np.abs(_env(fx_normalize(a, sr), sr) - _env(fx_normalize(b, sr), sr)))
    assert before > 8 and after < 2


def test_loudness_stereo_and_dynamics_baseline():
    x, sr = load_example("piano")
    quiet_wide = render(x, sr, Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": -14}},
                                                       {"name": "panner", "arguments": {"pan": 0.7}}]))
    y = fx_normalize(quiet_wide, sr)
    assert integrated_loudness_lufs(y, sr) == pytest.approx(-12.0, abs=0.5)
    assert abs(stereo_measures(y)["balance_db"]) < 0.5
    comp = render(x, sr, Chain.from_tool_calls([{"name": "compressor", "arguments": {
        "threshold_db": -35, "ratio": 10, "attack_ms": 5, "release_ms": 100}}]))
    levels = lambda z: np.std(10 * np.log10(np.mean(z[:, : z.shape[1] // 2205 * 2205] ** 2, axis=0).reshape(-1, 2205).mean(1) + 1e-12))
    gap_before = abs(levels(x) - levels(comp))
    gap_after = abs(levels(fx_normalize(x, sr)) - levels(fx_normalize(comp, sr)))
    assert gap_after <= gap_before


def test_bad_input():
    with pytest.raises(AudioError):
        fx_normalize(np.zeros((2, 44100), np.float32), 44100)
    with pytest.raises(ParameterError):
        FxNormBaseline(envelope_degree=0)
