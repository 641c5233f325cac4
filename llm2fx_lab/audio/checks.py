"""Input checks shared by every module that takes audio: one place, one set of messages."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from llm2fx_lab.errors import AudioError

#: Absolute peak below which a clip counts as silent (-120 dBFS).
SILENCE_PEAK = 1e-6

#: More channels than this is treated as a transposed array, not audio.
MAX_CHANNELS = 2


def check_sample_rate(sample_rate: Any) -> float:
    """Return ``sample_rate`` as float; :class:`AudioError` unless it is in [1000, 768000] Hz."""
    try:
        sr = float(sample_rate)
    except (TypeError, ValueError):
        raise AudioError(f"sample_rate must be a number in Hz, got {sample_rate!r}") from None
    if not math.isfinite(sr) or not 1000 <= sr <= 768_000:
        raise AudioError(f"sample_rate must be in [1000, 768000] Hz, got {sample_rate!r}")
    return sr


def as_stereo_float32(audio: Any, name: str = "audio") -> np.ndarray:
    """Check audio and return it as a C-contiguous ``(2, samples)`` float32 array.

    Accepts ``(samples,)`` or ``(channels, samples)`` with 1 or 2 channels; mono is duplicated.

    Raises
    ------
    AudioError
        Not numeric, wrong number of dimensions, more than 2 channels, zero length, NaN/inf.
    """
    try:
        x = np.asarray(audio, dtype=np.float32)
    except (TypeError, ValueError):
        raise AudioError(f"{name} must be a numeric array, got {type(audio).__name__}") from None
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise AudioError(f"{name} must have shape (samples,) or (channels, samples), got {x.shape}")
    if x.shape[0] > MAX_CHANNELS:
        hint = " (did you pass (samples, channels)? transpose it)" if x.shape[1] <= MAX_CHANNELS else ""
        raise AudioError(f"{name} must have 1 or 2 channels, got {x.shape[0]}{hint}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise AudioError(f"{name} is empty (shape {x.shape})")
    if not np.isfinite(x).all():
        bad = int(np.size(x) - np.isfinite(x).sum())
        raise AudioError(f"{name} contains {bad} NaN or infinite samples")
    if x.shape[0] == 1:
        x = np.repeat(x, 2, axis=0)
    return np.ascontiguousarray(x)


def check_not_silent(x: np.ndarray, name: str = "audio") -> None:
    """:class:`AudioError` if the peak of ``x`` is below :data:`SILENCE_PEAK` (-120 dBFS)."""
    if float(np.max(np.abs(x))) < SILENCE_PEAK:
        raise AudioError(f"{name} is silent (peak below -120 dBFS)")


def check_min_duration(x: np.ndarray, sample_rate: float, min_seconds: float, name: str = "audio") -> None:
    """:class:`AudioError` if ``x`` is shorter than ``min_seconds``."""
    seconds = x.shape[-1] / sample_rate
    if seconds < min_seconds:
        raise AudioError(f"{name} is {seconds:.3f} s long; at least {min_seconds:g} s is needed")
