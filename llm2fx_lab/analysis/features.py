"""Features of one clip, with units in their names.

Everything here is computed from a few shared intermediate results (one short-time power
spectrum, one K-weighted signal, one decimated mono signal) so that measuring a 10 s stereo
clip takes milliseconds; :func:`llm2fx_lab.analysis.compare` relies on that.

Conventions
-----------
- Audio is ``(channels, samples)`` float32 (mono is duplicated to stereo), ``sample_rate`` in Hz.
- Levels are in dB re full scale of the *mean square*: a full-scale sine has
  ``rms_dbfs = -3.01``. Silence gives ``-inf`` levels and ``nan`` for ratios that are
  undefined (centroid, balance, correlation, ...) with ``is_silent=True``; nothing divides by 0.
- NaN or infinite samples raise :class:`~llm2fx_lab.errors.AudioError`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft
import scipy.signal

from llm2fx_lab.audio.checks import SILENCE_PEAK, as_stereo_float32, check_sample_rate
from llm2fx_lab.audio.loudness import k_weighted_chunks, loudness_of_chunks, loudness_range_of_chunks

#: Edges (Hz) of the low / mid / high bands used in evidence sentences.
BAND_EDGES_HZ = (250.0, 4000.0)
#: Nominal centres (Hz) of the base-10 1/3-octave bands, 25 Hz .. 20 kHz (IEC 61260).
THIRD_OCTAVE_CENTRES_HZ = tuple(float(1000.0 * 10.0 ** (k / 10.0)) for k in range(-16, 14))
#: Floor (dB) reported instead of -inf for ratios of energies (side/mid, L/R balance).
RATIO_FLOOR_DB = -120.0
#: STFT used by every spectral feature: Hann window, 2048 points, hop 1024.
N_FFT = 2048
HOP = 1024
#: Rate (Hz) the mono signal is decimated to for echo (cepstrum / deconvolution) analysis.
ECHO_RATE_HZ = 5512.5
#: Lags (s) searched for echoes: the official delay grid is 0.05 .. 0.65 s.
ECHO_SEARCH_SECONDS = (0.04, 1.0)


def _db(power: float | np.ndarray) -> Any:
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(power)


def _ratio_db(num: float, den: float) -> float:
    """10 log10(num/den) limited to +-120 dB; nan when both are 0."""
    if num <= 0 and den <= 0:
        return float("nan")
    value = _db(max(num, 1e-300)) - _db(max(den, 1e-300))
    return float(np.clip(value, RATIO_FLOOR_DB, -RATIO_FLOOR_DB))


# --- shared intermediate results ---------------------------------------------------------

@dataclass(frozen=True)
class _Analysis:
    """Intermediate results shared by all features of one clip (internal)."""

    x: np.ndarray            # (2, samples) float32
    sample_rate: float
    power: np.ndarray        # (2, frames, bins) |STFT|^2, float32
    freqs_hz: np.ndarray     # (bins,)
    scale: float             # power * scale summed over bins = mean square of the frame
    peak: float

    @property
    def is_silent(self) -> bool:
        return self.peak < SILENCE_PEAK


@functools.lru_cache(maxsize=8)
def _hann32(n_fft: int) -> np.ndarray:
    return scipy.signal.get_window("hann", n_fft).astype(np.float32)


def stft_power(x: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """``|STFT|^2`` of ``(channels, samples)`` audio with a Hann window; shape (channels, frames, n_fft//2+1).

    Clips shorter than ``n_fft`` are zero-padded to one frame.
    """
    if x.shape[-1] < n_fft:
        x = np.pad(x, ((0, 0), (0, n_fft - x.shape[-1])))
    window = _hann32(n_fft)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[:, ::hop]
    spec = scipy.fft.rfft(frames * window, axis=-1)
    power = np.square(spec.real)
    power += np.square(spec.imag)
    return power


def _power_scale(n_fft: int) -> tuple[float, np.ndarray]:
    window = scipy.signal.get_window("hann", n_fft)
    one_sided = np.full(n_fft // 2 + 1, 2.0)
    one_sided[0] = one_sided[-1] = 1.0
    return 1.0 / (n_fft * float(np.sum(window ** 2))), one_sided


def analyse(audio: Any, sample_rate: float, name: str = "audio") -> _Analysis:
    """Check the input and compute the shared intermediate results (internal, but cheap)."""
    sr = check_sample_rate(sample_rate)
    x = as_stereo_float32(audio, name)
    power = stft_power(x)
    scale, one_sided = _power_scale(N_FFT)
    power[..., 1:-1] *= 2.0  # one-sided spectrum: count the negative frequencies
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sr)
    return _Analysis(x, sr, power, freqs, scale, float(np.max(np.abs(x))))


def mean_spectrum(a: _Analysis) -> np.ndarray:
    """Mean-square energy per bin, both channels summed, averaged over frames: shape (bins,)."""
    return a.power.sum(axis=0).mean(axis=0).astype(np.float64) * a.scale


def average_spectrum(audio: Any, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Average power spectrum (Hann, 2048 points, hop 1024), channels summed.

    Returns
    -------
    freqs_hz : ndarray, shape (1025,)
    level_db : ndarray, shape (1025,)
        Mean-square energy per bin in dB re full scale (``-inf`` where the bin is empty).
    """
    a = analyse(audio, sample_rate)
    return a.freqs_hz, _db(mean_spectrum(a))


# --- levels -------------------------------------------------------------------------------

def peak_dbfs(audio: Any) -> float:
    """Sample peak over both channels in dBFS (``-inf`` for digital silence)."""
    x = as_stereo_float32(audio)
    return float(20.0 * np.log10(max(float(np.max(np.abs(x))), 1e-300))) if np.any(x) else float("-inf")


def true_peak_dbfs(audio: Any, sample_rate: float) -> float:
    """True peak (BS.1770-4 style, 4x oversampling with a polyphase FIR) in dBFS.

    Costs about 40 ms for 10 s stereo at 44.1 kHz (the oversampling), so
    :func:`llm2fx_lab.analysis.compare` does not use it. Rates of 176.4 kHz and above are
    not oversampled.
    """
    sr = check_sample_rate(sample_rate)
    x = as_stereo_float32(audio)
    if not np.any(x):
        return float("-inf")
    factor = 1 if sr >= 176400 else 4
    y = scipy.signal.resample_poly(x, factor, 1, axis=-1) if factor > 1 else x
    return float(20.0 * np.log10(max(float(np.max(np.abs(y))), float(np.max(np.abs(x))))))


def _rms_dbfs(x: np.ndarray) -> float:
    energy = sum(float(np.dot(c, c)) for c in x)  # float32 BLAS: fast, ~1e-6 relative
    return float(_db(energy / x.size))


# --- spectrum -----------------------------------------------------------------------------

def _band_sums(freqs: np.ndarray, spectrum: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
    cum = np.concatenate([[0.0], np.cumsum(spectrum)])
    lo = np.searchsorted(freqs, lows, side="left")
    hi = np.searchsorted(freqs, highs, side="left")
    return cum[hi] - cum[lo]


def third_octave_levels(a: _Analysis) -> tuple[np.ndarray, np.ndarray]:
    """1/3-octave band levels (dB re full scale, mean square) of bands below Nyquist.

    Returns ``(centres_hz, levels_db)``; a band holds the STFT bins within its edges
    ``centre * 10^(+-1/20)`` (bands narrower than a bin at low frequency may be empty: -inf).
    """
    centres = np.array(THIRD_OCTAVE_CENTRES_HZ)
    highs = centres * 10.0 ** 0.05
    keep = highs <= a.sample_rate / 2
    centres, highs = centres[keep], highs[keep]
    sums = _band_sums(a.freqs_hz, mean_spectrum(a), centres * 10.0 ** -0.05, highs)
    return centres, _db(sums)


def three_band_levels(a: _Analysis) -> np.ndarray:
    """Levels (dB) of the low (< 250 Hz), mid (250 Hz - 4 kHz) and high (> 4 kHz) bands."""
    lo, hi = BAND_EDGES_HZ
    return _db(_band_sums(a.freqs_hz, mean_spectrum(a), np.array([0.0, lo, hi]),
                          np.array([lo, hi, a.sample_rate])))


def spectral_centroid_hz(a: _Analysis) -> float:
    """Power-weighted mean frequency of the average spectrum (nan for silence)."""
    s = mean_spectrum(a)
    total = float(s.sum())
    return float(np.dot(a.freqs_hz, s) / total) if total > 0 else float("nan")


def spectral_tilt_db_per_octave(a: _Analysis) -> float:
    """Slope (dB/octave) of a line fitted to the 1/3-octave levels from 50 Hz to 16 kHz.

    Pink noise has 0 dB/octave, white noise +3 dB/octave; nan for silence.
    """
    centres, levels = third_octave_levels(a)
    keep = (centres >= 50.0) & (centres <= 16000.0) & np.isfinite(levels)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log2(centres[keep]), levels[keep], 1)[0])


