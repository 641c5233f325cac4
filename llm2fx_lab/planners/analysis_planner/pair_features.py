"""Pair features: what a (dry, reference) pair says about the chain between them.

Most modules are linear (gain, EQ, panner, widener, delay, reverb), so the pair is first
described by linear system identification:

- a 2x2 broadband **channel matrix** ``A`` (reference ~ A @ dry) for gain, pan and width;
- the **transfer function** ``H(f) = S_yx / S_xx`` of the mid signals (Welch, H1 estimator),
  whose magnitude is the EQ curve times the broadband gain (reverb tails are mostly
  incoherent within a window, so they bias it little);
- an **impulse response** between the decimated mid signals by regularised deconvolution:
  its direct gain, echo peaks (delay time, feedback, mix) and late energy and decay (reverb).

Nonlinear modules are seen in **frame-level gain against dry level** (compressor, limiter:
loud frames gain less than quiet ones), in **new harmonics** and in sample-level
**waveshaping** (distortion: ``y ~ g tanh(k x)`` fits sample by sample, a slowly varying gain
does not). The :class:`~llm2fx_lab.analysis.Evidence` of the pair is kept alongside (outside
:meth:`PairFeatures.vector`) so reasoning can quote the quantities it is checked against.

All numbers are plain floats in :class:`PairFeatures` so they can be quoted in reasoning and
fed to small learned models (:meth:`PairFeatures.vector`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.fft
import scipy.signal

from llm2fx_lab.analysis import features as F
from llm2fx_lab.analysis.evidence import compare
from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.errors import AudioError

#: Frequencies (Hz) at which the mid transfer function is sampled (1/6 octave, 31.5 Hz .. 16 kHz).
EQ_FREQS_HZ = 1000.0 * 2.0 ** (np.arange(-30, 25) / 6.0)
#: Rate (Hz) of the decimated signals used for the impulse response.
IR_RATE_HZ = F.ECHO_RATE_HZ
#: Length (s) of impulse response kept.
IR_SECONDS = 2.0
#: Frame (samples at 44.1 kHz scale) for frame-level dynamics.
FRAME_SECONDS = 0.05


@dataclass(frozen=True)
class PairFeatures:
    """Measured relation between a dry clip and its reference (all changes reference - dry).

    Levels in dB, times in seconds; ``eq_db`` is the smoothed mid transfer magnitude at
    :data:`EQ_FREQS_HZ` with the broadband gain removed; ``ir`` the impulse response at
    ``ir_rate`` Hz (direct sound at index 0).
    """

    loudness_change_lu: float
    rms_change_db: float
    matrix: tuple[float, float, float, float]       # A[0,0], A[0,1], A[1,0], A[1,1]
    dry_side_to_mid_db: float
    ref_side_to_mid_db: float
    dry_pan: float
    ref_pan: float
    broadband_gain_db: float
    eq_db: tuple[float, ...]
    coherence: float
    ir_direct: float
    ir_early_db: float
    ir_late_db: float
    ir_decay_seconds: float
    echo_delay_seconds: float
    echo_level: float
    echo_second_level: float
    echo_strength: float
    dyn_slope: float
    dyn_residual_slope: float
    dyn_spread_db: float
    dry_peak_dbfs: float
    ref_peak_dbfs: float
    crest_change_db: float
    harmonics_db: float
    decay_change_seconds: float
    ir: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.zeros(0))
    ir_rate: float = IR_RATE_HZ
    #: the :class:`~llm2fx_lab.analysis.Evidence` of the same pair (not part of :meth:`vector`), so
    #: reasoning can quote the quantities its claims are checked against
    evidence: Any = field(repr=False, compare=False, default=None)
    #: (gain dB of an odd cubic over a linear fit within 10 ms windows, best tanh drive dB,
    #: linear-residual share dB, tanh residual dB): instantaneous waveshaping (see :func:`waveshaping`); not in :meth:`vector`
    waveshape: tuple = field(repr=False, compare=False, default=(0.0, 0.0, -120.0, 0.0))

    def vector(self) -> np.ndarray:
        """All scalar features (and the EQ curve) as one float64 vector, for learned models."""
        d = {f: getattr(self, f) for f in self.__dataclass_fields__ if f not in _NOT_IN_VECTOR}
        out: list[float] = []
        for value in d.values():
            out.extend(np.atleast_1d(np.asarray(value, dtype=np.float64)).tolist())
        return np.nan_to_num(np.asarray(out), nan=0.0, posinf=120.0, neginf=-120.0)

    @classmethod
    def from_vector(cls, vector: np.ndarray) -> "PairFeatures":
        """Rebuild from :meth:`vector` (without the impulse response), e.g. from a feature cache."""
        values: dict[str, Any] = {}
        i = 0
        for f in cls.__dataclass_fields__.values():
            if f.name in _NOT_IN_VECTOR:
                continue
            size = 4 if f.name == "matrix" else EQ_FREQS_HZ.size if f.name == "eq_db" else 1
            chunk = [float(v) for v in vector[i:i + size]]
            values[f.name] = tuple(chunk) if size > 1 else chunk[0]
            i += size
        return cls(**values)

    @staticmethod
    def vector_names() -> list[str]:
        names = []
        for f in PairFeatures.__dataclass_fields__.values():
            if f.name in _NOT_IN_VECTOR:
                continue
            if f.name == "matrix":
                names += [f"matrix_{i}" for i in range(4)]
            elif f.name == "eq_db":
                names += [f"eq_db_{hz:.0f}" for hz in EQ_FREQS_HZ]
            else:
                names.append(f.name)
        return names


_NOT_IN_VECTOR = ("ir", "ir_rate", "evidence", "waveshape")


def _db(x: float, floor: float = 1e-12) -> float:
    return float(10.0 * np.log10(max(float(x), floor)))


def match_pair(dry: Any, reference: Any, max_seconds: float, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Stereo float32 copies of both clips, cropped to a common length of at most ``max_seconds``."""
    x = as_stereo_float32(dry, "dry")
    y = as_stereo_float32(reference, "reference")
    n = min(x.shape[1], y.shape[1], int(max_seconds * sample_rate))
    if n < int(0.25 * sample_rate):
        raise AudioError(f"dry and reference must share at least 0.25 s, got {n / sample_rate:.3f} s")
    return x[:, :n], y[:, :n]


