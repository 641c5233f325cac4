"""Data preparation for every plot: one function per plot, shared by matplotlib and plotly.

Each returns a small frozen dataclass of NumPy arrays already reduced to what a browser
needs (a spectrum trace of at most ``max_points`` points, a waveform as min/max per
pixel column, a vectorscope as a subsample), so plots of 10 s stereo clips stay light.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

import numpy as np
import scipy.fft
import scipy.signal

from llm2fx_lab.analysis.features import _db, _hann32, _power_scale, stereo_measures, stft_power
from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.errors import ParameterError, ToolCallError
from llm2fx_lab.fx.chain import ToolCall, as_chain, tool_call
from llm2fx_lab.fx.render import apply_module, equalizer_sos

#: Level (dB) shown instead of -inf.
PLOT_FLOOR_DB = -140.0


@dataclass(frozen=True)
class SpectrumData:
    """Smoothed average spectra on a log-frequency grid; ``levels_db[label]`` has ``freqs_hz``'s shape."""

    freqs_hz: np.ndarray
    levels_db: Mapping[str, np.ndarray]
    smoothing_octaves: float


#: FFT size of the average spectra (Hann frames without overlap: half the work of the analysis
#: STFT, and an average spectrum needs no overlap to be unbiased).
SPECTRUM_N_FFT = 4096


def log_frequencies(sample_rate: float, points: int = 240, low_hz: float = 20.0) -> np.ndarray:
    """``points`` log-spaced frequencies (Hz) from ``low_hz`` to just below Nyquist (0.48 x the rate)."""
    return np.geomspace(low_hz, 0.48 * check_sample_rate(sample_rate), points)


def band_levels_db(audio: Any, sample_rate: float, freqs_hz: np.ndarray, smoothing_octaves: float = 1 / 6,
                   label: str = "audio") -> np.ndarray:
    """Average power spectrum of ``audio`` (``(channels, samples)``, channels summed) at ``freqs_hz``.

    Each value is the mean power of the FFT bins within ``smoothing_octaves`` around its
    frequency, in dB re full scale per bin-width (a :data:`PLOT_FLOOR_DB` floor replaces -inf);
    the result has ``freqs_hz``'s shape. Levels are linear in power: doubling the amplitude adds
    6.02 dB everywhere.
    """
    sr = check_sample_rate(sample_rate)
    x = as_stereo_float32(audio, label)
    half = 2.0 ** (smoothing_octaves / 2)
    freqs = np.fft.rfftfreq(SPECTRUM_N_FFT, 1 / sr)
    scale = _power_scale(SPECTRUM_N_FFT)[0] * 2.0  # one-sided
    spec = stft_power(x, SPECTRUM_N_FFT, SPECTRUM_N_FFT).sum(axis=0).mean(axis=0, dtype=np.float64) * scale
    cum = np.concatenate([[0.0], np.cumsum(spec)])
    lo = np.searchsorted(freqs, freqs_hz / half, side="left")
    hi = np.maximum(np.searchsorted(freqs, freqs_hz * half, side="right"), lo + 1)
    hi = np.minimum(hi, spec.size)
    lo = np.minimum(lo, hi - 1)
    return np.maximum(_db((cum[hi] - cum[lo]) / (hi - lo)), PLOT_FLOOR_DB)


def preview_levels_db(full_db: np.ndarray, output: Any, previous: Any, sample_rate: float,
                      freqs_hz: np.ndarray, smoothing_octaves: float = 1 / 6) -> np.ndarray:
    """Estimate of a new render's spectrum from a short window of it (the studio's first phase
    of an edit): ``full_db`` (:func:`band_levels_db` of the last full render) plus the per-band
    change the edit makes on the window, ``band_levels_db(output) - band_levels_db(previous)``,
    with ``output`` and ``previous`` the new and the last full render on the same window. Exact
    for a linear time-invariant change on stationary audio; an approximation otherwise."""
    return (np.asarray(full_db, np.float64) + band_levels_db(output, sample_rate, freqs_hz, smoothing_octaves)
            - band_levels_db(previous, sample_rate, freqs_hz, smoothing_octaves))


