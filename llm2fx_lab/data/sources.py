"""Dry sources: where the dry 10 s segments come from.

Three kinds, one interface (:class:`DrySource`):

- :class:`FolderSource`: any folder of the user's audio (e.g. MedleyDB or MUSDB18 stems
  they own), walked recursively; each file gives consecutive 10 s segments. Files are
  assigned to splits by a hash of their folder (a song's stems stay together), so the
  test split never shares material with training.
- :class:`ExamplesSource`: the bundled example clips.
- :class:`MidiSource`: random General MIDI pieces rendered with FluidSynth, offline and
  unlimited; each split draws its pieces from its own seed stream (disjoint material).

Every segment is prepared the same way (:func:`prepare_segment`): stereo, 44.1 kHz,
exactly 10 s, loudness-normalised to -12 LUFS (clipped to [-1, 1], as the reference does);
silent or near-silent segments are skipped (:func:`is_near_silent`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import soundfile as sf

from llm2fx_lab.audio.checks import as_stereo_float32
from llm2fx_lab.audio.io import resample
from llm2fx_lab.audio.loudness import integrated_loudness_lufs
from llm2fx_lab.data.midi import check_fluidsynth, random_piece, render_piece
from llm2fx_lab.errors import AudioError
from llm2fx_lab.examples import EXAMPLES_DIR, list_examples

log = logging.getLogger(__name__)

SAMPLE_RATE = 44100
SEGMENT_SECONDS = 10.0
TARGET_LUFS = -12.0
AUDIO_EXTENSIONS = (".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3")
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Segment:
    """A prepared dry segment: ``audio`` (2, samples) float32 at ``sample_rate``."""

    audio: np.ndarray
    sample_rate: int
    source: str
    source_id: str
    group: str
    instruments: tuple[str, ...] = ()
    info: dict = field(default_factory=dict, compare=False)


def is_near_silent(audio: np.ndarray, sample_rate: float, min_active_fraction: float = 0.25,
                   floor_dbfs: float = -60.0) -> bool:
    """True when the clip is silent or mostly silent.

    A 100 ms frame is *active* when its level is above ``floor_dbfs`` and within 50 dB of
    the loudest frame; a clip with less than ``min_active_fraction`` active frames (or a
    peak below ``floor_dbfs``) is near-silent.
    """
    x = as_stereo_float32(audio)
    if float(np.max(np.abs(x))) < 10 ** (floor_dbfs / 20):
        return True
    hop = max(int(0.1 * sample_rate), 1)
    n = x.shape[1] // hop
    if n == 0:
        return True
    power = np.mean(np.square(x[:, : n * hop], dtype=np.float64), axis=0).reshape(n, hop).mean(axis=1)
    levels = 10 * np.log10(power + 1e-20)
    active = (levels > floor_dbfs) & (levels > levels.max() - 50)
    return float(active.mean()) < min_active_fraction


def prepare_segment(audio: np.ndarray, sample_rate: float, seconds: float = SEGMENT_SECONDS,
                    target_lufs: float = TARGET_LUFS) -> np.ndarray | None:
    """Stereo, 44.1 kHz, exactly ``seconds`` (zero-padded), at ``target_lufs``; ``None`` if near-silent."""
    x = as_stereo_float32(audio)
    if float(sample_rate) != SAMPLE_RATE:
        x = resample(x, sample_rate, SAMPLE_RATE)
    n = int(round(seconds * SAMPLE_RATE))
    x = x[:, :n]
    if x.shape[1] < n:
        x = np.pad(x, ((0, 0), (0, n - x.shape[1])))
    if is_near_silent(x, SAMPLE_RATE):
        return None
    lufs = integrated_loudness_lufs(x, SAMPLE_RATE)
    if not np.isfinite(lufs):
        return None
    y = x * np.float32(10 ** ((target_lufs - lufs) / 20))
    return np.ascontiguousarray(np.clip(y, -1.0, 1.0), dtype=np.float32)


def split_of(group: str, validation_fraction: float = 0.05, test_fraction: float = 0.1) -> str:
    """Deterministic split of a group name (by hash), so groups never straddle splits."""
    h = int.from_bytes(hashlib.sha1(group.encode("utf-8")).digest()[:8], "big") / 2.0 ** 64
    if h < test_fraction:
        return "test"
    if h < test_fraction + validation_fraction:
        return "validation"
    return "train"


class DrySource:
    """Interface: ``segment(split, key, rng) -> Segment | None`` for an integer ``key``.

    ``key`` identifies a unit of work; sources that render long pieces (MIDI) return the
    ``offset``-th segment of piece ``key`` through :meth:`segments`.
    """

    name = "source"

    def segments(self, split: str, key: int, count: int) -> list[Segment]:
        """Up to ``count`` prepared segments for unit ``key`` of ``split`` (deterministic)."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