def channel_matrix(x: np.ndarray, y: np.ndarray, step: int = 4) -> np.ndarray:
    """Least-squares 2x2 ``A`` with ``y ~ A @ x`` (ridge-regularised for mono dry clips)."""
    xs, ys = x[:, ::step].astype(np.float64), y[:, ::step].astype(np.float64)
    xx = xs @ xs.T
    ridge = 1e-4 * np.trace(xx) + 1e-12
    return (ys @ xs.T) @ np.linalg.inv(xx + ridge * np.eye(2))


def mid_transfer_db(x: np.ndarray, y: np.ndarray, sample_rate: float) -> tuple[np.ndarray, float]:
    """|H(f)| in dB at :data:`EQ_FREQS_HZ` (1/6-octave smoothed) and the mean coherence."""
    xm = (x[0] + x[1]).astype(np.float64) * 0.5
    ym = (y[0] + y[1]).astype(np.float64) * 0.5
    nper = 4096 if sample_rate > 30000 else 2048
    f, sxx = scipy.signal.welch(xm, sample_rate, nperseg=nper)
    _, syx = scipy.signal.csd(xm, ym, sample_rate, nperseg=nper)
    _, syy = scipy.signal.welch(ym, sample_rate, nperseg=nper)
    out = np.empty(EQ_FREQS_HZ.size)
    coh_num, coh_den = 0.0, 0.0
    for i, fc in enumerate(EQ_FREQS_HZ):
        band = (f >= fc * 2 ** (-1 / 12)) & (f < fc * 2 ** (1 / 12))
        if not band.any():
            band = np.abs(f - fc) == np.abs(f - fc).min()
        sx, sy = sxx[band].sum(), syy[band].sum()
        h = abs(syx[band].sum()) / (sx + 1e-30)
        # where the dry has (almost) no energy the estimate is noise; use the power ratio
        out[i] = 20 * np.log10(max(h, 1e-6)) if sx > 1e-14 else 10 * np.log10((sy + 1e-30) / (sx + 1e-30))
        coh_num += abs(syx[band].sum()) ** 2 / (sy + 1e-30)
        coh_den += sx
    return out, float(min(coh_num / (coh_den + 1e-30), 1.0))