def spectrum_data(clips: Mapping[str, Any], sample_rate: float, smoothing_octaves: float = 1 / 6,
                  max_points: int = 1000, min_freq_hz: float = 20.0) -> SpectrumData:
    """Average spectra of several clips (e.g. dry, reference, estimate) for overlaying.

    Parameters
    ----------
    clips : mapping label -> audio ``(channels, samples)``
    sample_rate : float
    smoothing_octaves : float
        Each point is the mean power over this fraction of an octave around it.
    max_points : int
        Points per trace, log-spaced from ``min_freq_hz`` to Nyquist (at most 5000).

    Returns
    -------
    SpectrumData
        Levels of :func:`band_levels_db`, in dB re full scale per bin-width.
    """
    sr = check_sample_rate(sample_rate)
    if not clips:
        raise ParameterError("spectrum_data needs at least one clip")
    if not 2 <= max_points <= 5000 or not 0 < smoothing_octaves <= 3:
        raise ParameterError(f"max_points must be in [2, 5000] and smoothing_octaves in (0, 3], "
                             f"got {max_points} and {smoothing_octaves}")
    grid = np.geomspace(min_freq_hz, sr / 2, max_points)
    levels = {label: band_levels_db(audio, sr, grid, smoothing_octaves, label) for label, audio in clips.items()}
    return SpectrumData(grid, levels, smoothing_octaves)


@dataclass(frozen=True)
class EqCurveData:
    """Theoretical response of an equalizer call: total and per section, in dB."""

    freqs_hz: np.ndarray
    total_db: np.ndarray
    sections_db: Mapping[str, np.ndarray]


def _equalizer_call(chain_or_call: Any) -> ToolCall:
    if isinstance(chain_or_call, ToolCall):
        call = chain_or_call
    elif isinstance(chain_or_call, Mapping) and "name" not in chain_or_call:
        call = tool_call("equalizer", chain_or_call)
    else:
        chain = as_chain(chain_or_call)
        if "equalizer" not in chain.names:
            raise ToolCallError(f"the chain has no equalizer; present: {', '.join(chain.names) or 'none'}")
        call = chain["equalizer"]
    if call.name != "equalizer":
        raise ToolCallError(f"expected an equalizer call, got {call.name!r}")
    return call


def eq_curve_data(chain_or_params: Any, sample_rate: float = 44100.0, n_points: int = 512,
                  freqs_hz: np.ndarray | None = None) -> EqCurveData:
    """Magnitude response of the chain's equalizer from its parameters (RBJ biquads).

    ``chain_or_params`` is a chain containing an equalizer, an equalizer :class:`ToolCall`,
    or a dict of equalizer parameters (missing ones take their defaults). The response is
    computed at ``freqs_hz`` when given, else at ``n_points`` log-spaced frequencies from
    10 Hz to Nyquist.
    """
    call = _equalizer_call(chain_or_params)
    sr = check_sample_rate(sample_rate)
    freqs = np.geomspace(10.0, sr / 2 * 0.999, n_points) if freqs_hz is None else np.asarray(freqs_hz, float)
    sos = equalizer_sos(sr, **call.params)
    sections = {}
    for label, section in zip(("low shelf", "peak", "high shelf"), sos):
        _, h = scipy.signal.sosfreqz(section[None], worN=freqs, fs=sr)
        sections[label] = 20 * np.log10(np.abs(h))
    return EqCurveData(freqs, sum(sections.values()), sections)


@dataclass(frozen=True)
class DynamicsCurveData:
    """Static input/output curve of a compressor or limiter (dB) and its parameters."""

    module: str
    input_db: np.ndarray
    output_db: np.ndarray
    threshold_db: float


