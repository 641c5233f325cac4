"""Torch versions of the static and linear modules: gain, distortion, panner, stereo widener,
equalizer, delay; plus the FFT helpers the linear modules share.

Every function is pure and batched, in the style of dasp-pytorch's functional API:
``fx(x, sample_rate, param_a, ...)`` with ``x`` of shape ``(batch, channels, samples)``
(float32) and each parameter a number or a tensor of shape ``(batch,)``. Outputs have the
shape of ``x`` and are differentiable with respect to ``x`` and every continuous parameter.

Reference behaviour (see :mod:`llm2fx_lab.fx.render`):

- gain: pedalboard ``Gain`` (``juce::dsp::Gain``, no ramp on a fresh plugin): ``x * 10^(g/20)``;
- distortion: pedalboard ``Distortion``: ``tanh(x * 10^(drive/20))``, no output gain;
- panner, stereo widener: the NumPy formulas of the CPU renderer;
- equalizer: the RBJ biquads of the CPU renderer, applied in the frequency domain with an FFT
  long enough that the impulse response does not wrap around (so it equals the causal IIR);
- delay: pedalboard ``Delay``: the delay is ``int(delay_seconds * sample_rate)`` samples
  (truncated, the float32 value), the line is fed ``x + feedback * wet`` and the output is
  ``(1 - mix) x + mix * wet``; ``delay_seconds == 0`` is the identity and a delay shorter than
  one sample leaves only the dry part. The wet path is the exact geometric series of echoes
  that fit in the output, applied as one FFT filter.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from llm2fx_lab.errors import BackendError, ParameterError
from llm2fx_lab.fx.torch_cpu_kernels import biquad_cascade, feedback_delay

Tensor = torch.Tensor


# --- helpers -------------------------------------------------------------------------------

def fast_len(n: int) -> int:
    """Smallest ``2^a 3^b 5^c >= n``: FFT lengths that every backend transforms quickly."""
    n = max(int(n), 2)
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def as_param(value: Any, batch: int, like: Tensor) -> Tensor:
    """A parameter as a ``(batch,)`` tensor of ``like``'s dtype and device (grad kept)."""
    if not torch.is_tensor(value):
        value = torch.as_tensor(value, dtype=like.dtype)
    value = value.to(device=like.device, dtype=like.dtype)
    if value.ndim == 0:
        value = value.expand(batch)
    return value.reshape(batch)


def _bcast(p: Tensor) -> Tensor:
    return p[:, None, None]


def phasor(freq_bins: Tensor, delays: Tensor, n_fft: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """``exp(-2 pi i k d / n_fft)`` for integer bins ``k`` and integer delays ``d``.

    The phase is reduced modulo ``n_fft`` in integer arithmetic first, so long delays on long
    grids keep full precision even in float32.
    """
    idx = (freq_bins[None, :].to(torch.int64) * delays[:, None].to(torch.int64)) % n_fft
    angle = idx.to(dtype) * (-2.0 * math.pi / n_fft)
    return torch.polar(torch.ones_like(angle), angle)


def fft_filter(x: Tensor, response: Tensor, n_fft: int) -> Tensor:
    """Filter ``x`` (B, C, N) by the frequency response ``response`` (B, F) or (B, C, F).

    ``response`` is sampled on the ``rfft`` grid of length ``n_fft``; the caller picks
    ``n_fft`` so that the implied impulse response does not wrap around within ``N`` samples.
    """
    n = x.shape[-1]
    spec = torch.fft.rfft(x, n_fft)
    if response.ndim == 2:
        response = response[:, None, :]
    return torch.fft.irfft(spec * response.to(spec.dtype), n_fft)[..., :n]


def use_recursive(method: str, x: Tensor, params: list) -> bool:
    """Whether a module with a recursive CPU kernel should use it (see :func:`equalizer`)."""
    if method not in ("auto", "fft", "recursive"):
        raise ParameterError(f"method must be 'auto', 'fft' or 'recursive', got {method!r}")
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or any(
        torch.is_tensor(p) and p.requires_grad for p in params))
    if method == "recursive":
        if x.device.type != "cpu" or needs_grad:
            raise BackendError("method='recursive' runs on the CPU without gradients; use 'fft'")
        return True
    return method == "auto" and x.device.type == "cpu" and not needs_grad


