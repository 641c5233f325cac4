"""Load, resample, normalise, crop and save audio. Arrays are ``(channels, samples)`` float32.

Reference facts (``shared/reference/``, paper's public code): dry clips are the first 10 s
at the native rate (44.1 kHz), mono duplicated to stereo; stems are loudness-normalised
with ``lufs_normalize(y, sr, peak=-1.0, lufs=-12.0)`` and then clipped to [-1, 1]
(``preprocessing/medley_db_processor/rms_mixing.py``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import soundfile as sf
import soxr

from llm2fx_lab.audio.checks import (
    as_stereo_float32,
    check_min_duration,
    check_not_silent,
    check_sample_rate,
)
from llm2fx_lab.errors import AudioError, one_line, quoted

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


def _file_rate(sr: float, name: str) -> float:
    """The rate a file's header gives, checked: a header may say anything (0 Hz included)."""
    try:
        return check_sample_rate(sr)
    except AudioError:
        raise AudioError(f"{name}: its header gives a sample rate of {sr:g} Hz; readable files have "
                         f"1000 to 768000 Hz") from None


def _finish(data: np.ndarray, sr: float, name: str, sample_rate: float | None,
            min_seconds: float, allow_silent: bool) -> tuple[np.ndarray, float]:
    sr = _file_rate(sr, name)
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


_quiet_lock = threading.Lock()


@contextlib.contextmanager
def _decoders_quiet() -> Iterator[None]:
    """Keep the C decoders' own notes ("Note: Trying to resync...", from mpg123 inside
    libsndfile) off the process's stderr (file descriptor 2, where C code writes, whatever
    ``sys.stderr`` is) while a file is opened, or an mp3 read (:func:`_quiet_reads`): our error
    is the one line a user sees. Kept short: other threads' stderr is lost meanwhile."""
    fd = 2
    try:
        os.fstat(fd)
    except OSError:
        yield
        return
    with _quiet_lock:
        saved = os.dup(fd)
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), fd)
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)


def _quiet_reads(f: sf.SoundFile) -> Any:
    """Reading an open file: quiet for mp3 (mpg123 writes notes while it resyncs), as is otherwise."""
    return _decoders_quiet() if f.format in ("MP3", "MPEG") else contextlib.nullcontext()


def _decode(source: Any, name: str, max_seconds: float | None = None) -> tuple[np.ndarray, float]:
    """Decode a file (its first ``max_seconds`` where given); one-line errors."""
    try:
        with _decoders_quiet():
            f = sf.SoundFile(source)
        with f, _quiet_reads(f):
            frames = -1 if max_seconds is None or f.samplerate <= 0 else int(max_seconds * f.samplerate)
            data = f.read(frames, dtype="float32", always_2d=False)
            return data, float(f.samplerate)
    except Exception as first:  # libsndfile could not read it: try librosa/audioread (mp3)
        if isinstance(source, io.BytesIO):
            source.seek(0)
        try:
            import librosa

            with warnings.catch_warnings(), _decoders_quiet():
                warnings.simplefilter("ignore")
                data, sr = librosa.load(source, sr=None, mono=False, duration=max_seconds)
            return np.asarray(data, dtype=np.float32).T, float(sr)
        except Exception:
            raise AudioError(f"{name} could not be decoded as audio ({_decoder_reason(first)}); readable formats: "
                             f"{', '.join(READABLE)}") from None


def _decoder_reason(exc: Exception) -> str:
    """libsndfile's reason, in one short line; its "does not exist or is not a regular file"
    (said of files that exist, whose contents it does not recognise) said plainly."""
    text = str(exc)
    if any(s in text for s in ("does not exist", "not a regular file", "Format not recognised")):
        return "its contents are not a format the decoders recognise, or are corrupt"
    if "SF_INFO struct incomplete" in text:  # libsndfile on bytes whose header gives 0 Hz or 0 channels
        return "its header is incomplete or invalid"
    return one_line(text.split(": ", 1)[-1] if text.startswith("Error opening") else text, 120)


def load_audio(path: str | os.PathLike, sample_rate: float | None = None, *,
               min_seconds: float = 0.0, allow_silent: bool = False,
               max_seconds: float | None = None) -> tuple[np.ndarray, float]:
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
    max_seconds : float, optional
        Read only the first ``max_seconds`` (memory bounded by them, not by the file's
        length); :func:`audio_seconds` says how long the whole file is.

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
    _check_file(p)
    data, sr = _decode(str(p), p.name, max_seconds)
    return _finish(data, sr, p.name, sample_rate, min_seconds, allow_silent)


def _check_file(p: Path) -> None:
    if not p.exists():
        raise AudioError(f"no such file: {p}")
    if p.is_dir():
        raise AudioError(f"{p} is a folder, not an audio file")
    if p.suffix.lower() not in READABLE:
        raise AudioError(f"{p.name}: unsupported extension {quoted(p.suffix)}; readable: {', '.join(READABLE)}")
    if p.stat().st_size == 0:
        raise AudioError(f"{p.name} is an empty file (0 bytes)")


def audio_seconds(path: str | os.PathLike) -> float | None:
    """How long an audio file is, from its header (None where only a full decode could say,
    e.g. some mp3 files)."""
    try:
        with _decoders_quiet():
            info = sf.info(str(path))
        return info.frames / info.samplerate if info.samplerate > 0 and info.frames >= 0 else None
    except Exception:  # noqa: BLE001 - not readable by libsndfile: unknown, load_audio says why
        return None