def _dynamics_call(call: Any) -> ToolCall:
    if isinstance(call, Mapping):
        call = as_chain([call])[0]
    if not isinstance(call, ToolCall) or call.name not in ("compressor", "limiter"):
        raise ToolCallError(f"dynamics plots exist for compressor and limiter calls, got {call!r}")
    return call


def dynamics_curve_data(call: Any, n_points: int = 121) -> DynamicsCurveData:
    """Static curve (peak level in -> out, dB) of pedalboard's compressor or limiter.

    Compressor (JUCE): hard knee, ``out = T + (in - T)/ratio`` above the threshold ``T``.
    Limiter (JUCE): a 4:1 compressor at -10 dB, then a 1000:1 one at ``T``, then make-up
    gain ``3.75 - T`` dB (so quiet signals come out 4.75 dB louder at ``T = -1``).
    """
    call = _dynamics_call(call)
    x = np.linspace(-60.0, 6.0, n_points)
    t = call["threshold_db"]

    def knee(level: np.ndarray, threshold: float, ratio: float) -> np.ndarray:
        return np.where(level > threshold, threshold + (level - threshold) / ratio, level)

    if call.name == "compressor":
        y = knee(x, t, call["ratio"])
    else:
        y = knee(knee(x, -10.0, 4.0), t, 1000.0) + 10 * (1 - 1 / 4) / 2 - t
    return DynamicsCurveData(call.name, x, y, t)


@dataclass(frozen=True)
class GainReductionData:
    """Gain change (dB, negative = reduction) of one compressor/limiter over time, measured."""

    module: str
    time_seconds: np.ndarray
    gain_db: np.ndarray
    input_level_db: np.ndarray


def gain_reduction_data(audio: Any, sample_rate: float, call: Any, block_seconds: float = 0.01,
                        output: Any = None) -> GainReductionData:
    """Measure the gain of ``call`` on ``audio`` per block (RMS out / in, both channels).

    ``output`` is the module's output where it is already rendered (the studio's cached
    stage, same length as ``audio``); otherwise ``call`` is rendered alone on ``audio`` here.
    Measured from the module's own output, so it is exact for what the module did (including
    the limiter's make-up gain). Blocks where the input is silent show 0 dB.
    """
    sr = check_sample_rate(sample_rate)
    call = _dynamics_call(call)
    x = as_stereo_float32(audio)
    y = apply_module(x, sr, call) if output is None else as_stereo_float32(output, "output")
    if y.shape != x.shape:
        raise ParameterError(f"output must have the input's shape {x.shape}, got {y.shape}")
    block = max(int(round(block_seconds * sr)), 1)
    n = x.shape[1] // block * block
    if n == 0:
        raise ParameterError(f"audio is shorter than one block ({block_seconds:g} s)")
    ein = np.square(x[:, :n]).sum(axis=0).reshape(-1, block).mean(axis=1)
    eout = np.square(y[:, :n]).sum(axis=0).reshape(-1, block).mean(axis=1)
    quiet = ein < 1e-12
    gain = np.where(quiet, 0.0, _db(np.maximum(eout, 1e-30) / np.maximum(ein, 1e-30)))
    return GainReductionData(call.name, (np.arange(ein.size) + 0.5) * block / sr, gain,
                             np.maximum(_db(ein / 2), PLOT_FLOOR_DB))


@dataclass(frozen=True)
class SpectrogramData:
    """Mid-signal spectrogram on a log-frequency axis, downsampled: ``level_db`` (freqs, times)."""

    time_seconds: np.ndarray
    freqs_hz: np.ndarray
    level_db: np.ndarray


#: Frames averaged into one column at most: past this (clips longer than about 40 s at 400
#: columns) the frames of a column are spread over it with gaps between them.
MAX_SUB_FRAMES = 8