def impulse_response(x: np.ndarray, y: np.ndarray, sample_rate: float,
                     with_residual: bool = False) -> Any:
    """Regularised deconvolution of the decimated mid signals: ``y ~ h * x``; ``h`` of :data:`IR_SECONDS`.

    With ``with_residual`` also returns the frame-level dynamics residual slope: the slope
    of (reference level - linear prediction level) against the prediction's level, which is
    about 0 for linear chains (reverb and delay included) and negative after compression.
    """
    ir = F.deconvolve_mid(x, y, sample_rate)
    d, w, rate, n_fft, big_d = ir.dry_mid, ir.wet_mid, ir.rate, ir.n_fft, ir.dry_spectrum
    h = ir.h[: int(IR_SECONDS * rate)]
    if not with_residual:
        return h, rate
    pred = scipy.fft.irfft(big_d * scipy.fft.rfft(h, n_fft), n_fft)[: d.size]
    n = max(int(FRAME_SECONDS * rate), 8)
    frames = d.size // n
    if frames < 4:
        return h, rate, 0.0
    lp = 10 * np.log10((pred[: frames * n] ** 2).reshape(frames, n).mean(axis=1) + 1e-12)
    lw = 10 * np.log10((w[: frames * n] ** 2).reshape(frames, n).mean(axis=1) + 1e-12)
    keep = lp > lp.max() - 30
    if keep.sum() < 4 or np.ptp(lp[keep]) < 1e-6:
        return h, rate, 0.0
    return h, rate, float(np.polyfit(lp[keep], lw[keep] - lp[keep], 1)[0])


def _echo(h: np.ndarray, rate: float) -> tuple[float, float, float, float]:
    """(delay_s, first echo amplitude, second echo amplitude, peak-to-median strength)."""
    mag = np.abs(h)
    lo, hi = int(0.04 * rate), min(int(0.72 * rate), mag.size - 2)
    region = mag[lo:hi]
    if region.size < 8:
        return 0.0, 0.0, 0.0, 0.0
    i = int(np.argmax(region))
    lag = lo + i
    # a delay of D gives peaks at D, 2D, 3D: if half the lag holds a comparable peak, prefer it
    half = lag // 2
    if half >= lo and mag[max(half - 1, 0):half + 2].max() > 0.5 * mag[lag]:
        lag = half - 1 + int(np.argmax(mag[max(half - 1, 0):half + 2]))
    # a fractional lag spreads the echo over neighbouring samples: sum them (DC gain 1)
    first = abs(float(h[max(lag - 2, 0):lag + 3].sum()))
    second = abs(float(h[2 * lag - 2:2 * lag + 3].sum())) if 2 * lag + 3 < mag.size else 0.0
    strength = first / (float(np.median(region)) + 1e-12)
    return lag / rate, first, second, strength


def late_energy(h: np.ndarray, rate: float) -> float:
    """Diffuse energy of the IR after 50 ms: median power per sample times length (echo
    spikes barely move a median, so a delay alone gives little)."""
    tail = h[int(0.05 * rate): int(1.0 * rate)] ** 2
    return float(np.median(tail) * tail.size) if tail.size else 0.0