# --- static modules ------------------------------------------------------------------------

def gain(x: Tensor, sample_rate: float, gain_db: Any) -> Tensor:
    """Gain in dB, as pedalboard ``Gain``.

    Parameters
    ----------
    x : Tensor, shape (batch, channels, samples)
    sample_rate : float
        In Hz (unused; kept for the common signature).
    gain_db : float or Tensor (batch,)

    Returns
    -------
    Tensor, shape (batch, channels, samples)
    """
    g = as_param(gain_db, x.shape[0], x)
    return x * _bcast(torch.pow(10.0, g / 20.0))


def distortion(x: Tensor, sample_rate: float, drive_db: Any) -> Tensor:
    """``tanh(x * 10^(drive_db/20))``, as pedalboard ``Distortion``; shapes as :func:`gain`."""
    d = as_param(drive_db, x.shape[0], x)
    return torch.tanh(x * _bcast(torch.pow(10.0, d / 20.0)))


def panner(x: Tensor, sample_rate: float, pan: Any) -> Tensor:
    """Constant-power pan of stereo ``x``: ``theta = (pan + 1) pi / 4``, L cos, R sin."""
    p = as_param(pan, x.shape[0], x)
    theta = (p + 1.0) * (math.pi / 4.0)
    gains = torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
    return x * gains[:, :, None]


def stereo_widener(x: Tensor, sample_rate: float, width: Any) -> Tensor:
    """Mid/side width of stereo ``x``: 0 = mono, 1 = identity, above 1 = wider."""
    w = as_param(width, x.shape[0], x)
    mid = (x[:, 0] + x[:, 1]) * 0.5
    side = (x[:, 0] - x[:, 1]) * (0.5 * w[:, None])
    return torch.stack([mid + side, mid - side], dim=1)


# --- equalizer -----------------------------------------------------------------------------

def rbj_coefficients(kind: str, gain_db: Tensor, freq_hz: Tensor, q_factor: Tensor,
                     sample_rate: float) -> tuple[Tensor, Tensor]:
    """RBJ cookbook biquads, batched: ``b, a`` of shape (batch, 3), normalised by ``a0``.

    Same formulas as :func:`llm2fx_lab.fx.render.rbj_biquad`, including its corner clamp
    to ``0.49 * sample_rate``.
    """
    big_a = torch.pow(10.0, gain_db / 40.0)
    w0 = 2.0 * math.pi * torch.clamp(freq_hz, max=0.49 * sample_rate) / sample_rate
    alpha = torch.sin(w0) / (2.0 * q_factor)
    cos_w0 = torch.cos(w0)
    sq = 2.0 * torch.sqrt(big_a) * alpha
    ap, am = big_a + 1.0, big_a - 1.0
    if kind == "low_shelf":
        b = (big_a * (ap - am * cos_w0 + sq), 2.0 * big_a * (am - ap * cos_w0),
             big_a * (ap - am * cos_w0 - sq))
        a = (ap + am * cos_w0 + sq, -2.0 * (am + ap * cos_w0), ap + am * cos_w0 - sq)
    elif kind == "high_shelf":
        b = (big_a * (ap + am * cos_w0 + sq), -2.0 * big_a * (am + ap * cos_w0),
             big_a * (ap + am * cos_w0 - sq))
        a = (ap - am * cos_w0 + sq, 2.0 * (am - ap * cos_w0), ap - am * cos_w0 - sq)
    else:  # peaking
        b = (1.0 + alpha * big_a, -2.0 * cos_w0, 1.0 - alpha * big_a)
        a = (1.0 + alpha / big_a, -2.0 * cos_w0, 1.0 - alpha / big_a)
    b_t, a_t = torch.stack(b, dim=-1), torch.stack(a, dim=-1)
    return b_t / a_t[:, :1], a_t / a_t[:, :1]


