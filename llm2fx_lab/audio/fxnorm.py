"""Fx-normalisation: bring a clip towards a common baseline to make a pseudo-dry signal.

In the spirit of the Fx-normalisation of music mixing style transfer work (FxNorm-automix,
Martinez-Ramirez et al. 2022), used by LLM2Fx-Tools as robust preprocessing: a processed
clip is normalised in four stages so that recording and processing differences shrink,
and a model that gets no dry clip (blind estimation) can compare the reference with its
normalised self. The same function must run in training and at inference.

Stages, each towards :class:`FxNormBaseline`:

1. **stereo image**: equal left/right energy, and the side/mid energy ratio set to the
   baseline (only where there is a side signal at all);
2. **spectral envelope**: the average spectrum, smoothed to a low-order curve over
   log-frequency, is corrected towards the baseline curve (a zero-phase filter whose gain
   is limited to ``max_eq_db``), so broad tonal balance (shelves, tilts) is removed while
   an instrument's own formants stay;
3. **dynamics**: where the spread of short-term levels exceeds the baseline, a smooth
   gain pulls loud frames towards the median (downward only; quiet parts are never raised);
4. **loudness**: integrated loudness to the baseline (-12 LUFS, the reference's target),
   then clipped to [-1, 1] as the reference does.

Audio is ``(channels, samples)`` float32; mono is duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft

from llm2fx_lab.audio.checks import SILENCE_PEAK, as_stereo_float32, check_sample_rate
from llm2fx_lab.audio.loudness import integrated_loudness_lufs
from llm2fx_lab.errors import AudioError, ParameterError


@dataclass(frozen=True)
class FxNormBaseline:
    """The common baseline every clip is normalised towards.

    Attributes
    ----------
    loudness_lufs : float
        Target integrated loudness (-12 LUFS, as the reference's preprocessing).
    side_to_mid_db : float
        Target side/mid energy ratio in dB (dry stems are nearly mono).
    tilt_db_per_octave : float
        Slope of the target spectral envelope over log-frequency (-3 dB/octave: pink).
    envelope_degree : int
        Degree of the polynomial (in log-frequency) that models the spectral envelope.
    max_eq_db : float
        Largest boost or cut the envelope correction may apply, in dB.
    level_spread_db : float
        Target standard deviation of active 50 ms frame levels, in dB.
    min_freq_hz, max_freq_hz : float
        Band over which the envelope is fitted and corrected.
    """

    loudness_lufs: float = -12.0
    side_to_mid_db: float = -20.0
    tilt_db_per_octave: float = -3.0
    envelope_degree: int = 5
    max_eq_db: float = 30.0
    level_spread_db: float = 5.0
    min_freq_hz: float = 40.0
    max_freq_hz: float = 16000.0

    def __post_init__(self) -> None:
        if self.envelope_degree < 1 or self.max_eq_db <= 0 or self.level_spread_db <= 0:
            raise ParameterError(
                "FxNormBaseline needs envelope_degree >= 1, max_eq_db > 0 and level_spread_db > 0, got "
                f"{self.envelope_degree}, {self.max_eq_db}, {self.level_spread_db}")
        if not 0 < self.min_freq_hz < self.max_freq_hz:
            raise ParameterError(f"need 0 < min_freq_hz < max_freq_hz, got {self.min_freq_hz}, {self.max_freq_hz}")


DEFAULT_BASELINE = FxNormBaseline()
_N_FFT = 4096


def _energy(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def normalize_stereo(x: np.ndarray, baseline: FxNormBaseline = DEFAULT_BASELINE) -> np.ndarray:
    """Equal L/R energy, then side/mid energy ratio set to ``baseline.side_to_mid_db``."""
    x = as_stereo_float32(x).astype(np.float64)
    e_l, e_r = _energy(x[0]), _energy(x[1])
    if e_l > 0 and e_r > 0:
        mean = 0.5 * (e_l + e_r)
        x = np.stack([x[0] * np.sqrt(mean / e_l), x[1] * np.sqrt(mean / e_r)])
    mid, side = 0.5 * (x[0] + x[1]), 0.5 * (x[0] - x[1])
    e_mid, e_side = _energy(mid), _energy(side)
    if e_mid > 0 and e_side > 1e-9 * e_mid:
        side = side * np.sqrt(10 ** (baseline.side_to_mid_db / 10) * e_mid / e_side)
    return np.stack([mid + side, mid - side]).astype(np.float32)


def spectral_envelope_db(x: Any, sample_rate: float, baseline: FxNormBaseline = DEFAULT_BASELINE
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average power spectrum (dB) and its smooth model over log-frequency.

    Returns
    -------
    freqs_hz : ndarray (bins,)
    level_db : ndarray (bins,)
        Mean power over frames and channels, in dB (Hann, 4096 points, hop 2048).
    smooth_db : ndarray (bins,)
        Power-weighted least-squares polynomial of ``level_db`` in ``log2(f)`` of degree
        ``baseline.envelope_degree``, fitted within ``[min_freq_hz, max_freq_hz]`` and held
        constant outside.
    """
    sr = check_sample_rate(sample_rate)
    x = as_stereo_float32(x)
    n = x.shape[1]
    if n < _N_FFT:
        x = np.pad(x, ((0, 0), (0, _N_FFT - n)))
    frames = np.lib.stride_tricks.sliding_window_view(x, _N_FFT, axis=-1)[:, ::_N_FFT // 2]
    spec = scipy.fft.rfft(frames * np.hanning(_N_FFT).astype(np.float32), axis=-1)
    power = (spec.real ** 2 + spec.imag ** 2).mean(axis=(0, 1)).astype(np.float64)
    freqs = np.fft.rfftfreq(_N_FFT, 1.0 / sr)
    level = 10 * np.log10(power + 1e-20)
    hi = min(baseline.max_freq_hz, 0.45 * sr)
    band = (freqs >= baseline.min_freq_hz) & (freqs <= hi)
    octaves = np.log2(np.clip(freqs, baseline.min_freq_hz, hi) / 1000.0)
    # weight by octave density (1/f, so each octave counts alike) and ignore bins far below the peak
    weights = np.where(band & (level > level[band].max() - 80), 1.0 / np.maximum(freqs, 1.0), 0.0)
    coef = np.polynomial.polynomial.polyfit(octaves[band], level[band], baseline.envelope_degree, w=np.sqrt(weights[band]))
    smooth = np.polynomial.polynomial.polyval(octaves, coef)
    return freqs, level, smooth


def normalize_spectrum(x: Any, sample_rate: float, baseline: FxNormBaseline = DEFAULT_BASELINE) -> np.ndarray:
    """Correct the smooth spectral envelope towards the baseline tilt (zero-phase, limited gain)."""
    x = as_stereo_float32(x)
    freqs, _, smooth = spectral_envelope_db(x, sample_rate, baseline)
    hi = min(baseline.max_freq_hz, 0.45 * float(sample_rate))
    octaves = np.log2(np.clip(freqs, baseline.min_freq_hz, hi) / 1000.0)
    target = baseline.tilt_db_per_octave * octaves
    correction = target - smooth
    correction -= np.median(correction[(freqs >= baseline.min_freq_hz) & (freqs <= hi)])
    correction = np.clip(correction, -baseline.max_eq_db, baseline.max_eq_db)
    n = x.shape[1]
    n_fft = scipy.fft.next_fast_len(n + _N_FFT)
    f_full = np.fft.rfftfreq(n_fft, 1.0 / float(sample_rate))
    gain = 10 ** (np.interp(f_full, freqs, correction) / 20)
    y = scipy.fft.irfft(scipy.fft.rfft(x, n_fft, axis=-1) * gain, n_fft, axis=-1)[:, :n]
    return y.astype(np.float32)


def _frame_levels_db(x: np.ndarray, hop: int) -> np.ndarray:
    mono = np.mean(np.square(x, dtype=np.float64), axis=0)
    n = mono.size // hop
    if n == 0:
        return np.array([10 * np.log10(mono.mean() + 1e-20)])
    return 10 * np.log10(mono[: n * hop].reshape(n, hop).mean(axis=1) + 1e-20)


def normalize_dynamics(x: Any, sample_rate: float, baseline: FxNormBaseline = DEFAULT_BASELINE) -> np.ndarray:
    """Pull loud 50 ms frames towards the median level where the level spread exceeds the baseline."""
    x = as_stereo_float32(x)
    hop = max(int(0.05 * float(sample_rate)), 1)
    levels = _frame_levels_db(x, hop)
    active = levels > levels.max() - 60
    if active.sum() < 4:
        return x
    med = float(np.median(levels[active]))
    spread = float(np.std(levels[active]))
    if spread <= baseline.level_spread_db:
        return x
    factor = baseline.level_spread_db / spread
    gains_db = np.where(levels > med, (levels - med) * (factor - 1.0), 0.0)
    gains_db = np.convolve(gains_db, np.ones(3) / 3, mode="same")  # smooth across frames
    centres = (np.arange(levels.size) + 0.5) * hop
    g = 10 ** (np.interp(np.arange(x.shape[1]), centres, gains_db) / 20)
    return (x * g.astype(np.float32)).astype(np.float32)


def fx_normalize(audio: Any, sample_rate: float, baseline: FxNormBaseline = DEFAULT_BASELINE) -> np.ndarray:
    """Fx-normalise a clip: stereo image, spectral envelope, dynamics, loudness (in that order).

    Parameters
    ----------
    audio : array_like, shape (samples,) or (channels, samples)
    sample_rate : float
        In Hz.
    baseline : FxNormBaseline

    Returns
    -------
    ndarray, shape (2, samples), float32
        The pseudo-dry clip at ``baseline.loudness_lufs``, clipped to [-1, 1].

    Raises
    ------
    AudioError
        Silent input (there is nothing to normalise), NaN/inf, bad shapes.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((2, 44100)).astype(np.float32) * 0.01
    >>> fx_normalize(x, 44100).shape
    (2, 44100)
    """
    sr = check_sample_rate(sample_rate)
    x = as_stereo_float32(audio, "audio")
    if float(np.max(np.abs(x))) < SILENCE_PEAK:
        raise AudioError("cannot Fx-normalise a silent clip (peak below -120 dBFS)")
    y = normalize_stereo(x, baseline)
    y = normalize_spectrum(y, sr, baseline)
    y = normalize_dynamics(y, sr, baseline)
    lufs = integrated_loudness_lufs(y, sr)
    if not np.isfinite(lufs):
        raise AudioError("the clip has no gated loudness after normalisation (too short or too quiet)")
    y = y * np.float32(10 ** ((baseline.loudness_lufs - lufs) / 20))
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def pseudo_dry(reference: Any, sample_rate: float, baseline: FxNormBaseline = DEFAULT_BASELINE) -> np.ndarray:
    """The pseudo-dry input for blind estimation: :func:`fx_normalize` of the reference."""
    return fx_normalize(reference, sample_rate, baseline)
