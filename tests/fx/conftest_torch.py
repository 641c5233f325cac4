"""Helpers for the torch renderer tests: real-ish input, random parameter draws, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llm2fx_lab.fx.spec import MODULE_NAMES, module

SR = 44100

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.gpu,
                                pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")]),
]


def synthetic_clip(seconds: float, seed: int = 0, sr: int = SR) -> np.ndarray:
    """Seeded stereo "real-ish" audio: decaying plucked tones, noise bursts and a bass line."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    out = np.zeros((2, n))
    for start in np.arange(0.0, seconds, 0.25):
        i = int(start * sr)
        f = rng.choice([196.0, 247.0, 294.0, 392.0, 494.0, 587.0])
        tt = t[: n - i]
        tone = sum(np.sin(2 * np.pi * f * k * tt) / k for k in range(1, 6)) * np.exp(-tt * 6)
        pan = rng.uniform(0.2, 0.8)
        out[0, i:] += 0.3 * (1 - pan) * tone
        out[1, i:] += 0.3 * pan * tone
    for start in np.arange(0.125, seconds, 0.5):
        i = int(start * sr)
        m = min(n - i, int(0.05 * sr))
        burst = rng.standard_normal((2, m)) * np.exp(-np.arange(m) / (0.01 * sr))
        out[:, i:i + m] += 0.4 * burst
    bass = 0.25 * np.sin(2 * np.pi * 55.0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    out += bass
    return out.astype(np.float32)


def real_clip(seconds: float, index: int = 0) -> np.ndarray:
    """A crop of a bundled example (skipping the first second) or, without them, a synthetic clip."""
    try:
        from llm2fx_lab.examples import list_examples, load_example

        names = list_examples()
        if names:
            audio, sr = load_example(names[index % len(names)])
            if sr == SR and audio.shape[1] >= int((seconds + 1) * SR):
                return np.ascontiguousarray(audio[:, SR:SR + int(seconds * SR)], dtype=np.float32)
    except Exception:  # noqa: BLE001 - any loader problem: fall back to synthetic audio
        pass
    return synthetic_clip(seconds, seed=index)


def random_value(spec, rng: np.random.Generator) -> float:
    """A uniform draw over the valid range, on the spec's scale (log for times)."""
    lo = spec.normalize(spec.lowest_valid)
    return float(spec.denormalize(rng.uniform(lo, 1.0)))


def random_args(name: str, rng: np.random.Generator) -> dict[str, float]:
    return {p.name: random_value(p, rng) for p in module(name).params}


def random_chain(rng: np.random.Generator, length: int) -> list[dict]:
    names = rng.choice(MODULE_NAMES, size=length, replace=False)
    return [{"name": str(n), "arguments": random_args(str(n), rng)} for n in names]


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    reference = np.asarray(reference, np.float64)
    err = np.sum((reference - np.asarray(estimate, np.float64)) ** 2)
    return float("inf") if err == 0 else float(10 * np.log10(np.sum(reference ** 2) / err))


def gain_reduction_rms_db(x: np.ndarray, y_ref: np.ndarray, y_est: np.ndarray, floor_db: float = -50.0) -> float:
    """RMS difference (dB) of the two gain curves ``20 log10 |y / x|`` where ``|x|`` is above
    ``floor_db`` dBFS (the gain is undefined in silence)."""
    mask = np.abs(x) > 10 ** (floor_db / 20)
    g_ref = 20 * np.log10(np.maximum(np.abs(y_ref[mask]), 1e-12) / np.abs(x[mask]))
    g_est = 20 * np.log10(np.maximum(np.abs(y_est[mask]), 1e-12) / np.abs(x[mask]))
    return float(np.sqrt(np.mean((g_ref - g_est) ** 2)))