def _ir_decay(h: np.ndarray, rate: float) -> float:
    """T60-like time (s) from the slope of the smoothed energy envelope of the late IR."""
    start, stop = int(0.03 * rate), h.size
    env = np.convolve(h[start:stop] ** 2, np.ones(int(0.02 * rate)) / int(0.02 * rate), mode="same")
    env_db = 10 * np.log10(env + 1e-20)
    top = env_db.max()
    valid = env_db > top - 40
    idx = np.nonzero(valid)[0]
    if idx.size < 10:
        return 0.0
    t = idx / rate
    slope = np.polyfit(t, env_db[idx], 1)[0]
    return float(60.0 / -slope) if slope < -1 else 10.0


def waveshaping(x: np.ndarray, y: np.ndarray, sample_rate: float) -> tuple[float, float, float, float]:
    """Instantaneous (sample-level) waveshaping of the mid signal, as from a distortion.

    Within each loud 10 ms window ``y`` is fitted as ``a x`` and as ``a x + b x^3``: a slowly
    varying gain (compressor, limiter) or a linear filter leaves the cubic term nothing to
    explain, a memoryless saturator (``tanh(k x)``) a lot. Returns the energy ratio (dB) of the
    linear to the cubic residual, the ``drive_db`` of the ``tanh`` that best matches the pair
    sample by sample (0 when none fits), and the linear residual re the reference (dB).
    """
    mx = x.astype(np.float64).mean(axis=0)
    my = y.astype(np.float64).mean(axis=0)
    n = max(int(0.01 * sample_rate), 16)
    frames = mx.size // n
    if frames < 8:
        return 0.0, 0.0, -120.0, 0.0
    u = mx[: frames * n].reshape(frames, n)
    v = my[: frames * n].reshape(frames, n)
    e = (u * u).mean(axis=1)
    keep = e > e.max() * 1e-3
    u, v = u[keep], v[keep]
    s = np.sqrt((u * u).mean(axis=1, keepdims=True)) + 1e-12
    a, c = u / s, (u / s) ** 3
    saa, scc, sac = (a * a).sum(1), (c * c).sum(1), (a * c).sum(1)
    say, scy, syy = (a * v).sum(1), (c * v).sum(1), (v * v).sum(1)
    lin = np.maximum(syy - say ** 2 / (saa + 1e-300), 0.0)
    det = saa * scc - sac ** 2
    ka = (scc * say - sac * scy) / (det + 1e-300)
    kc = (saa * scy - sac * say) / (det + 1e-300)
    cub = np.maximum(syy - ka * say - kc * scy, 0.0)
    gain_db = 10 * math.log10((lin.sum() + 1e-300) / (cub.sum() + 1e-300))
    lin_db = 10 * math.log10((lin.sum() + 1e-300) / (syy.sum() + 1e-300))
    # best tanh drive, sample by sample, on the loud windows
    xs, ys = u.ravel(), v.ravel()
    if xs.size > 65536:  # a spread subset is plenty for one parameter
        pick = np.linspace(0, xs.size - 1, 65536).astype(np.int64)
        xs, ys = xs[pick], ys[pick]
    best, best_drive = _db(float(np.sum(lin)) / (float(np.sum(syy)) + 1e-300)), 0.0
    for drive in range(2, 31):
        t = np.tanh(10 ** (drive / 20) * xs)
        # elementwise sums, not BLAS dot products: those stall on a busy shared machine
        g = float(np.sum(t * ys)) / (float(np.sum(t * t)) + 1e-300)
        r = _db(float(np.sum((ys - g * t) ** 2)) / (float(np.sum(ys * ys)) + 1e-300))
        if r < best - 1.0:
            best, best_drive = r, float(drive)
    return float(gain_db), best_drive, float(lin_db), float(best)


