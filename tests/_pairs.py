"""Shared test helpers: rendered (dry, wet) pairs of the bundled examples."""

import numpy as np

from llm2fx_lab.examples import load_example
from llm2fx_lab.fx import Chain, render

#: A chain that changes the audio a lot (distortion into a large reverb).
STRONG = [{"name": "distortion", "arguments": {"drive_db": 18}},
          {"name": "reverb", "arguments": {"room_size": 0.8, "damping": 0.2, "width": 0.9, "mix_ratio": 0.6}}]


def rendered_pair(gain_db=None, chain=None, name="piano", seconds=4.0):
    """(dry, wet) float32 of a bundled example: ``chain`` (tool calls) or a gain of ``gain_db``."""
    dry, sr = load_example(name)
    dry = dry[:, : int(seconds * sr)]
    calls = chain or [{"name": "gain", "arguments": {"gain_db": gain_db}}]
    wet = np.clip(render(dry, sr, Chain.from_tool_calls(calls)), -1.0, 1.0).astype(np.float32)
    return dry, wet


def noise_bursts(seed: int, seconds: float = 5.0, side_level: float = 0.0, sr: int = 44100) -> np.ndarray:
    """A clip of pink-noise bursts at random onsets (0.2-0.35 s apart, 50 ms decays), stereo
    ``(2, samples)`` float32 with an independent side signal at ``side_level`` times the mid.

    Two seeds give two different clips of the same kind of material (the same spectrum, level,
    dynamics and width on average): what style mode can match exactly.
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = np.zeros((2, n), np.float32)

    def pink(m: int) -> np.ndarray:
        spectrum = np.fft.rfft(rng.standard_normal(m))
        w = np.fft.irfft(spectrum / np.sqrt(np.maximum(np.fft.rfftfreq(m, 1 / sr), 20.0)), m)
        return w / (np.std(w) + 1e-9)

    onset = 0.0
    while onset < seconds - 0.2:
        start = int(onset * sr)
        m = min(int(0.4 * sr), n - start)
        envelope = 0.1 * rng.uniform(0.5, 1.0) * np.exp(-np.arange(m) / sr / 0.05)
        mid, side = pink(m), side_level * pink(m)
        out[0, start:start + m] += (mid + side) * envelope
        out[1, start:start + m] += (mid - side) * envelope
        onset += rng.uniform(0.2, 0.35)
    return out
