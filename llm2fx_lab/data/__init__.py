"""Synthetic LP-Fx-style data: dry sources, random chains, grounded dialogues, sharded storage.

Submodules are imported lazily by the functions that need them; the light pieces are
re-exported here.
"""

from llm2fx_lab.data.chains import (
    length_schedule,
    offline_length_counts,
    online_length_weights,
    sample_chain,
    sample_online_chain,
    sample_params,
)
from llm2fx_lab.data.format import (
    AUDIO_PLACEHOLDER,
    N_AUDIO_TOKENS,
    parse_tool_calls,
    render_dialogue,
)
from llm2fx_lab.data.similarity import passes_similarity_filter, similarity_filter

__all__ = [
    "AUDIO_PLACEHOLDER", "N_AUDIO_TOKENS", "length_schedule", "offline_length_counts",
    "online_length_weights", "parse_tool_calls", "passes_similarity_filter", "render_dialogue",
    "sample_chain", "sample_online_chain", "sample_params", "similarity_filter",
]
