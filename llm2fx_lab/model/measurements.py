"""The agent form of a model planner: it reads the lab's measurement of the pair as the result
of a ``measure_pair`` tool call, as a chat LLM does through the chat planner.

With ``LLMConfig.measurements_in_prompt`` the prompt holds, after the user's turn, the
assistant's ``measure_pair`` call and the tool's JSON result (:func:`measurement_messages`);
the model writes its reasoning and effect calls after it. The result holds the Evidence fields
the grounded chain-of-thought quotes (:mod:`llm2fx_lab.data.cot`), at the precision it quotes
them, so that a model can copy the numbers it relies on instead of generating them. Training
reads them from the Evidence every generated row stores; inference measures the pair the same
way (:func:`pair_measurements`: the dry clip, or the reference's pseudo-dry in blind mode).
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

import numpy as np

from llm2fx_lab.analysis.evidence import compare
from llm2fx_lab.audio.fxnorm import pseudo_dry
from llm2fx_lab.data.format import format_tool_call

#: The tool the prompt shows the model calling.
MEASURE_TOOL = "measure_pair"

#: (Evidence field, decimals): the fields and precision the chain-of-thought quotes.
FIELDS: tuple[tuple[str, int], ...] = (
    ("loudness_change_lu", 1), ("low_band_gain_db", 1), ("mid_band_gain_db", 1), ("high_band_gain_db", 1),
    ("crest_factor_change_db", 1), ("loudness_range_change_lu", 1), ("side_to_mid_change_db", 1),
    ("pan_change", 2), ("decay_change_seconds", 2),
)


def _number(value: Any, decimals: int) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    value = float(value)
    return round(value, decimals) if math.isfinite(value) else None


def measurement_result(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """The tool result from an Evidence's fields (``Evidence.as_dict()``, or the JSON a
    generated row stores): the quoted fields rounded as the reasoning quotes them, the added
    harmonics as a percentage of the energy, the echo's delay in ms (when one is detected)."""
    out: dict[str, Any] = {name: _number(evidence.get(name), decimals) for name, decimals in FIELDS}
    harmonics = _number(evidence.get("added_harmonics_db"), 6)
    out["added_harmonics_percent"] = None if harmonics is None else round(10 ** (harmonics / 10) * 100, 1)
    echo = bool(evidence.get("echo_detected"))
    out["echo_detected"] = echo
    if echo:
        delay = _number(evidence.get("echo_delay_seconds"), 6)
        out["echo_delay_ms"] = None if delay is None else int(round(1000 * delay))
        out["echo_level_db"] = _number(evidence.get("echo_level_db"), 1)
        out["echo_feedback"] = _number(evidence.get("echo_feedback"), 2)
    return out


def measurement_messages(result: Mapping[str, Any]) -> list[dict[str, str]]:
    """The assistant's ``measure_pair`` call and the tool's answer, as chat messages."""
    return [{"role": "assistant", "content": format_tool_call(MEASURE_TOOL, {})},
            {"role": "tool", "content": json.dumps(dict(result), separators=(",", ":"))}]


def pair_measurements(dry: np.ndarray | None, reference: np.ndarray, sample_rate: float) -> dict[str, Any]:
    """:func:`measurement_result` of the pair as the data generator measures it: the dry clip
    against the reference, or (``dry`` None: blind) the reference's pseudo-dry against it."""
    x = pseudo_dry(reference, sample_rate) if dry is None else dry
    return measurement_result(compare(x, reference, sample_rate).as_dict())


def _stereo(x: Any) -> np.ndarray:
    x = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float32)
    if x.ndim == 1:
        return np.stack([x, x])
    return x.T if x.shape[0] != 2 and x.shape[1] == 2 else x


def prompt_measurements(cfg: Any, dry: Any, reference: Any) -> dict[str, Any] | None:
    """What a model of ``cfg`` (a :class:`~llm2fx_lab.model.config.ModelConfig`) reads in its
    prompt: :func:`pair_measurements` of the whole clips at its rate when it has
    ``measurements_in_prompt``, else None. The audio is checked by the caller."""
    if not cfg.llm.measurements_in_prompt:
        return None
    return pair_measurements(None if dry is None else _stereo(dry), _stereo(reference), cfg.encoder.sample_rate)
