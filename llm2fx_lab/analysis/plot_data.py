"""Data preparation for every plot: one function per plot, shared by matplotlib and plotly.

Each returns a small frozen dataclass of NumPy arrays already reduced to what a browser
needs (a spectrum trace of at most ``max_points`` points, a waveform as min/max per
pixel column, a vectorscope as a subsample), so plots of 10 s stereo clips stay light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import scipy.signal

from llm2fx_lab.analysis.features import _db, _power_scale, stereo_measures, stft_power
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


def spectrogram_data(audio: Any, sample_rate: float, max_frames: int = 400, n_freqs: int = 160) -> SpectrogramData:
    """Spectrogram of the mid signal, at most ``max_frames`` x ``n_freqs`` cells (dB re full scale)."""
    sr = check_sample_rate(sample_rate)
    x = as_stereo_float32(audio)
    mid = x.mean(axis=0, keepdims=True)
    power = stft_power(mid, 2048, 512)[0]
    step = max(int(np.ceil(power.shape[0] / max_frames)), 1)
    frames = power.shape[0] // step * step
    power = power[:frames].reshape(-1, step, power.shape[1]).mean(axis=1)
    freqs = np.fft.rfftfreq(2048, 1 / sr)
    grid = np.geomspace(30.0, sr / 2, n_freqs)
    idx = np.clip(np.searchsorted(freqs, grid), 1, freqs.size - 1)
    level = np.maximum(_db(power[:, idx].T * _power_scale(2048)[0] + 1e-30), PLOT_FLOOR_DB)
    return SpectrogramData((np.arange(power.shape[0]) * step * 512 + 1024) / sr, grid, level)


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
