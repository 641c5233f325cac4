"""Load, resample, normalise, crop and save audio. Arrays are ``(channels, samples)`` float32.

Reference facts (``shared/reference/``, paper's public code): dry clips are the first 10 s
at the native rate (44.1 kHz), mono duplicated to stereo; stems are loudness-normalised
with ``lufs_normalize(y, sr, peak=-1.0, lufs=-12.0)`` and then clipped to [-1, 1]
(``preprocessing/medley_db_processor/rms_mixing.py``).
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from llm2fx_lab.audio.checks import (
    as_stereo_float32,
    check_min_duration,
    check_not_silent,
    check_sample_rate,
)
from llm2fx_lab.errors import AudioError

log = logging.getLogger(__name__)

#: Official loudness target of dry material (LUFS) and its peak ceiling (dBFS).
REFERENCE_LUFS = -12.0
REFERENCE_PEAK_DB = -1.0
#: Official clip length (s) and sample rate (Hz).
REFERENCE_SECONDS = 10.0
REFERENCE_SAMPLE_RATE = 44100

#: Extensions we read; anything else is refused with this list in the message.
READABLE = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
#: Extensions we write.
WRITABLE = {".wav": "WAV", ".flac": "FLAC"}


def _finish(data: np.ndarray, sr: float, name: str, sample_rate: float | None,
            min_seconds: float, allow_silent: bool) -> tuple[np.ndarray, float]:
    if data.ndim == 2:
        data = data.T  # soundfile gives (frames, channels)
    if data.ndim == 2 and data.shape[0] > 2:
        raise AudioError(f"{name} has {data.shape[0]} channels; only mono and stereo are supported")
    if data.size == 0:
        raise AudioError(f"{name} has zero length")
    x = as_stereo_float32(data, name)
    if sample_rate is not None and float(sample_rate) != sr:
        x = resample(x, sr, sample_rate)
        sr = float(sample_rate)
    check_min_duration(x, sr, min_seconds, name)
    if not allow_silent:
        check_not_silent(x, name)
    return x, as_rate(sr)


def as_rate(sample_rate: float) -> float:
    """A sample rate as ``int`` when it is whole (so ``x[:, :3 * sr]`` works), else ``float``."""
    return int(sample_rate) if float(sample_rate).is_integer() else float(sample_rate)


def _decode(source: Any, name: str) -> tuple[np.ndarray, float]:
    try:
        data, sr = sf.read(source, dtype="float32", always_2d=False)
        return data, float(sr)
    except Exception as first:  # libsndfile could not read it: try librosa/audioread (mp3)
        if isinstance(source, io.BytesIO):
            source.seek(0)
        try:
            import librosa

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data, sr = librosa.load(source, sr=None, mono=False)
            return np.asarray(data, dtype=np.float32).T, float(sr)
        except Exception:
            raise AudioError(
                f"{name} could not be decoded as audio ({first}); readable formats: "
                f"{', '.join(READABLE)}"
            ) from None


def load_audio(path: str | os.PathLike, sample_rate: float | None = None, *,
               min_seconds: float = 0.0, allow_silent: bool = False) -> tuple[np.ndarray, float]:
    """Load an audio file as stereo float32.

    Parameters
    ----------
    path : str or PathLike
        A wav, flac, ogg, mp3 or aiff file.
    sample_rate : float, optional
        Resample to this rate (Hz) with soxr; default keeps the file's rate.
    min_seconds : float
        Refuse shorter clips.
    allow_silent : bool
        By default an all-silent file is an error.

    Returns
    -------
    audio : ndarray, shape (2, samples), float32
    sample_rate : int or float
        ``int`` whenever the rate is a whole number of Hz (nearly always).

    Raises
    ------
    AudioError
        Missing, unreadable or corrupt file, unsupported format, zero length, too short,
        silent, NaN/inf samples, more than 2 channels.
    """
    p = Path(path)
    if not p.exists():
        raise AudioError(f"no such file: {p}")
    if p.is_dir():
        raise AudioError(f"{p} is a folder, not an audio file")
    if p.suffix.lower() not in READABLE:
        raise AudioError(f"{p.name}: unsupported extension {p.suffix!r}; readable: {', '.join(READABLE)}")
    if p.stat().st_size == 0:
        raise AudioError(f"{p.name} is an empty file (0 bytes)")
    data, sr = _decode(str(p), p.name)
    return _finish(data, sr, p.name, sample_rate, min_seconds, allow_silent)


def load_audio_bytes(data: bytes, name: str = "upload", sample_rate: float | None = None, *,
                     min_seconds: float = 0.0, allow_silent: bool = False) -> tuple[np.ndarray, float]:
    """Like :func:`load_audio` for the bytes of a file (e.g. a notebook upload)."""
    if not data:
        raise AudioError(f"{name} is empty (0 bytes)")
    suffix = Path(name).suffix.lower()
    if suffix and suffix not in READABLE:
        raise AudioError(f"{name}: unsupported extension {suffix!r}; readable: {', '.join(READABLE)}")
    decoded, sr = _decode(io.BytesIO(bytes(data)), name)
    return _finish(decoded, sr, name, sample_rate, min_seconds, allow_silent)


def resample(audio: Any, orig_sample_rate: float, target_sample_rate: float) -> np.ndarray:
    """Resample ``(channels, samples)`` audio with soxr (high quality). Returns float32."""
    orig = check_sample_rate(orig_sample_rate)
    target = check_sample_rate(target_sample_rate)
    x = np.asarray(audio, dtype=np.float32)
    if orig == target:
        return x
    y = soxr.resample(np.ascontiguousarray(x.T), orig, target, quality="HQ")
    return np.ascontiguousarray(np.asarray(y, dtype=np.float32).T)


def to_stereo(audio: Any) -> np.ndarray:
    """``(samples,)`` or ``(1|2, samples)`` to ``(2, samples)`` float32 (mono duplicated)."""
    return as_stereo_float32(audio)


def crop_or_pad(audio: Any, sample_rate: float, seconds: float = REFERENCE_SECONDS,
                offset_seconds: float = 0.0) -> np.ndarray:
    """Exactly ``seconds`` of audio from ``offset_seconds``: cropped, or zero-padded at the end."""
    sr = check_sample_rate(sample_rate)
    x = as_stereo_float32(audio)
    if seconds <= 0 or offset_seconds < 0:
        raise AudioError(f"seconds must be > 0 and offset_seconds >= 0, got {seconds}, {offset_seconds}")
    start = int(round(offset_seconds * sr))
    n = int(round(seconds * sr))
    if start >= x.shape[1]:
        raise AudioError(f"offset {offset_seconds:g} s is past the end of a {x.shape[1] / sr:.3f} s clip")
    y = x[:, start:start + n]
    if y.shape[1] < n:
        y = np.pad(y, ((0, 0), (0, n - y.shape[1])))
    return np.ascontiguousarray(y)


def save_audio(path: str | os.PathLike, audio: Any, sample_rate: float, *,
               overwrite: bool = False, subtype: str | None = None) -> Path:
    """Write ``(channels, samples)`` audio as wav or flac.

    Never overwrites an existing file unless ``overwrite=True``. FLAC is written as 24-bit,
    WAV as 32-bit float unless ``subtype`` says otherwise. Samples beyond [-1, 1] are kept in
    float WAV and clipped (with a log warning) in integer formats.
    """
    p = Path(path)
    fmt = WRITABLE.get(p.suffix.lower())
    if fmt is None:
        raise AudioError(f"{p.name}: can only write {', '.join(WRITABLE)}, got {p.suffix!r}")
    if p.exists() and not overwrite:
        raise AudioError(f"{p} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    sr = check_sample_rate(sample_rate)
    x = as_stereo_float32(audio)
    subtype = subtype or ("PCM_24" if fmt == "FLAC" else "FLOAT")
    if subtype != "FLOAT" and float(np.max(np.abs(x))) > 1.0:
        log.warning("%s: peak above 0 dBFS clipped when writing %s", p.name, subtype)
        x = np.clip(x, -1.0, 1.0)
    if not p.parent.exists():
        raise AudioError(f"folder {p.parent} does not exist")
    sf.write(str(p), x.T, int(round(sr)), format=fmt, subtype=subtype)
    return p