def frame_dynamics(x: np.ndarray, y: np.ndarray, sample_rate: float) -> tuple[float, float]:
    """(slope of reference frame level against dry frame level, spread dB of the gain).

    A linear chain gives slope 1 and spread 0; compression gives slope < 1 over loud frames.
    """
    n = max(int(FRAME_SECONDS * sample_rate), 16)
    frames = x.shape[1] // n
    if frames < 4:
        return 1.0, 0.0
    px = (x[:, : frames * n].astype(np.float64) ** 2).reshape(2, frames, n).mean(axis=(0, 2))
    py = (y[:, : frames * n].astype(np.float64) ** 2).reshape(2, frames, n).mean(axis=(0, 2))
    lx, ly = 10 * np.log10(px + 1e-12), 10 * np.log10(py + 1e-12)
    keep = lx > lx.max() - 30
    if keep.sum() < 4 or np.ptp(lx[keep]) < 1e-6:
        return 1.0, 0.0
    slope, intercept = np.polyfit(lx[keep], ly[keep], 1)
    resid = ly[keep] - (slope * lx[keep] + intercept)
    return float(slope), float(np.std(resid))


def pair_features(dry: Any, reference: Any, sample_rate: float, max_seconds: float = 10.0) -> PairFeatures:
    """Measure a (dry, reference) pair.

    Parameters
    ----------
    dry, reference : array_like, shape (samples,) or (channels, samples)
        Mono is duplicated to stereo; both are cropped to their common length (at most
        ``max_seconds``).
    sample_rate : float
        In Hz, of both clips.

    Returns
    -------
    PairFeatures

    Raises
    ------
    AudioError
        Bad shapes, NaN/inf, silence, or less than 0.25 s in common.
    """
    sr = check_sample_rate(sample_rate)
    x, y = match_pair(dry, reference, max_seconds, sr)

    ev = compare(x, y, sr)
    a = channel_matrix(x, y)
    st_x, st_y = F.stereo_measures(x), F.stereo_measures(y)
    eq, coherence = mid_transfer_db(x, y, sr)
    weights = np.ones_like(eq)
    broadband = float(np.median(eq * weights))
    h, rate, residual_slope = impulse_response(x, y, sr, with_residual=True)
    near = max(int(0.003 * rate), 1)
    direct = max(abs(float(h[:3].sum())), float(np.abs(h[:near]).max()))
    e_direct = direct ** 2 + 1e-12
    early = float(np.sum(h[near:int(0.05 * rate)] ** 2))
    late = late_energy(h, rate)
    delay_s, first, second, strength = _echo(h, rate)
    slope, spread = frame_dynamics(x, y, sr)
    peak_x = 20 * np.log10(float(np.abs(x).max()) + 1e-12)
    peak_y = 20 * np.log10(float(np.abs(y).max()) + 1e-12)
    rms_x = _db(np.mean(x.astype(np.float64) ** 2))
    rms_y = _db(np.mean(y.astype(np.float64) ** 2))
    return PairFeatures(
        loudness_change_lu=float(ev.loudness_change_lu),
        rms_change_db=rms_y - rms_x,
        matrix=tuple(float(v) for v in a.ravel()),
        dry_side_to_mid_db=float(st_x["side_to_mid_db"]),
        ref_side_to_mid_db=float(st_y["side_to_mid_db"]),
        dry_pan=float(st_x["pan_position"]),
        ref_pan=float(st_y["pan_position"]),
        broadband_gain_db=broadband,
        eq_db=tuple(float(v) for v in eq - broadband),
        coherence=coherence,
        ir_direct=direct,
        ir_early_db=_db(early / e_direct),
        ir_late_db=_db(late / e_direct),
        ir_decay_seconds=_ir_decay(h, rate),
        echo_delay_seconds=delay_s,
        echo_level=first / (direct + 1e-12),
        echo_second_level=second / (first + 1e-12),
        echo_strength=strength,
        dyn_slope=slope,
        dyn_residual_slope=residual_slope,
        dyn_spread_db=spread,
        dry_peak_dbfs=peak_x,
        ref_peak_dbfs=peak_y,
        crest_change_db=(peak_y - rms_y) - (peak_x - rms_x),
        harmonics_db=float(ev.added_harmonics_db),
        decay_change_seconds=float(ev.decay_change_seconds) if np.isfinite(ev.decay_change_seconds) else 0.0,
        ir=h.astype(np.float32),
        ir_rate=rate,
        evidence=ev,
        waveshape=waveshaping(x, y, sr),
    )
