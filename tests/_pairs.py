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