def _decay_samples(a: Tensor, floor: float = 1e-7) -> int:
    """Samples until the slowest pole of ``1 + a1 z^-1 + a2 z^-2`` decays below ``floor``."""
    a_np = a.detach().double().cpu().numpy()
    disc = np.sqrt((a_np[:, 1] ** 2 - 4.0 * a_np[:, 2]).astype(np.complex128))
    worst = float(np.max(np.maximum(np.abs(-a_np[:, 1] + disc), np.abs(-a_np[:, 1] - disc)) / 2.0))
    if worst <= 0.0:
        return 3
    if worst >= 1.0:
        return 1 << 24
    return int(math.ceil(math.log(floor) / math.log(worst))) + 3


def _biquad_response(b: Tensor, a: Tensor, n_fft: int) -> Tensor:
    k = torch.arange(n_fft // 2 + 1, device=b.device, dtype=b.dtype)
    z1 = torch.polar(torch.ones_like(k), k * (-2.0 * math.pi / n_fft))  # e^{-i w}
    z2 = z1 * z1
    num = b[:, 0:1] + b[:, 1:2] * z1 + b[:, 2:3] * z2
    den = a[:, 0:1] + a[:, 1:2] * z1 + a[:, 2:3] * z2
    return num / den


def equalizer(x: Tensor, sample_rate: float, low_gain_db: Any, low_cutoff_freq: Any,
              low_q_factor: Any, mid_gain_db: Any, mid_cutoff_freq: Any, mid_q_factor: Any,
              high_gain_db: Any, high_cutoff_freq: Any, high_q_factor: Any,
              method: str = "auto") -> Tensor:
    """Three-band RBJ equalizer (low shelf -> peaking -> high shelf).

    The coefficients are computed in float64. ``method="fft"`` (differentiable, any device)
    filters in the frequency domain with an FFT longer than the signal plus the time the
    slowest pole needs to decay to 1e-7, so the result equals the causal IIR filter of the CPU
    renderer (``scipy.signal.sosfilt``). ``method="recursive"`` runs the biquads sample by
    sample in a numba kernel (CPU, no gradient). ``"auto"`` picks the recursive kernel on the
    CPU when no gradient is needed, else the FFT.

    Parameters
    ----------
    x : Tensor, shape (batch, channels, samples)
    sample_rate : float
    low_gain_db ... high_q_factor : float or Tensor (batch,)
        As in the toolset spec (dB, Hz, Q).

    Returns
    -------
    Tensor, shape (batch, channels, samples)
    """
    batch, n = x.shape[0], x.shape[-1]
    d = torch.float64

    def p(v):
        return as_param(v, batch, x).to(d)

    bands = (("low_shelf", low_gain_db, low_cutoff_freq, low_q_factor),
             ("peaking", mid_gain_db, mid_cutoff_freq, mid_q_factor),
             ("high_shelf", high_gain_db, high_cutoff_freq, high_q_factor))
    coeffs = [rbj_coefficients(kind, p(g), p(f), p(q), sample_rate) for kind, g, f, q in bands]
    if use_recursive(method, x, [c for pair in coeffs for c in pair]):
        sos = torch.stack([torch.cat([b, a], dim=1) for b, a in coeffs], dim=1)
        xs = x.detach().contiguous()
        out = torch.empty_like(xs, dtype=torch.float32)
        biquad_cascade(xs.to(torch.float32).numpy(), sos.detach().numpy(), out.numpy())
        return out.to(x.dtype)
    decay = max(_decay_samples(a) for _, a in coeffs)
    n_fft = fast_len(n + min(max(decay, 64), 1 << 22))
    h = None
    for b, a in coeffs:
        hb = _biquad_response(b, a, n_fft)
        h = hb if h is None else h * hb
    return fft_filter(x, h if x.dtype == torch.float64 else h.to(torch.complex64), n_fft)


# --- delay ---------------------------------------------------------------------------------

def delay_samples(delay_seconds: Tensor, sample_rate: float) -> np.ndarray:
    """Integer delays as pedalboard computes them: ``int(float32(delay_seconds) * sample_rate)``."""
    secs = delay_seconds.detach().cpu().numpy().astype(np.float32).astype(np.float64)
    return np.floor(secs * float(sample_rate)).astype(np.int64)


def delay(x: Tensor, sample_rate: float, delay_seconds: Any, feedback: Any, mix_ratio: Any,
          method: str = "auto") -> Tensor:
    """Feedback delay, as pedalboard ``Delay(delay_seconds, feedback, mix=mix_ratio)``.

    The wet path is ``sum_{k>=1} feedback^(k-1) x[n - k D]`` with ``D`` whole samples
    (truncated like pedalboard, so ``delay_seconds`` itself has no gradient). ``method="fft"``
    (differentiable, any device) cuts the series at the last echo inside the signal and
    applies it as one exact FFT filter; ``"recursive"`` runs the delay line in a numba kernel
    (CPU, no gradient); ``"auto"`` picks the kernel on the CPU when no gradient is needed.

    Parameters
    ----------
    x : Tensor, shape (batch, channels, samples)
    sample_rate : float
    delay_seconds, feedback, mix_ratio : float or Tensor (batch,)
    method : {"auto", "fft", "recursive"}

    Returns
    -------
    Tensor, shape (batch, channels, samples)
    """
    batch, n = x.shape[0], x.shape[-1]
    secs = as_param(delay_seconds, batch, x)
    fb = as_param(feedback, batch, x)
    mix = as_param(mix_ratio, batch, x)
    d_np = delay_samples(secs, sample_rate)
    identity = torch.as_tensor(secs.detach().cpu().numpy() == 0.0, device=x.device)
    d_np = np.where(d_np >= n, 0, d_np)  # an echo beyond the signal leaves only the dry part
    if use_recursive(method, x, [fb, mix]):
        xs = x.detach().to(torch.float32).contiguous()
        out = torch.empty_like(xs)
        feedback_delay(xs.numpy(), d_np, fb.detach().to(torch.float32).numpy(),
                       mix.detach().to(torch.float32).numpy(), out.numpy())
        return torch.where(identity[:, None, None], x, out.to(x.dtype))
    # echoes k D < n land inside the signal; a longer series would wrap around the FFT
    echoes = np.where(d_np > 0, (n - 1) // np.maximum(d_np, 1), 0)
    n_fft = fast_len(2 * n)
    bins = torch.arange(n_fft // 2 + 1, device=x.device)
    dd = torch.as_tensor(d_np, device=x.device)
    real = torch.float64 if x.dtype == torch.float64 else torch.float32
    cplx = torch.complex128 if real == torch.float64 else torch.complex64
    zd = phasor(bins, dd, n_fft, real)
    zdk = phasor(bins, dd * torch.as_tensor(echoes, device=x.device), n_fft, real)
    k = torch.as_tensor(echoes, device=x.device, dtype=x.dtype)
    fb_k = torch.where(k > 0, torch.pow(fb, k), torch.zeros_like(fb)).to(cplx)[:, None]
    wet_h = zd * (1.0 - fb_k * zdk) / (1.0 - fb.to(cplx)[:, None] * zd)
    wet_h = torch.where(torch.as_tensor(d_np > 0, device=x.device)[:, None], wet_h,
                        torch.zeros_like(wet_h))
    h = (1.0 - mix).to(cplx)[:, None] + mix.to(cplx)[:, None] * wet_h
    y = fft_filter(x, h, n_fft)
    return torch.where(identity[:, None, None], x, y)