def spectral_flatness(a: _Analysis) -> float:
    """Wiener entropy of the average spectrum, 0 (a tone) .. 1 (white noise); nan for silence."""
    s = mean_spectrum(a)[1:]
    if s.sum() <= 0:
        return float("nan")
    s = np.maximum(s, s.max() * 1e-12)
    return float(np.exp(np.mean(np.log(s))) / np.mean(s))


def thd_db(audio: Any, sample_rate: float, n_harmonics: int = 9) -> float:
    """Harmonic distortion of the strongest partial: power of harmonics 2..n+1 over the fundamental, dB.

    Meaningful for tones (a test signal, a sustained note): a clean sine gives about
    -100 dB or less, ``tanh`` saturation tens of dB more. Uses an 8192-point Hann spectrum;
    nan for silence.
    """
    check_sample_rate(sample_rate)  # harmonics are found by bin, the rate only has to be valid
    x = as_stereo_float32(audio)
    n_fft = 8192
    p = stft_power(x.mean(axis=0, keepdims=True), n_fft, n_fft // 2)[0].mean(axis=0).astype(np.float64)
    if p.sum() <= 0:
        return float("nan")
    k0 = int(np.argmax(p[2:])) + 2

    def around(k: int) -> float:
        return float(p[max(k - 3, 0):k + 4].sum())

    harmonics = sum(around(h * k0) for h in range(2, n_harmonics + 2) if h * k0 + 3 < p.size)
    return float(_db(max(harmonics, 1e-300) / around(k0)))


# --- stereo -------------------------------------------------------------------------------

def stereo_measures(x: np.ndarray) -> dict[str, float]:
    """Side/mid energy (dB), L/R balance (dB, + = right), pan position and correlation.

    ``pan_position`` inverts the constant-power pan law of the panner module: a mono source
    panned with ``pan = p`` measures ``p`` exactly (hard left -1, hard right +1).
    """
    # float32 BLAS dot products: ~100x faster than converting 10 s to float64, and
    # accurate to ~1e-6 relative, far below what these measures are used for
    e_left, e_right = float(np.dot(x[0], x[0])), float(np.dot(x[1], x[1]))
    cross = float(np.dot(x[0], x[1]))
    e_mid = (e_left + e_right + 2 * cross) / 4.0
    e_side = max((e_left + e_right - 2 * cross) / 4.0, 0.0)
    if e_left + e_right <= 0:
        nan = float("nan")
        return {"side_to_mid_db": nan, "balance_db": nan, "pan_position": nan, "correlation": nan}
    theta = math.atan2(math.sqrt(e_right), math.sqrt(e_left))
    denom = math.sqrt(e_left * e_right)
    return {
        "side_to_mid_db": _ratio_db(e_side, e_mid),
        "balance_db": _ratio_db(e_right, e_left),
        "pan_position": 4.0 * theta / math.pi - 1.0,
        # one silent channel: correlation is undefined; 0 says "no common signal"
        "correlation": cross / denom if denom > 0 else 0.0,
    }


# --- time structure -----------------------------------------------------------------------

def frame_levels_db(a: _Analysis) -> np.ndarray:
    """Level (dB, mean square, channels summed) of each STFT frame (hop 1024 samples)."""
    return _db(a.power.sum(axis=(0, 2)).astype(np.float64) * a.scale)


def decay_time_seconds(a: _Analysis, window_seconds: float = 0.2) -> float:
    """Rough reverberation time (s): 60 dB over the fastest sustained decay of the level.

    Reverberation limits how fast the level can fall after a note ends, so the fastest
    falls of the frame level (the 90th percentile of decay rates, fitted over
    ``window_seconds``, within 60 dB of the loudest frame) give a T60-like time. A dry clip
    with abrupt ends gives a short time; a reverberant one a time near its T60. Clips
    without any decay (steady sounds) give a long, meaningless time: compare two clips with
    it rather than reading it alone. nan for silence or clips shorter than the window.
    """
    levels = frame_levels_db(a)
    hop_seconds = HOP / a.sample_rate
    k = max(int(round(window_seconds / hop_seconds)), 3)
    if a.is_silent or levels.size < k + 1:
        return float("nan")
    top = float(np.max(levels))
    levels = np.maximum(levels, top - 80.0)
    windows = np.lib.stride_tricks.sliding_window_view(levels, k)
    t = (np.arange(k) - (k - 1) / 2) * hop_seconds
    slopes = windows @ t / float(t @ t)  # dB/s, least-squares slope per window
    valid = (windows[:, 0] > top - 60.0) & (slopes < 0)
    if not np.any(valid):
        return float(levels.size * hop_seconds)
    rate = float(np.percentile(-slopes[valid], 90))
    return float(min(60.0 / rate, levels.size * hop_seconds))


def decimated_mono(x: np.ndarray, sample_rate: float) -> tuple[np.ndarray, float]:
    """Mid signal decimated to about :data:`ECHO_RATE_HZ` by block averaging (crude but cheap)."""
    q = max(int(round(sample_rate / ECHO_RATE_HZ)), 1)
    n = x.shape[1] // q * q
    if n == 0:
        return x.mean(axis=0).astype(np.float64), sample_rate
    mono = (x[0, :n] + x[1, :n]) * np.float32(0.5)
    return mono.reshape(-1, q).mean(axis=1, dtype=np.float64), sample_rate / q


@dataclass(frozen=True)
class Deconvolution:
    """``wet ~ h * dry`` on the decimated mid signals (see :func:`deconvolve_mid`).

    ``h`` is the full-length impulse response at ``rate`` Hz; ``dry_spectrum`` is the
    rfft of ``dry_mid`` with ``n_fft`` points (kept for predictions ``dry * h``).
    """

    h: np.ndarray
    rate: float
    dry_mid: np.ndarray
    wet_mid: np.ndarray
    dry_spectrum: np.ndarray
    n_fft: int


def deconvolve_mid(dry: np.ndarray, wet: np.ndarray, sample_rate: float) -> Deconvolution:
    """Regularised (Tikhonov, 1e-3 of the mean dry power) deconvolution of the decimated mid
    signals: the impulse response of the linear part of a chain. Shared by ``compare()``'s
    echo detection and the analysis planner's pair features."""
    d, rate = decimated_mono(dry, sample_rate)
    w, _ = decimated_mono(wet, sample_rate)
    n_fft = 1 << int(math.ceil(math.log2(2 * d.size)))
    big_d = scipy.fft.rfft(d, n_fft)
    big_w = scipy.fft.rfft(w, n_fft)
    power = big_d.real ** 2 + big_d.imag ** 2
    h = scipy.fft.irfft(big_w * np.conj(big_d) / (power + 1e-3 * power.mean() + 1e-300), n_fft)
    return Deconvolution(h, rate, d, w, big_d, n_fft)


@dataclass(frozen=True)
class Echo:
    """An echo found in a clip.

    Attributes
    ----------
    detected : bool
    delay_seconds : float
        Time from the sound to its echo (nan when none is detected).
    strength : float
        Height of the peak over the spread of its surroundings (a z-score-like number).
    feedback : float
        Estimated ratio of each repeat to the previous one, in [0, 1) (nan when not detected).
    """

    detected: bool
    delay_seconds: float
    strength: float
    feedback: float


def echo_from_cepstrum(x: np.ndarray, sample_rate: float, min_strength: float = 20.0) -> Echo:
    """Detect an echo in one clip from the power cepstrum of its decimated mid signal.

    An echo ``h = (1-m) d[n] + m sum_k fb^(k-1) d[n - kD]`` puts cepstral peaks at ``D``
    (height ``c1 = m/(1-m)``) and ``2D`` (``c2 = (fb^2 - a^2)/2`` with ``a = c1 - fb``), so
    ``fb = (c1 + 2 c2 / c1) / 2``. Lags from 40 ms to 1 s are searched; pitch periods are
    shorter, but rhythmic repetition in music can also show up, so treat a weak
    detection as a hint. Tonal signals (fewer than 5 % of the bins within 60 dB of the
    strongest) have periodic cepstra of their own and are reported as not detected.
    """
    y, rate = decimated_mono(x, sample_rate)
    lo, hi = (int(s * rate) for s in ECHO_SEARCH_SECONDS)
    hi = min(hi, y.size // 2)
    if not np.any(y) or hi - lo < 8:
        return Echo(False, float("nan"), 0.0, float("nan"))
    n_fft = 1 << int(math.ceil(math.log2(2 * y.size)))
    y = y * np.hanning(y.size)  # low leakage, so tones are recognised below
    spec = np.abs(scipy.fft.rfft(y, n_fft)) ** 2
    if np.mean(spec > spec.max() * 1e-6) < 0.05:
        return Echo(False, float("nan"), 0.0, float("nan"))
    ceps = scipy.fft.irfft(np.log(spec + spec.max() * 1e-10), n_fft)
    return _echo_peak(ceps, lo, hi, rate, min_strength, ratio=False)


def _echo_peak(h: np.ndarray, lo: int, hi: int, rate: float, min_strength: float,
               ratio: bool) -> Echo:
    region = h[lo:hi]
    i = int(np.argmax(region))
    spread = float(np.median(np.abs(region - np.median(region)))) * 1.4826 + 1e-300
    strength = float((region[i] - np.median(region)) / spread)
    lag = lo + i
    # refine the lag by a parabola through the peak and its neighbours
    if 0 < lag < h.size - 1:
        y0, y1, y2 = h[lag - 1], h[lag], h[lag + 1]
        denom = y0 - 2 * y1 + y2
        frac = 0.5 * (y0 - y2) / denom if denom != 0 else 0.0
    else:
        frac = 0.0
    if strength < min_strength:
        return Echo(False, float("nan"), strength, float("nan"))
    c1 = float(h[lag])
    c2 = float(np.max(h[max(2 * lag - 1, 0):2 * lag + 2])) if 2 * lag + 2 < h.size else 0.0
    if ratio:  # impulse response: each repeat is fb times the previous one
        fb = c2 / c1 if c1 > 0 else 0.0
    else:      # cepstrum: see echo_from_cepstrum
        fb = (c1 + 2.0 * c2 / c1) / 2.0 if c1 > 0 else 0.0
    return Echo(True, float((lag + frac) / rate), strength, float(np.clip(fb, 0.0, 0.99)))


# --- the whole set ------------------------------------------------------------------------

@dataclass(frozen=True)
class ClipFeatures:
    """Features of one clip. Levels in dB re full scale; see the module docstring for silence."""

    sample_rate: float
    duration_seconds: float
    is_silent: bool
    loudness_lufs: float
    peak_dbfs: float
    true_peak_dbfs: float
    rms_dbfs: float
    crest_factor_db: float
    loudness_range_lu: float
    spectral_centroid_hz: float
    spectral_tilt_db_per_octave: float
    spectral_flatness: float
    band_centres_hz: tuple[float, ...]
    band_levels_db: tuple[float, ...]
    low_mid_high_levels_db: tuple[float, float, float]
    side_to_mid_db: float
    balance_db: float
    pan_position: float
    correlation: float
    decay_time_seconds: float
    echo: Echo
    thd_db: float

    def as_dict(self) -> dict[str, Any]:
        """Flat dict (bands as ``band_<centre>hz_db``) for tables."""
        out = {k: v for k, v in self.__dict__.items()
               if k not in ("band_centres_hz", "band_levels_db", "echo", "low_mid_high_levels_db")}
        out.update({f"band_{c:.0f}hz_db": v for c, v in zip(self.band_centres_hz, self.band_levels_db)})
        out.update(zip(("low_band_db", "mid_band_db", "high_band_db"), self.low_mid_high_levels_db))
        out.update(echo_detected=self.echo.detected, echo_delay_seconds=self.echo.delay_seconds,
                   echo_feedback=self.echo.feedback)
        return out


def clip_features(audio: Any, sample_rate: float, true_peak: bool = True) -> ClipFeatures:
    """Measure one clip.

    Parameters
    ----------
    audio : array_like, shape (samples,) or (channels, samples)
        Mono is duplicated to stereo.
    sample_rate : float
        In Hz.
    true_peak : bool, default True
        Skip the 4x oversampling (about 40 ms for 10 s) when False (``true_peak_dbfs`` = nan).

    Returns
    -------
    ClipFeatures

    Raises
    ------
    AudioError
        Bad shape, empty, NaN or infinite samples, bad sample rate. Silence is not an error.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(44100) / 44100
    >>> f = clip_features(0.5 * np.sin(2 * np.pi * 1000 * t), 44100)
    >>> round(f.spectral_centroid_hz, -1)
    1000.0
    """
    a = analyse(audio, sample_rate)
    chunks = k_weighted_chunks(a.x, a.sample_rate)
    rms = _rms_dbfs(a.x)
    peak = float(20.0 * np.log10(a.peak)) if a.peak > 0 else float("-inf")
    centres, bands = third_octave_levels(a)
    stereo = stereo_measures(a.x)
    silent = a.is_silent
    return ClipFeatures(
        sample_rate=a.sample_rate,
        duration_seconds=a.x.shape[1] / a.sample_rate,
        is_silent=silent,
        loudness_lufs=loudness_of_chunks(chunks),
        peak_dbfs=peak,
        true_peak_dbfs=true_peak_dbfs(a.x, a.sample_rate) if true_peak else float("nan"),
        rms_dbfs=rms,
        crest_factor_db=float(peak - rms) if not silent else float("nan"),
        loudness_range_lu=loudness_range_of_chunks(chunks),
        spectral_centroid_hz=spectral_centroid_hz(a),
        spectral_tilt_db_per_octave=spectral_tilt_db_per_octave(a),
        spectral_flatness=spectral_flatness(a),
        band_centres_hz=tuple(float(c) for c in centres),
        band_levels_db=tuple(float(v) for v in bands),
        low_mid_high_levels_db=tuple(float(v) for v in three_band_levels(a)),  # type: ignore[arg-type]
        side_to_mid_db=stereo["side_to_mid_db"],
        balance_db=stereo["balance_db"],
        pan_position=stereo["pan_position"],
        correlation=stereo["correlation"],
        decay_time_seconds=decay_time_seconds(a),
        echo=echo_from_cepstrum(a.x, a.sample_rate),
        thd_db=thd_db(a.x, a.sample_rate) if not silent else float("nan"),
    )
