"""CPU renderer against closed forms and the official frequency-sampling EQ."""

import math

import numpy as np
import pytest

from llm2fx_lab.errors import AudioError, BackendError, ParameterError, ToolCallError
from llm2fx_lab.examples import load_example
from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.fx.render import (
    equalizer,
    equalizer_frequency_sampling,
    rbj_biquad,
    render,
    render_stages,
)
from llm2fx_lab.fx.spec import ALL_PARAMS, MODULE_NAMES, TOOLSET
from tests.conftest import SR, sine, snr_db


def one(name, **args):
    return Chain.from_tool_calls([{"name": name, "arguments": args}])


def rms_db(x):
    return 20 * np.log10(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def test_gain_minus_6_02_db_halves_amplitude(noise):
    y = render(noise, SR, one("gain", gain_db=-20 * math.log10(2)))
    np.testing.assert_allclose(y, noise * 0.5, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("pan, left, right", [(-1, 1.0, 0.0), (0, math.sqrt(0.5), math.sqrt(0.5)), (1, 0.0, 1.0)])
def test_constant_power_pan(noise, pan, left, right):
    y = render(noise, SR, one("panner", pan=pan))
    np.testing.assert_allclose(y[0], noise[0] * left, atol=1e-7)
    np.testing.assert_allclose(y[1], noise[1] * right, atol=1e-7)


def test_widener_width_zero_is_mono_and_one_is_identity(noise):
    mono = render(noise, SR, one("stereo_widener", width=0))
    np.testing.assert_allclose(mono[0], mono[1])
    np.testing.assert_allclose(mono[0], noise.mean(axis=0), atol=1e-7)
    np.testing.assert_allclose(render(noise, SR, one("stereo_widener", width=1)), noise, atol=1e-7)


def _eq(**bands):
    args = {"low_gain_db": 0, "mid_gain_db": 0, "high_gain_db": 0}
    args.update(bands)
    return one("equalizer", **args)


def _tone_gain_db(chain, freq_hz):
    x = sine(freq_hz, seconds=1.0, amplitude=0.1)
    y = render(x, SR, chain)
    settle = SR // 2  # skip the filter's transient
    return rms_db(y[:, settle:]) - rms_db(x[:, settle:])


@pytest.mark.parametrize("gain_db", [-12.0, 9.0])
def test_peaking_band_gain_at_its_centre(gain_db):
    assert _tone_gain_db(_eq(mid_gain_db=gain_db, mid_cutoff_freq=1000, mid_q_factor=2), 1000) == \
        pytest.approx(gain_db, abs=0.05)


def test_shelves_full_gain_far_away_and_half_gain_at_the_corner():
    # RBJ shelves: |H| = A^2 (full gain) far inside the shelf, A (half the dB gain) at f0.
    low = _eq(low_gain_db=12, low_cutoff_freq=400, low_q_factor=0.707)
    assert _tone_gain_db(low, 20) == pytest.approx(12, abs=0.1)
    assert _tone_gain_db(low, 400) == pytest.approx(6, abs=0.1)
    assert _tone_gain_db(low, 15000) == pytest.approx(0, abs=0.05)
    high = _eq(high_gain_db=-10, high_cutoff_freq=5000, high_q_factor=0.707)
    assert _tone_gain_db(high, 5000) == pytest.approx(-5, abs=0.1)
    assert _tone_gain_db(high, 20000) == pytest.approx(-10, abs=0.2)
    assert _tone_gain_db(high, 100) == pytest.approx(0, abs=0.05)


def test_rbj_response_matches_textbook_values_on_a_grid():
    # |H(e^jw)| of the peaking biquad at w0 equals A^2 exactly; check via the polynomial.
    b, a = rbj_biquad("peaking", 6.0, 2000.0, 1.0, SR)
    w0 = 2 * np.pi * 2000 / SR
    z = np.exp(-1j * w0 * np.arange(3))
    assert 20 * np.log10(abs(np.dot(b, z) / np.dot(a, z))) == pytest.approx(6.0, abs=1e-9)
    with pytest.raises(ParameterError):
        rbj_biquad("peaking", 6.0, 2000.0, 0.0, SR)


def test_fast_eq_matches_official_frequency_sampling_over_60_db():
    rng = np.random.default_rng(3)
    x, sr = load_example("mix")
    x = x[:, : 4 * SR]
    eq = TOOLSET["equalizer"]
    worst = math.inf
    for _ in range(6):
        params = {p.name: float(rng.uniform(p.lowest_valid, p.maximum)) for p in eq.params}
        worst = min(worst, snr_db(equalizer_frequency_sampling(x, sr, **params), equalizer(x, sr, **params)))
    assert worst >= 60, worst


def test_delay_impulse_response():
    x = np.zeros((2, SR), np.float32)
    x[:, 0] = 1.0
    y = render(x, SR, one("delay", delay_seconds=0.25, feedback=0.5, mix_ratio=0.4))
    d = SR // 4
    # dry at (1 - mix), then echoes every 0.25 s with mix * feedback^(k-1)
    np.testing.assert_allclose(y[0, [0, d, 2 * d, 3 * d]], [0.6, 0.4, 0.2, 0.1], atol=1e-6)
    mask = np.ones(SR, bool)
    mask[[0, d, 2 * d, 3 * d]] = False
    assert np.max(np.abs(y[0, mask])) < 1e-6


def test_compressor_ratio_one_is_identity(noise):
    y = render(noise * 4, SR, one("compressor", threshold_db=-40, ratio=1, attack_ms=1, release_ms=50))
    np.testing.assert_allclose(y, noise * 4, atol=1e-6)


def test_compressor_reduces_loud_signal(noise):
    y = render(noise * 4, SR, one("compressor", threshold_db=-30, ratio=8, attack_ms=1, release_ms=50))
    assert rms_db(y) < rms_db(noise * 4) - 6


def test_distortion_zero_drive_is_tanh():
    x = np.linspace(-3, 3, 2001, dtype=np.float32)[None].repeat(2, 0)
    np.testing.assert_allclose(render(x, SR, one("distortion", drive_db=0)), np.tanh(x), atol=1e-6)
    y = render(x, SR, one("distortion", drive_db=12))
    np.testing.assert_allclose(y, np.tanh(x * 10 ** (12 / 20)), atol=1e-5)


def test_pedalboard_reverb_dry_path_is_twice_dry_level(noise):
    # Pinned pedalboard/JUCE behaviour: mix_ratio 0 -> dry_level 1 -> dry scaled by 2 (+6.02 dB).
    y = render(noise, SR, one("reverb", mix_ratio=0.0))
    np.testing.assert_allclose(y, noise * 2, atol=1e-5)
    half = render(noise, SR, one("reverb", mix_ratio=0.5, room_size=0.0))
    assert rms_db(half) > rms_db(noise)  # dry at unity plus wet


def test_pedalboard_limiter_adds_make_up_gain():
    x = np.full((2, SR // 10), 0.001, np.float32)  # -60 dBFS, far below the threshold
    y = render(x, SR, one("limiter", threshold_db=-1, release_ms=100))
    assert 20 * np.log10(y[0, -1] / x[0, -1]) == pytest.approx(4.75, abs=0.1)


def test_order_matters_for_a_non_commuting_pair(noise):
    a = Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": 12}}, {"name": "distortion", "arguments": {"drive_db": 6}}])
    b = Chain.from_tool_calls(list(reversed(a.to_tool_calls())))
    assert snr_db(render(noise, SR, a), render(noise, SR, b)) < 20


def test_commuting_pair_gives_the_same_output(noise):
    a = Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": 6}}, {"name": "panner", "arguments": {"pan": 0.3}}])
    b = Chain.from_tool_calls(list(reversed(a.to_tool_calls())))
    np.testing.assert_allclose(render(noise, SR, a), render(noise, SR, b), atol=1e-6)


def _full_chain(rng):
    order = rng.permutation(MODULE_NAMES)
    return Chain.from_tool_calls([
        {"name": n, "arguments": {p.name: float(rng.uniform(p.lowest_valid, p.maximum)) for p in TOOLSET[n].params}}
        for n in order
    ])


def test_render_is_bit_identical_twice():
    x, sr = load_example("drums")
    chain = _full_chain(np.random.default_rng(1))
    a = render(x[:, : 2 * SR], sr, chain)
    b = render(x[:, : 2 * SR], sr, chain)
    assert a.dtype == np.float32 and a.shape == (2, 2 * SR)
    assert np.array_equal(a, b)


def test_tail_keeps_the_reverb_decay(noise):
    chain = one("reverb", room_size=0.9, mix_ratio=0.8)
    y = render(noise, SR, chain, tail_seconds=1.5)
    assert y.shape == (2, SR + int(1.5 * SR))
    assert rms_db(y[:, SR: SR + SR // 4]) > -60


def test_render_stages_match_render_and_skip_bypassed(noise):
    chain = Chain.from_tool_calls([
        {"name": "gain", "arguments": {"gain_db": 6}},
        {"name": "panner", "arguments": {"pan": -0.5}},
        {"name": "distortion", "arguments": {"drive_db": 10}},
    ]).with_bypass("panner")
    stages = render_stages(noise, SR, chain, tail_seconds=0.1)
    assert [s[0] for s in stages] == ["input", "gain", "panner", "distortion"]
    assert stages[2][1] is stages[1][1]
    np.testing.assert_array_equal(stages[-1][1], render(noise, SR, chain, tail_seconds=0.1))


def test_mono_is_duplicated_to_stereo():
    x = sine(440)[0]
    y = render(x, SR, one("gain", gain_db=0))
    assert y.shape == (2, x.shape[0])
    np.testing.assert_allclose(y[0], y[1])


@pytest.mark.parametrize("rate", [8000, 22050, 48000, 96000])
def test_any_sample_rate(rate):
    rng = np.random.default_rng(rate)
    x = (0.1 * rng.standard_normal((2, rate // 2))).astype(np.float32)
    y = render(x, rate, _full_chain(rng))
    assert y.shape == x.shape and np.isfinite(y).all()


def test_empty_chain_is_identity(noise):
    np.testing.assert_array_equal(render(noise, SR, []), noise)


@pytest.mark.parametrize("audio, match", [
    (np.zeros((3, 100), np.float32), "1 or 2 channels, got 3"),
    (np.zeros((100, 2), np.float32), "transpose"),
    (np.zeros((2, 0), np.float32), "empty"),
    (np.full((2, 10), np.nan, np.float32), "NaN"),
    (np.zeros((1, 2, 3), np.float32), "shape"),
    ("loud", "numeric array"),
])
def test_bad_audio(audio, match):
    with pytest.raises(AudioError, match=match):
        render(audio, SR, [])


def test_bad_arguments(noise):
    with pytest.raises(AudioError, match="sample_rate"):
        render(noise, 0, [])
    with pytest.raises(ParameterError, match="tail_seconds"):
        render(noise, SR, [], tail_seconds=-1)
    with pytest.raises(BackendError, match="backend must be"):
        render(noise, SR, [], backend="gpu")
    with pytest.raises(ToolCallError, match="unknown module"):
        render(noise, SR, [{"name": "flanger"}])


def test_every_parameter_edge_renders_finite():
    x = sine(1000, seconds=0.25)
    for p in ALL_PARAMS:
        for value in (p.lowest_valid, p.maximum):
            y = render(x, SR, one(p.module, **{p.name: value}))
            assert np.isfinite(y).all(), (p.qualified_name, value)