def _seed(*parts: object) -> np.random.Generator:
    digest = hashlib.sha1("/".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


class MidiSource(DrySource):
    """Random GM pieces rendered with FluidSynth; ``piece_seconds`` of audio per unit."""

    name = "midi"

    def __init__(self, seed: int = 0, piece_seconds: float | None = None):
        check_fluidsynth()
        self.seed = int(seed)
        self.piece_seconds = piece_seconds

    def segments(self, split: str, key: int, count: int) -> list[Segment]:
        rng = _seed("midi", self.seed, split, key)
        seconds = self.piece_seconds or SEGMENT_SECONDS * (count + 1)
        piece = random_piece(rng, seconds)
        n = int(SEGMENT_SECONDS * SAMPLE_RATE)
        # render only what ``count`` segments need (rendering is causal); all of it if some
        # of those are near-silent
        audio = render_piece(piece, SAMPLE_RATE, max_samples=count * n)
        out = self._cut(piece, split, key, count, audio)
        if len(out) < count and count * n <= audio.shape[1] < count * n + 64:  # stopped early
            out = self._cut(piece, split, key, count, render_piece(piece, SAMPLE_RATE))
        return out

    def _cut(self, piece, split: str, key: int, count: int, audio: np.ndarray) -> list[Segment]:
        n = int(SEGMENT_SECONDS * SAMPLE_RATE)
        out = []
        for k in range(audio.shape[1] // n):
            seg = prepare_segment(audio[:, k * n:(k + 1) * n], SAMPLE_RATE)
            if seg is None:
                continue
            out.append(Segment(seg, SAMPLE_RATE, self.name, f"midi:{self.seed}:{split}:{key}:{k}",
                               f"midi:{split}:{key}", tuple(piece.instruments),
                               {"bpm": piece.bpm, "key": piece.key, "roles": [p.role for p in piece.parts]}))
            if len(out) == count:
                break
        return out


class _FileSegments(DrySource):
    """Shared by folder and example sources: a fixed list of (path, offset seconds, group)."""

    def __init__(self, files: Sequence[tuple[Path, str]], name: str,
                 validation_fraction: float = 0.05, test_fraction: float = 0.1, by_split: bool = True):
        self.name = name
        self.items: dict[str, list[tuple[Path, float, str]]] = {s: [] for s in SPLITS}
        for path, group in files:
            try:
                info = sf.info(str(path))
            except RuntimeError as exc:
                log.warning("skipping %s: %s", path, exc)
                continue
            n_seg = max(int(info.duration // SEGMENT_SECONDS), 1)
            split = split_of(group, validation_fraction, test_fraction) if by_split else None
            for k in range(n_seg):
                for s in ([split] if split else SPLITS):
                    self.items[s].append((Path(path), k * SEGMENT_SECONDS, group))
        if not any(self.items.values()):
            raise AudioError(f"{name}: no readable audio files ({', '.join(AUDIO_EXTENSIONS)})")

    def count(self, split: str) -> int:
        return len(self.items[split])

    def segments(self, split: str, key: int, count: int) -> list[Segment]:
        items = self.items[split]
        if not items and self.items["train"]:
            # too few songs for this split: training material stands in, so the split is not disjoint
            log.warning("%s: no material for split %r; using the train split's (splits overlap)", self.name, split)
            items = self.items["train"]
        if not items:
            raise AudioError(f"{self.name}: no material for split {split!r}")
        rng = _seed(self.name, split, key)
        out = []
        for _ in range(4 * count):
            path, offset, group = items[int(rng.integers(len(items)))]
            info = sf.info(str(path))
            start = int(offset * info.samplerate)
            data, sr = sf.read(str(path), start=start, stop=start + int(SEGMENT_SECONDS * info.samplerate),
                               dtype="float32", always_2d=True)
            if data.shape[0] == 0:
                continue
            x = data.T if data.shape[1] <= 2 else data.T[:2]
            seg = prepare_segment(x, sr)
            if seg is None:
                continue
            out.append(Segment(seg, SAMPLE_RATE, self.name, f"{path.name}@{offset:g}s", group,
                               (path.stem,)))
            if len(out) == count:
                break
        return out


class FolderSource(_FileSegments):
    """Every audio file under ``root`` (recursive); a file's folder is its group (song)."""

    def __init__(self, root: str | os.PathLike, validation_fraction: float = 0.05, test_fraction: float = 0.1):
        root = Path(root)
        if not root.is_dir():
            raise AudioError(f"dry folder {root} does not exist or is not a folder")
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
        super().__init__([(p, str(p.parent.relative_to(root))) for p in files], f"folder:{root.name}",
                         validation_fraction, test_fraction)


class ExamplesSource(_FileSegments):
    """The bundled example clips (too few to split: every split sees all of them)."""

    def __init__(self):
        super().__init__([(EXAMPLES_DIR / f"{n}.flac", n) for n in list_examples()], "examples", by_split=False)


def make_source(spec: str, seed: int = 0) -> DrySource:
    """``"midi"``, ``"examples"`` or a folder path."""
    if spec == "midi":
        return MidiSource(seed)
    if spec == "examples":
        return ExamplesSource()
    return FolderSource(spec)


def iter_segments(source: DrySource, split: str, count: int, start_key: int = 0,
                  per_unit: int = 6) -> Iterator[Segment]:
    """``count`` segments from consecutive units (for inspection and tests)."""
    key, made = start_key, 0
    while made < count:
        for seg in source.segments(split, key, min(per_unit, count - made)):
            made += 1
            yield seg
        key += 1
