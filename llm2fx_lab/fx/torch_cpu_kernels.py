"""Recursive (time-domain) numba kernels: the CPU fast path of the torch renderer.

On the CPU, when no gradient is needed, running the equalizer's biquads and the Freeverb
network sample by sample (as the CPU renderer and JUCE do) is several times cheaper than the
long FFTs the differentiable path needs. Both paths compute the same linear filters; the
tests check each against the CPU renderer and against each other.
"""

from __future__ import annotations

import os

import numba
import numpy as np

#: Whether the kernels use numba's thread pool (over batch x channels). Only on machines with
#: many cores: on a few cores, numba's and torch's OpenMP workers busy-wait against each other
#: between calls and slow every op around the kernels (docs/decisions.md); there the kernels
#: run in the calling thread and :func:`llm2fx_lab.fx.torch_render.render_torch` keeps torch to
#: one thread.
PARALLEL = (os.cpu_count() or 1) >= 8


@numba.njit(parallel=PARALLEL, cache=True)
def biquad_cascade(x, sos, out):  # pragma: no cover - compiled
    """Second-order sections (direct form II transposed, float64), like ``sosfilt``.

    x, out : (batch, channels, samples) float32; sos : (batch, sections, 6) float64.
    """
    batch, channels, n = x.shape
    sections = sos.shape[1]
    for job in numba.prange(batch * channels):
        b = job // channels
        c = job % channels
        z1 = np.zeros(sections)
        z2 = np.zeros(sections)
        for t in range(n):
            v = np.float64(x[b, c, t])
            for s in range(sections):
                y = sos[b, s, 0] * v + z1[s]
                z1[s] = sos[b, s, 1] * v - sos[b, s, 4] * y + z2[s]
                z2[s] = sos[b, s, 2] * v - sos[b, s, 5] * y
                v = y
            out[b, c, t] = v


@numba.njit(parallel=PARALLEL, cache=True)
def freeverb(x, feedback, damp, wet1, wet2, dry, comb_lengths, allpass_lengths, input_gain, out):  # pragma: no cover
    """Freeverb as ``juce::Reverb::processStereo`` with constant parameters (float32 state).

    x, out : (batch, 2, samples) float32; feedback, damp, wet1, wet2, dry : (batch,);
    comb_lengths : (2, 8) int64; allpass_lengths : (2, 4) int64.
    """
    batch, _, n = x.shape
    max_comb = comb_lengths.max()
    max_ap = allpass_lengths.max()
    for b in numba.prange(batch):
        comb_buf = np.zeros((2, 8, max_comb), np.float32)
        comb_idx = np.zeros((2, 8), np.int64)
        comb_last = np.zeros((2, 8), np.float32)
        ap_buf = np.zeros((2, 4, max_ap), np.float32)
        ap_idx = np.zeros((2, 4), np.int64)
        fb = np.float32(feedback[b])
        d = np.float32(damp[b])
        one_minus_d = np.float32(1.0) - d
        w1, w2, dr = np.float32(wet1[b]), np.float32(wet2[b]), np.float32(dry[b])
        g = np.float32(input_gain)
        half = np.float32(0.5)
        for t in range(n):
            left, right = x[b, 0, t], x[b, 1, t]
            inp = (left + right) * g
            o0 = np.float32(0.0)
            o1 = np.float32(0.0)
            for ch in range(2):
                acc = np.float32(0.0)
                for j in range(8):
                    i = comb_idx[ch, j]
                    y = comb_buf[ch, j, i]
                    last = y * one_minus_d + comb_last[ch, j] * d
                    comb_last[ch, j] = last
                    comb_buf[ch, j, i] = inp + last * fb
                    i += 1
                    comb_idx[ch, j] = 0 if i >= comb_lengths[ch, j] else i
                    acc += y
                for j in range(4):
                    i = ap_idx[ch, j]
                    buffered = ap_buf[ch, j, i]
                    ap_buf[ch, j, i] = acc + buffered * half
                    i += 1
                    ap_idx[ch, j] = 0 if i >= allpass_lengths[ch, j] else i
                    acc = buffered - acc
                if ch == 0:
                    o0 = acc
                else:
                    o1 = acc
            out[b, 0, t] = o0 * w1 + o1 * w2 + left * dr
            out[b, 1, t] = o1 * w1 + o0 * w2 + right * dr


@numba.njit(parallel=PARALLEL, cache=True)
def feedback_delay(x, delays, feedback, mix, out):  # pragma: no cover - compiled
    """pedalboard ``Delay``: ``w = x + fb w[n-D]``, ``out = (1 - mix) x + mix w[n-D]``.

    x, out : (batch, channels, samples) float32; delays : (batch,) int64 (0: dry only).
    """
    batch, channels, n = x.shape
    for job in numba.prange(batch * channels):
        b = job // channels
        c = job % channels
        d = delays[b]
        dry = np.float32(1.0) - mix[b]
        wet = mix[b]
        fb = feedback[b]
        w = np.zeros(n, np.float32)
        for t in range(n):
            delayed = w[t - d] if (d > 0 and t >= d) else np.float32(0.0)
            w[t] = x[b, c, t] + fb * delayed
            out[b, c, t] = x[b, c, t] * dry + wet * delayed


@numba.njit(parallel=PARALLEL, cache=True)
def compressor(x, threshold, exponent, c_att, c_rel, out):  # pragma: no cover - compiled
    """``juce::dsp::Compressor`` per channel: peak ballistics envelope, then
    ``gain = (env / threshold)^exponent`` above the threshold (``exponent = 1/ratio - 1``).

    x, out : (batch, channels, samples) float32; the other arguments (batch,) float64.
    """
    batch, channels, n = x.shape
    for job in numba.prange(batch * channels):
        b = job // channels
        c = job % channels
        thr, ex, ca, cr = threshold[b], exponent[b], c_att[b], c_rel[b]
        inv_thr = 1.0 / thr
        e = 0.0
        for t in range(n):
            v = np.float64(x[b, c, t])
            s = abs(v)
            k = ca if s > e else cr
            e = s + k * (e - s)
            g = 1.0 if e < thr else (e * inv_thr) ** ex
            out[b, c, t] = v * g