#: The longest file :func:`read_blocks` decodes whole, when only a full decoder (librosa,
#: audioread) can read it: about 200 MB of float32 stereo.
WHOLE_DECODE_MAX_SECONDS = 600.0


def read_blocks(path: str | os.PathLike, block_seconds: float = 10.0) -> tuple[float, int, Iterator[np.ndarray]]:
    """A file as consecutive ``(2, samples)`` float32 blocks, never all of it in memory.

    Returns ``(sample_rate, frames, blocks)``; the file is checked as :func:`load_audio` checks
    it (its header's rate, its channels, NaN or infinite samples in each block), except that
    silence is only known once every block was read. A file that libsndfile cannot read (some
    mp3) is decoded whole, up to :data:`WHOLE_DECODE_MAX_SECONDS`.

    Raises
    ------
    AudioError
        The file is missing, empty or undecodable, has a bad rate or channels, or can only be
        decoded whole and is longer than :data:`WHOLE_DECODE_MAX_SECONDS`.
    """
    p = Path(path)
    _check_file(p)
    block_of = lambda rate: max(1, int(block_seconds * rate))  # noqa: E731
    try:
        with _decoders_quiet():
            info = sf.info(str(p))
    except Exception:  # noqa: BLE001 - not for libsndfile: decode it whole, within a bound
        audio, rate = load_audio(p, allow_silent=True, max_seconds=WHOLE_DECODE_MAX_SECONDS + 1)
        if audio.shape[1] > WHOLE_DECODE_MAX_SECONDS * rate:
            raise AudioError(f"{p.name} can only be decoded whole and is longer than {WHOLE_DECODE_MAX_SECONDS:g} s; "
                             "convert it to .wav or .flac, which are read block by block") from None
        step = block_of(rate)
        return rate, audio.shape[1], (audio[:, i:i + step] for i in range(0, audio.shape[1], step))
    sr = _file_rate(info.samplerate, p.name)
    if info.channels > 2:
        raise AudioError(f"{p.name} has {info.channels} channels; only mono and stereo are supported")
    if info.frames <= 0:
        raise AudioError(f"{p.name} has zero length")
    block = block_of(sr)

    def blocks() -> Iterator[np.ndarray]:
        with _decoders_quiet():
            f = sf.SoundFile(str(p))
        with f:
            while True:
                with _quiet_reads(f):
                    piece = f.read(block, dtype="float32", always_2d=True)
                if not len(piece):
                    return
                yield as_stereo_float32(piece.T, p.name)

    return as_rate(sr), int(info.frames), blocks()


class BlockWriter:
    """Write ``(2, samples)`` blocks to a wav or flac file as :func:`save_audio` would write the
    whole: into a temporary file beside ``path``, moved over it only by :meth:`close` (so a
    failed or interrupted render never leaves half a file, nor replaces an existing one).
    Use as a context manager; an exception inside it removes the temporary file."""

    def __init__(self, path: str | os.PathLike, sample_rate: float, *, overwrite: bool = False,
                 subtype: str | None = None) -> None:
        self.path = Path(path)
        fmt = WRITABLE.get(self.path.suffix.lower())
        if fmt is None:
            raise AudioError(f"{self.path.name}: can only write {', '.join(WRITABLE)}, got {quoted(self.path.suffix)}")
        if self.path.exists() and not overwrite:
            raise AudioError(f"{self.path} exists; pass overwrite=True (CLI: --overwrite) to replace it")
        if not self.path.parent.is_dir():
            raise AudioError(f"folder {self.path.parent} does not exist")
        self.subtype = subtype or ("PCM_24" if fmt == "FLAC" else "FLOAT")
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        try:
            self._file = sf.SoundFile(str(self._tmp), "w", int(round(check_sample_rate(sample_rate))), 2,
                                      self.subtype, format=fmt)
        except (OSError, RuntimeError) as exc:  # libsndfile's errors are RuntimeErrors
            raise AudioError(f"cannot write {self.path}: {one_line(exc, 120)}") from None
        self._clipped = False

    def write(self, block: np.ndarray) -> None:
        x = np.asarray(block, np.float32)
        if self.subtype != "FLOAT" and float(np.max(np.abs(x), initial=0.0)) > 1.0:
            self._clipped = True
            x = np.clip(x, -1.0, 1.0)
        self._file.write(x.T)

    def close(self) -> Path:
        self._file.close()
        if self._clipped:
            log.warning("%s: peak above 0 dBFS clipped when writing %s", self.path.name, self.subtype)
        os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "BlockWriter":
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()


def load_audio_bytes(data: bytes, name: str = "upload", sample_rate: float | None = None, *,
                     min_seconds: float = 0.0, allow_silent: bool = False) -> tuple[np.ndarray, float]:
    """Like :func:`load_audio` for the bytes of a file (e.g. a notebook upload)."""
    if not data:
        raise AudioError(f"{name} is empty (0 bytes)")
    suffix = Path(name).suffix.lower()
    if suffix and suffix not in READABLE:
        raise AudioError(f"{name}: unsupported extension {quoted(suffix)}; readable: {', '.join(READABLE)}")
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
        raise AudioError(f"{p.name}: can only write {', '.join(WRITABLE)}, got {quoted(p.suffix)}")
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
