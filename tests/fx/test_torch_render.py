"""Torch renderer vs the CPU (pedalboard) reference: per-module and whole-chain parity,
batching, the render() backend switch, devices and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from llm2fx_lab.errors import AudioError, BackendError, ParameterError, ToolCallError
from llm2fx_lab.fx import torch_render
from llm2fx_lab.fx.render import render
from llm2fx_lab.fx.spec import MODULE_NAMES
from llm2fx_lab.fx.torch_render import render_params, render_torch
from tests.fx.conftest_torch import DEVICES, SR, gain_reduction_rms_db, random_args, random_chain, real_clip, snr_db

#: Minimum SNR (dB) of the torch output against the CPU renderer, per module (issue #4).
SNR_BARS = {"gain": 60, "distortion": 60, "panner": 60, "stereo_widener": 60, "equalizer": 60,
            "delay": 60, "reverb": 40, "compressor": 30, "limiter": 30}
DRAWS = 3
SECONDS = 1.5
TAIL = 0.5


def _render_both(x, chain, device, differentiable):
    ref = render(x, SR, chain, tail_seconds=TAIL)
    xt = torch.from_numpy(x[None]).requires_grad_(differentiable)
    est = render_torch(xt, SR, [chain], device=device, tail_seconds=TAIL)[0].detach().cpu().numpy()
    return ref, est


@pytest.mark.parametrize("device,differentiable", [("cpu", False), ("cpu", True),
                                                   *[pytest.param("cuda", True, marks=d.marks)
                                                     for d in DEVICES[1:]]])
@pytest.mark.parametrize("name", MODULE_NAMES)
def test_module_parity(name, device, differentiable):
    """Both paths: the differentiable one (FFT filters, autograd envelope) and, on the CPU
    without gradients, the recursive numba kernels."""
    rng = np.random.default_rng(MODULE_NAMES.index(name))
    for draw in range(DRAWS):
        x = real_clip(SECONDS, index=draw)
        chain = [{"name": name, "arguments": random_args(name, rng)}]
        ref, est = _render_both(x, chain, device, differentiable)
        assert est.shape == ref.shape
        snr = snr_db(ref, est)
        assert snr >= SNR_BARS[name], (chain, snr)
        if name in ("compressor", "limiter"):
            xp = np.pad(x, ((0, 0), (0, ref.shape[1] - x.shape[1])))
            assert gain_reduction_rms_db(xp, ref, est) <= 0.5, chain


@pytest.mark.parametrize("device", DEVICES)
def test_random_chains_batched(device):
    """Chains of lengths 1..9 in one batch (different modules and orders) vs one CPU render each."""
    rng = np.random.default_rng(123)
    chains = [random_chain(rng, n) for n in range(1, 10)]
    x = np.stack([real_clip(1.0, index=i) for i in range(len(chains))])
    xt = torch.from_numpy(x.copy())
    est = render_torch(xt, SR, chains, device=device).cpu().numpy()
    np.testing.assert_array_equal(xt.numpy(), x)  # the caller's tensor is not written to
    for i, chain in enumerate(chains):
        ref = render(x[i], SR, chain)
        assert snr_db(ref, est[i]) >= 30, chain


def test_short_delay_and_edge_cases_match_pedalboard():
    x = real_clip(0.3)
    for secs in (0.0, 1e-5, 0.001, 0.0100, 0.29):
        chain = [{"name": "delay", "arguments": {"delay_seconds": secs, "feedback": 0.6, "mix_ratio": 0.7}}]
        for differentiable in (False, True):
            ref, est = _render_both(x, chain, "cpu", differentiable)
            assert snr_db(ref, est) >= 60, (secs, differentiable)


def test_fft_and_recursive_paths_agree():
    """The differentiable (FFT) and the CPU kernel paths, with echoes and tails that would wrap
    around a too-short FFT (no zero tail to hide them)."""
    from llm2fx_lab.fx import torch_modules as tm
    from llm2fx_lab.fx.torch_reverb import reverb

    x = torch.from_numpy(real_clip(0.3, index=1))[None]
    for secs in (0.001, 0.11, 0.16, 0.29):
        a = tm.delay(x, SR, secs, 0.6, 0.7, method="fft")
        b = tm.delay(x, SR, secs, 0.6, 0.7, method="recursive")
        assert snr_db(b.numpy(), a.numpy()) >= 60, secs
    eq = dict(low_gain_db=12, low_cutoff_freq=3, low_q_factor=6, mid_gain_db=-9, mid_cutoff_freq=300,
              mid_q_factor=6, high_gain_db=8, high_cutoff_freq=19000, high_q_factor=4)
    a, b = tm.equalizer(x, SR, **eq, method="fft"), tm.equalizer(x, SR, **eq, method="recursive")
    assert snr_db(b.numpy(), a.numpy()) >= 60
    a, b = reverb(x, SR, 0.9, 0.0, 0.7, 1.0, method="fft"), reverb(x, SR, 0.9, 0.0, 0.7, 1.0, method="recursive")
    assert snr_db(b.numpy(), a.numpy()) >= 60


def test_render_backend_switch_and_mono():
    x = real_clip(0.5)[:1]  # mono: duplicated to stereo by both renderers
    chain = [{"name": "reverb", "arguments": {"room_size": 0.5, "mix_ratio": 0.4}},
             {"name": "gain", "arguments": {"gain_db": -3}}]
    ref = render(x, SR, chain, tail_seconds=0.2)
    est = render(x, SR, chain, tail_seconds=0.2, backend="torch", device="cpu")
    assert est.dtype == np.float32 and est.shape == ref.shape == (2, x.shape[1] + round(0.2 * SR))
    assert snr_db(ref, est) >= 40
    y = render_torch(torch.from_numpy(x[None]), SR, [chain], device="cpu", tail_seconds=0.2)
    assert y.shape == (1, 2, x.shape[1] + round(0.2 * SR))


def test_bypass_and_empty_chain():
    x = real_clip(0.2)
    from llm2fx_lab.fx.chain import Chain

    chain = Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": 6}, "bypass": True}])
    y = render_torch(x[None], SR, [chain, []][:1], device="cpu")
    np.testing.assert_array_equal(y[0].numpy(), x)
    y = render_torch(np.stack([x, x]), SR, [[], [{"name": "gain", "arguments": {"gain_db": -6.0206}}]],
                     device="cpu")
    np.testing.assert_allclose(y[1].numpy(), x * 0.5, atol=1e-6)
    np.testing.assert_array_equal(y[0].numpy(), x)


def test_closed_forms():
    x = torch.ones(1, 2, 1000)
    from llm2fx_lab.fx import torch_modules as tm

    assert torch.allclose(tm.gain(x, SR, -6.0206), 0.5 * x, atol=1e-5)
    y = tm.panner(x, SR, torch.tensor([0.0]))
    assert torch.allclose(y, x * 2 ** -0.5, atol=1e-6)
    impulse = torch.zeros(1, 1, 1000)
    impulse[..., 0] = 1
    y = tm.delay(impulse, SR, 0.001, 0.5, 1.0)  # 44 samples, echoes 1, 0.5, 0.25, ...
    np.testing.assert_allclose(y[0, 0, [0, 44, 88, 132]].numpy(), [0, 1, 0.5, 0.25], atol=1e-6)


def test_bad_input_is_rejected_before_work():
    x = np.zeros((2, 2, 100), np.float32)
    gain = [{"name": "gain", "arguments": {"gain_db": 1}}]
    with pytest.raises(AudioError, match="batch size 2 but 1"):
        render_torch(x, SR, [gain], device="cpu")
    with pytest.raises(AudioError, match="shape"):
        render_torch(x[0], SR, [gain, gain], device="cpu")
    with pytest.raises(AudioError, match="1 or 2 channels"):
        render_torch(np.zeros((1, 3, 100), np.float32), SR, [gain], device="cpu")
    with pytest.raises(AudioError, match="NaN"):
        render_torch(np.full((1, 2, 10), np.nan, np.float32), SR, [gain], device="cpu")
    with pytest.raises(ToolCallError, match="unknown module"):
        render_torch(x, SR, [gain, [{"name": "flanger", "arguments": {}}]], device="cpu")
    with pytest.raises(ParameterError, match="finite"):
        render_torch(x, SR, [gain, [{"name": "gain", "arguments": {"gain_db": float("nan")}}]], device="cpu")
    with pytest.raises(BackendError, match="one chain per batch item"):
        render_torch(x, SR, gain, device="cpu")
    with pytest.raises(BackendError, match="device"):
        render_torch(x[:1], SR, [gain], device="tpu")
    with pytest.raises(ParameterError, match="tail_seconds"):
        render_torch(x[:1], SR, [gain], device="cpu", tail_seconds=-1)
    with pytest.raises(ParameterError, match="finite"):
        render_params(x, SR, ["gain"], {"gain": {"gain_db": torch.tensor([1.0, float("nan")])}}, device="cpu")
    with pytest.raises(ParameterError, match="shape"):
        render_params(x, SR, ["gain"], {"gain": {"gain_db": torch.zeros(3)}}, device="cpu")
    with pytest.raises(ParameterError, match="no parameter"):
        render_params(x, SR, ["gain"], {"gain": {"gain": 1.0}}, device="cpu")
    nan = np.full((1, 2, 10), np.nan, np.float32)
    with pytest.raises(AudioError, match="NaN"):
        render_params(nan, SR, ["gain"], device="cpu")
    # a caller rendering its own (already checked) renders again may skip the scan
    assert torch.isnan(render_params(nan, SR, ["gain"], device="cpu", scan_audio=False)).all()
    with pytest.raises(ToolCallError, match="unknown module"):
        render_params(x, SR, ["chorus"], device="cpu")
    with pytest.raises(ParameterError, match="not in the chain"):
        render_params(x, SR, ["gain"], {"reverb": {"mix_ratio": 0.5}}, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA behaviour")
def test_device_fallback_without_cuda(monkeypatch):
    x = np.zeros((1, 2, 10), np.float32)
    with pytest.raises(BackendError, match="CUDA is not available"):
        render_torch(x, SR, [[]], device="cuda")
    monkeypatch.setattr(torch_render, "_WARNED_AUTO", False)
    with pytest.warns(RuntimeWarning, match="CUDA is not available"):
        y = render_torch(x, SR, [[]], device="auto")
    assert y.device.type == "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        render_torch(x, SR, [[]], device="auto")  # warns once per process only


def test_import_does_not_load_torch():
    import subprocess
    import sys

    code = "import sys, llm2fx_lab.fx; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
