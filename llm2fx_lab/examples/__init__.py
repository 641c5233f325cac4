"""Bundled example audio (made offline by ``scripts/make_examples.py``; see ``PROVENANCE.md``).

Each example is a 10 s stereo 44.1 kHz FLAC clip of General MIDI material rendered with
FluidSynth and the FluidR3 GM soundfont (MIT). ``pairs.json`` gives each a demonstration
chain, so ``example_pair(name)`` returns a (dry, reference) pair with a known answer.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from llm2fx_lab.audio.io import as_rate, load_audio, resample
from llm2fx_lab.errors import AudioError
from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.fx.render import render

EXAMPLES_DIR = Path(__file__).resolve().parent


def list_examples() -> list[str]:
    """Names of the bundled clips, sorted."""
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.flac"))


def _path(name: str) -> Path:
    path = EXAMPLES_DIR / f"{name}.flac"
    if not path.exists():
        raise AudioError(f"no bundled example {name!r}; available: {', '.join(list_examples()) or 'none'}")
    return path


@lru_cache(maxsize=16)
def _load_cached(name: str) -> tuple[np.ndarray, float]:
    audio, sr = load_audio(_path(name))
    audio.setflags(write=False)
    return audio, sr


def load_example(name: str, sample_rate: float | None = None) -> tuple[np.ndarray, float]:
    """Load a bundled clip as ``(audio (2, samples) float32, sample_rate)``.

    The array is a fresh copy; resampled (soxr) if ``sample_rate`` is given.
    """
    audio, sr = _load_cached(name)
    audio = audio.copy()
    if sample_rate is not None and float(sample_rate) != sr:
        return resample(audio, sr, sample_rate), as_rate(sample_rate)
    return audio, sr


def example_chain(name: str):
    """The demonstration chain of an example (a :class:`~llm2fx_lab.fx.Chain`)."""
    _path(name)
    pairs = json.loads((EXAMPLES_DIR / "pairs.json").read_text())
    return Chain.from_tool_calls(pairs[name])


def example_pair(name: str, tail_seconds: float = 0.0):
    """``(dry, reference, sample_rate, chain)``: the clip and the clip rendered through its chain."""
    dry, sr = load_example(name)
    chain = example_chain(name)
    reference = render(dry, sr, chain, tail_seconds=tail_seconds)
    if tail_seconds:
        dry = np.pad(dry, ((0, 0), (0, reference.shape[1] - dry.shape[1])))
    return dry, reference, sr, chain
