"""Shared fixtures: offline environment, deterministic test signals, bundled examples."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# The Arrow caches that `datasets` builds from the tests' generated folders go to a folder of
# this run, removed at its end, not to the user's ~/.cache (set before `datasets` is imported).
if "HF_DATASETS_CACHE" not in os.environ:
    _datasets_cache = tempfile.mkdtemp(prefix="llm2fx-tests-hf-datasets-")
    os.environ["HF_DATASETS_CACHE"] = _datasets_cache
    atexit.register(shutil.rmtree, _datasets_cache, ignore_errors=True)

SR = 44100


@pytest.fixture
def sr() -> int:
    return SR


@pytest.fixture(scope="session")
def bursts() -> np.ndarray:
    """3 s of noise bursts (0.2 s on, 0.3 s off): sounds with abrupt ends, float32 (2, 132300)."""
    x = (0.1 * np.random.default_rng(1).standard_normal((2, 3 * SR))).astype(np.float32)
    env = np.zeros(x.shape[1], dtype=np.float32)
    for start in np.arange(0, 3, 0.5):
        env[int(start * SR):int((start + 0.2) * SR)] = 1
    return x * env


@pytest.fixture
def noise() -> np.ndarray:
    """1 s of seeded stereo noise at -20 dBFS RMS, float32 (2, 44100)."""
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal((2, SR))).astype(np.float32)


def sine(freq_hz: float, seconds: float = 1.0, amplitude: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return np.stack([x, x])


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    reference = np.asarray(reference, np.float64)
    err = np.sum((reference - np.asarray(estimate, np.float64)) ** 2)
    return float("inf") if err == 0 else float(10 * np.log10(np.sum(reference ** 2) / err))
