"""The measurement tools a chat model may call before it answers, built on :mod:`llm2fx_lab.analysis`.

An LLM cannot hear the clips (most cannot take audio at all), so the lab measures for it:

- ``measure_pair``: the :class:`~llm2fx_lab.analysis.Evidence` of the dry clip against the
  reference (loudness, band gains, crest factor, decay, echo, stereo width and pan, added
  harmonics) with the sentences the lab's own planners quote;
- ``measure_clip``: one clip's :func:`~llm2fx_lab.analysis.clip_features`;
- ``render_and_compare``: a proposed chain rendered on the dry clip, its MR-STFT distance to the
  reference (left and right, the paper's MRS) and the Evidence of the reference against the
  render, so the model can revise its chain.

Results are JSON objects with units in their keys, numbers rounded to 4 significant digits.
Without a dry clip (blind estimation) only ``measure_clip`` of the reference is offered.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np

from llm2fx_lab.analysis.evidence import Evidence, compare
from llm2fx_lab.analysis.features import clip_features
from llm2fx_lab.analysis.metrics import mrstft_lr
from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.errors import ToolCallError
from llm2fx_lab.fx.chain import as_chain
from llm2fx_lab.fx.render import render
from llm2fx_lab.fx.spec import MODULE_NAMES

MEASUREMENT_TOOLS = ("measure_pair", "measure_clip", "render_and_compare")


def function_schema(name: str, description: str, properties: Mapping[str, Any], required: list[str]) -> dict[str, Any]:
    """An OpenAI-style function tool schema."""
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": dict(properties), "required": required}}}


def measurement_schemas(blind: bool = False) -> list[dict[str, Any]]:
    """The OpenAI-style tool schemas of the measurement tools (only ``measure_clip`` of the
    reference when ``blind``)."""
    clips = ["reference"] if blind else ["dry", "reference"]
    measure_clip = function_schema(
        "measure_clip",
        "Measure one clip: loudness (LUFS), peak and RMS level (dBFS), crest factor (dB), loudness "
        "range (LU), spectral centroid (Hz) and tilt (dB per octave), 1/3-octave band levels (dB), "
        "stereo side-to-mid (dB), balance (dB), pan position, correlation, decay time (s), echo.",
        {"clip": {"type": "string", "enum": clips, "description": "which clip to measure"}}, ["clip"])
    if blind:
        return [measure_clip]
    measure_pair = function_schema(
        "measure_pair",
        "Measure what changed from the dry clip to the reference: loudness, low/mid/high band gains, "
        "crest factor, loudness range, stereo width and pan, correlation, decay time, echo (delay, "
        "level, feedback) and added harmonics, with a sentence for each notable change.",
        {}, [])
    render_and_compare = function_schema(
        "render_and_compare",
        "Render a proposed effect chain on the dry clip and compare the result with the reference: "
        "the multi-resolution STFT distance on the left and right channels (0 = the same sound) and "
        "what the reference has more or less of than the render (reference minus render).",
        {"chain": {"type": "array", "description": "the effect tool calls, in processing order",
                   "items": {"type": "object", "properties": {
                       "name": {"type": "string", "enum": list(MODULE_NAMES)},
                       "arguments": {"type": "object"}}, "required": ["name", "arguments"]}}},
        ["chain"])
    return [measure_pair, measure_clip, render_and_compare]


def _json_value(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(f"{value:.4g}") if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def evidence_json(evidence: Evidence) -> dict[str, Any]:
    """An :class:`Evidence` as JSON data: every measured change (units in the keys), the
    sentences of the notable ones, and notes (NaN becomes null)."""
    out = {f.name: _json_value(getattr(evidence, f.name)) for f in dataclasses.fields(evidence)
           if f.name not in ("sentences", "notes", "sample_rate")}
    out["notable_changes"] = [evidence.sentence(n) for n in evidence.notable]
    if evidence.notes:
        out["notes"] = list(evidence.notes)
    return out


class MeasurementTools:
    """The measurement tools of one pair: ``call(name, arguments)`` returns JSON data.

    Parameters
    ----------
    dry : ndarray, shape (channels, samples), or None
        None in blind mode: only ``measure_clip`` of the reference works.
    reference : ndarray, shape (channels, samples)
    sample_rate : float
        In Hz.

    Raises
    ------
    ToolCallError
        From :meth:`call`: an unknown tool, or arguments it cannot take (the message says what
        is allowed; the chat planner sends it back to the model to correct).
    """

    def __init__(self, dry: Any, reference: Any, sample_rate: float) -> None:
        self.sample_rate = check_sample_rate(sample_rate)
        self.reference = as_stereo_float32(reference, "reference")
        self.dry = None if dry is None else as_stereo_float32(dry, "dry")
        if self.dry is not None:
            n = min(self.dry.shape[1], self.reference.shape[1])
            self.dry, self.reference = self.dry[:, :n], self.reference[:, :n]
        self._pair: dict[str, Any] | None = None

    @property
    def blind(self) -> bool:
        return self.dry is None

    def schemas(self) -> list[dict[str, Any]]:
        return measurement_schemas(self.blind)

    def names(self) -> tuple[str, ...]:
        return tuple(s["function"]["name"] for s in self.schemas())

    def call(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        if name not in self.names():
            extra = " (there is no dry clip: blind estimation)" if self.blind and name in MEASUREMENT_TOOLS else ""
            raise ToolCallError(f"unknown measurement tool {name!r}{extra}; allowed: {', '.join(self.names())}")
        if not isinstance(arguments, Mapping):
            raise ToolCallError(f"{name} takes a JSON object of arguments, got {type(arguments).__name__}")
        return getattr(self, f"_{name}")(dict(arguments))

    def _measure_pair(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if arguments:
            raise ToolCallError(f"measure_pair takes no arguments, got {', '.join(sorted(arguments))}")
        if self._pair is None:  # a model may ask again: the pair does not change
            self._pair = {"dry_vs_reference": evidence_json(compare(self.dry, self.reference, self.sample_rate))}
        return self._pair

    def _measure_clip(self, arguments: dict[str, Any]) -> dict[str, Any]:
        allowed = ["reference"] if self.blind else ["dry", "reference"]
        clip = arguments.get("clip")
        if clip not in allowed or set(arguments) - {"clip"}:
            raise ToolCallError(f"measure_clip takes {{\"clip\": one of {allowed}}}, got {dict(arguments)!r}")
        x = self.reference if clip == "reference" else self.dry
        return {clip: _json_value(clip_features(x, self.sample_rate).as_dict())}

    def _render_and_compare(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if set(arguments) != {"chain"}:
            raise ToolCallError(f"render_and_compare takes {{\"chain\": [tool calls]}}, got {sorted(arguments)}")
        chain = as_chain(arguments["chain"])  # strict: the model learns what is out of range
        estimate = render(self.dry, self.sample_rate, chain)[:, : self.reference.shape[1]]
        left, right = mrstft_lr(self.reference, estimate, self.sample_rate)
        return {"chain": chain.to_tool_calls(), "mrstft_left": _json_value(left), "mrstft_right": _json_value(right),
                "reference_minus_render": evidence_json(compare(estimate, self.reference, self.sample_rate))}