@dataclass(frozen=True)
class SpectrogramGrid:
    """Where the columns of a spectrogram sit on a clip of ``n_samples`` samples.

    Column ``k`` covers samples ``[k * hop_samples, (k + 1) * hop_samples)``: the power of
    ``sub_frames`` Hann frames of ``n_fft`` samples centred evenly inside it, averaged. A
    column depends only on the audio within ``n_fft / 2`` of its span, so the columns of a
    part of the clip can be computed from that part alone (:func:`columns_within`), which is
    how the studio updates the spectrogram under an edit's preview window.
    """

    sample_rate: float
    n_samples: int
    hop_samples: int
    n_fft: int
    sub_frames: int
    freqs_hz: np.ndarray

    @property
    def n_columns(self) -> int:
        return -(-self.n_samples // self.hop_samples)

    @property
    def time_seconds(self) -> np.ndarray:
        """Each column's centre (s)."""
        return (np.arange(self.n_columns) + 0.5) * self.hop_samples / self.sample_rate

    def frame_centers(self, first: int, count: int) -> np.ndarray:
        """Sample index of each frame's centre, (count, sub_frames)."""
        k = np.arange(first, first + count)[:, None]
        j = np.arange(self.sub_frames)[None, :]
        return (k * self.hop_samples + (j + 0.5) * self.hop_samples / self.sub_frames).astype(np.int64)


def spectrogram_grid(n_samples: int, sample_rate: float, max_frames: int = 400, n_fft: int = 2048,
                     n_freqs: int = 160, low_hz: float = 30.0) -> SpectrogramGrid:
    """The column layout of a spectrogram of at most ``max_frames`` columns and ``n_freqs``
    log-spaced frequencies (``low_hz`` to just below Nyquist)."""
    sr = check_sample_rate(sample_rate)
    if n_samples < 1 or max_frames < 1 or n_freqs < 2:
        raise ParameterError(f"a spectrogram needs samples, columns and at least 2 frequencies; got "
                             f"n_samples={n_samples}, max_frames={max_frames}, n_freqs={n_freqs}")
    hop = max(-(-int(n_samples) // int(max_frames)), 1)
    sub = min(max(-(-hop // (n_fft // 2)), 1), MAX_SUB_FRAMES)
    return SpectrogramGrid(sr, int(n_samples), hop, int(n_fft), sub, np.geomspace(low_hz, sr / 2 * 0.999, n_freqs))


@lru_cache(maxsize=8)
def _band_matrix(sample_rate: float, n_fft: int, n_freqs: int, low_hz: float, high_hz: float) -> np.ndarray:
    """(bins, n_freqs) weights averaging the FFT bins of each log band (the nearest bin where a
    band is narrower than a bin)."""
    bins = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    centers = np.geomspace(low_hz, high_hz, n_freqs)
    half = np.sqrt(centers[1] / centers[0])
    m = np.zeros((bins.size, n_freqs), np.float32)
    for i, fc in enumerate(centers):
        inside = np.flatnonzero((bins >= fc / half) & (bins < fc * half))
        if inside.size == 0:
            inside = np.array([int(np.argmin(np.abs(bins - fc)))])
        m[inside, i] = 1.0 / inside.size
    return m


def spectrogram_columns(audio: Any, grid: SpectrogramGrid, first: int = 0, count: int | None = None,
                        offset_samples: int = 0) -> np.ndarray:
    """Levels (dB re full scale) of columns ``first .. first + count`` of ``grid``, (n_freqs, count).

    ``audio``: ``(channels, samples)`` holding samples ``offset_samples ..`` of the clip (the
    mid signal is analysed); samples outside it count as silence.
    """
    x = as_stereo_float32(audio)
    count = grid.n_columns - first if count is None else int(count)
    if first < 0 or count < 0 or first + count > grid.n_columns:
        raise ParameterError(f"columns {first}..{first + count} are outside the grid's 0..{grid.n_columns}")
    mid = x.mean(axis=0)
    half = grid.n_fft // 2
    padded = np.concatenate([np.zeros(half, np.float32), mid, np.zeros(half, np.float32)])
    starts = grid.frame_centers(first, count).reshape(-1) - int(offset_samples)  # frame start in `padded`
    starts = np.clip(starts, 0, padded.size - grid.n_fft)
    frames = padded[starts[:, None] + np.arange(grid.n_fft)[None, :]]
    spec = scipy.fft.rfft(frames * _hann32(grid.n_fft), axis=-1)
    power = (np.square(spec.real) + np.square(spec.imag)).reshape(count, grid.sub_frames, -1).mean(axis=1)
    bands = power @ _band_matrix(grid.sample_rate, grid.n_fft, grid.freqs_hz.size, float(grid.freqs_hz[0]),
                                 float(grid.freqs_hz[-1]))
    return np.maximum(_db(bands.T * _power_scale(grid.n_fft)[0] + 1e-30), PLOT_FLOOR_DB).astype(np.float32)


def columns_within(grid: SpectrogramGrid, start_sample: int, stop_sample: int) -> tuple[int, int]:
    """``(first, count)``: the columns computable exactly from samples ``start .. stop`` alone
    (every frame of the column inside them, or beyond the clip's ends)."""
    half = grid.n_fft // 2
    centers = grid.frame_centers(0, grid.n_columns)
    lo_ok = (centers[:, 0] - half >= start_sample) | (start_sample <= 0)
    hi_ok = (centers[:, -1] + half <= stop_sample) | (stop_sample >= grid.n_samples)
    ok = np.flatnonzero(lo_ok & hi_ok)
    return (int(ok[0]), int(ok[-1] - ok[0] + 1)) if ok.size else (0, 0)


def spectrogram_data(audio: Any, sample_rate: float, max_frames: int = 400, n_freqs: int = 160) -> SpectrogramData:
    """Spectrogram of the mid signal, at most ``max_frames`` x ``n_freqs`` cells (dB re full scale)."""
    x = as_stereo_float32(audio)
    grid = spectrogram_grid(x.shape[1], sample_rate, max_frames, n_freqs=n_freqs)
    return SpectrogramData(grid.time_seconds, grid.freqs_hz, spectrogram_columns(x, grid))


@dataclass(frozen=True)
class WaveformData:
    """Per channel: min and max per column, and an RMS envelope in dB; arrays (2, columns)."""

    time_seconds: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    envelope_db: np.ndarray


def waveform_data(audio: Any, sample_rate: float, columns: int = 1000) -> WaveformData:
    """Min/max per column (what a waveform display draws) and an RMS envelope (dB)."""
    sr = check_sample_rate(sample_rate)
    x = as_stereo_float32(audio)
    per = max(-(-x.shape[1] // columns), 1)  # ceil: at most `columns` columns
    n = x.shape[1] // per * per
    blocks = x[:, :n].reshape(2, -1, per)
    rms = np.sqrt(np.mean(np.square(blocks), axis=-1))
    return WaveformData((np.arange(blocks.shape[1]) + 0.5) * per / sr, blocks.min(axis=-1),
                        blocks.max(axis=-1), np.maximum(_db(np.square(rms)), PLOT_FLOOR_DB))


@dataclass(frozen=True)
class VectorscopeData:
    """Stereo vectorscope points: ``side = (R-L)/sqrt2`` (x), ``mid = (L+R)/sqrt2`` (y)."""

    side: np.ndarray
    mid: np.ndarray
    correlation: float


def vectorscope_data(audio: Any, max_points: int = 4000) -> VectorscopeData:
    """An evenly strided subsample of the stereo samples for a vectorscope (goniometer)."""
    x = as_stereo_float32(audio)
    step = max(x.shape[1] // max_points, 1)
    sub = x[:, ::step][:, :max_points].astype(np.float64)
    corr = stereo_measures(x)["correlation"]
    return VectorscopeData((sub[1] - sub[0]) / np.sqrt(2), (sub[0] + sub[1]) / np.sqrt(2), corr)
