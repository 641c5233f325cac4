"""ChatPlanner: any chat LLM plans the chain, with the lab's measurements as tools.

The conversation is the paper's: a system role (a music post-production engineer with the 9
effect tools, official schemas), the three reasoning steps (module selection, order,
parameters), and the user's request. Because most LLMs cannot hear, the planner also offers
measurement tools (:mod:`.tools`) that the model may call before it answers, and runs the
loop:

1. send the conversation (:mod:`.backends`: an OpenAI-compatible endpoint or a local
   checkpoint) and stream the model's reasoning and text as ``Thinking`` events;
2. run each measurement call and send its result back as a tool message
   (a :class:`~llm2fx_lab.events.Measurement` event); validate each effect call and send back
   ``ok`` or the error (an unknown tool or parameter, a value out of range), which the model may
   correct, recorded as a repair;
3. repeat until the model answers without calling a tool, or after ``max_rounds``;
4. end with one ``Final``: the chain, the reasoning, the whole tool transcript, token counts.

Effect calls build the chain: a module called again replaces its earlier call in place; a turn
that calls every module of the chain again restates it, order included.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.errors import Llm2FxError, PlannerError, replace_fields
from llm2fx_lab.events import Event, Final, Measurement, Response, StreamClock, Thinking, ToolCallEvent
from llm2fx_lab.fx.chain import Chain, ToolCall, as_chain, tool_call
from llm2fx_lab.fx.schemas import tool_schemas
from llm2fx_lab.fx.spec import MODULE_NAMES
from llm2fx_lab.planners.chat.backends import Turn, wav_base64, wav_bytes
from llm2fx_lab.planners.chat.edit_tools import EDIT_TOOLS, apply_edit_tool, edit_schemas
from llm2fx_lab.planners.chat.parsing import RawCall
from llm2fx_lab.planners.chat.tools import MEASUREMENT_TOOLS, MeasurementTools
from llm2fx_lab.planners.edits import diff_chains, edit_reply

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are a music post-production engineer. A dry recording was processed by an unknown chain of "
    "audio effects into a reference recording. Find that chain: which effect modules, in which order, with "
    "which settings. You have one tool per effect module (gain, distortion, compressor, delay, limiter, "
    "panner, stereo widener, 3-band equalizer, reverb); each call adds that module, in processing order. "
    "You cannot hear the audio yourself: call the measurement tools (measure_pair, measure_clip, "
    "render_and_compare) to learn what changed, and check a proposed chain with render_and_compare before "
    "you settle on it. Reason in three steps before you call the effect tools: 1. module selection: which "
    "effects the measurements show, and why; 2. order: the order they run in, and why; 3. parameters: each "
    "module's settings, from the measured numbers. Then call the effect tools, one per module, in processing "
    "order, and finish with one short sentence without tool calls."
)


#: The request of a first estimate.
TASK = "Estimate the audio effects chain that turns the dry audio into the reference audio."
#: WAV subtypes an attached clip may be sent as.
AUDIO_SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")


@dataclass(frozen=True)
class ChatConfig:
    """Settings of :class:`ChatPlanner`.

    Parameters
    ----------
    max_rounds : int
        Model turns at most (each may call tools); the planner stops after them with the chain
        so far, and says so in a repair.
    measurement_tools : bool
        Offer ``measure_pair``, ``measure_clip`` and ``render_and_compare``.
    attach_audio : bool
        Also send the dry clip and the reference as ``input_audio`` WAV parts, for audio-capable
        models behind an endpoint and for ``llm2fx serve``.
    audio_subtype : str
        The attached WAV's sample format, one of :data:`AUDIO_SUBTYPES`: 16-bit PCM (what
        audio LLMs take; the default) or 32-bit float (lossless: ``llm2fx serve`` then hears
        exactly the clips an in-process planner would).
    upload_audio : bool
        Attach the clips as uploaded files instead of inline base64: each clip is uploaded once
        per estimate (``POST /files``, the OpenAI Files API), the messages name it by id (a
        ``file`` content part), and it is deleted when the estimate ends. ``llm2fx serve``
        takes this; most chat endpoints take files but not as audio. Implies ``attach_audio``;
        endpoints (``llm:``) only.
    system_prompt : str
        The system role.
    max_audio_seconds : float
        Clips are cut to this length before they are measured or sent.
    """

    max_rounds: int = 6
    measurement_tools: bool = True
    attach_audio: bool = False
    audio_subtype: str = "PCM_16"
    upload_audio: bool = False
    system_prompt: str = SYSTEM_PROMPT
    max_audio_seconds: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.max_rounds, bool) or not isinstance(self.max_rounds, int) or not 1 <= self.max_rounds <= 50:
            raise PlannerError(f"ChatConfig.max_rounds must be a whole number in [1, 50], got {self.max_rounds!r}")
        if not (isinstance(self.max_audio_seconds, (int, float)) and 0 < self.max_audio_seconds <= 600):
            raise PlannerError(f"ChatConfig.max_audio_seconds must be in (0, 600], got {self.max_audio_seconds!r}")
        if self.audio_subtype not in AUDIO_SUBTYPES:
            raise PlannerError(f"ChatConfig.audio_subtype must be one of {', '.join(AUDIO_SUBTYPES)}, "
                               f"got {self.audio_subtype!r}")

    def replace(self, **changes: Any) -> "ChatConfig":
        """A copy with ``changes``; an error naming the allowed fields for an unknown one."""
        return replace_fields(self, changes)


#: Headings that start a reasoning step, as models write them ("2. Order:", "**Parameters**").
_STEP_LINE = re.compile(r"^\W*(?:step\s*)?\d?\W*(module selection|selection|order|parameters?|settings|"
                        r"refine|revis|check)", re.I)
_STEP_OF = {"module selection": "selection", "selection": "selection", "order": "order", "parameter": "parameters",
            "parameters": "parameters", "settings": "parameters", "refine": "refinement", "revis": "refinement",
            "check": "refinement"}


class _Steps:
    """Which reasoning step streamed text belongs to, from the headings models write."""

    def __init__(self) -> None:
        self.step = "selection"
        self._line = ""

    def split(self, text: str) -> list[tuple[str, str]]:
        """``text`` cut where a heading line starts another step: ``[(step, piece), ...]``."""
        pieces: list[tuple[str, str]] = []
        start, line_start = 0, 0 if not self._line else None
        for i, ch in enumerate(text):
            if ch == "\n":
                self._line, line_start = "", i + 1
                continue
            self._line += ch
            if len(self._line) <= 40:
                m = _STEP_LINE.match(self._line)
                step = _STEP_OF[m.group(1).lower()] if m else self.step
                if step != self.step:
                    cut = line_start if line_start is not None else start
                    if cut > start:
                        pieces.append((self.step, text[start:cut]))
                        start = cut
                    self.step = step
        if start < len(text):
            pieces.append((self.step, text[start:]))
        return pieces


class ChatPlanner:
    """A chat LLM as a planner (see the module docstring).

    Parameters
    ----------
    backend : OpenAIBackend or TransformersBackend
        Anything with ``name`` and ``stream(messages, tools, stop)`` (:mod:`.backends`).
    config : ChatConfig, optional
    name : str, optional
        The planner's name in its events (default: the backend's, ``llm:MODEL@URL`` / ``hf:PATH``).
    **settings
        Single :class:`ChatConfig` fields over ``config``.
    """

    def __init__(self, backend: Any, config: ChatConfig | None = None, name: str | None = None,
                 **settings: Any) -> None:
        self.backend = backend
        self.config = (config or ChatConfig()).replace(**settings)
        self.name = name or backend.name
        if self.config.upload_audio and not hasattr(backend, "upload"):
            raise PlannerError(f"upload_audio sends the clips to an endpoint's /files: it needs an llm:MODEL@URL "
                               f"planner, not {self.name}")

    #: A conversation edit goes to the model itself (:func:`~llm2fx_lab.planners.edits.plan_turn`).
    edits_with_model = True

    # --- the conversation ----------------------------------------------------------------
    def _messages(self, tools: MeasurementTools, instruction: str | None, chain: Chain | None,
                  uploaded: Mapping[str, str]) -> list[dict]:
        """The conversation's start. An edit (``chain`` and ``instruction``) is a conversation
        that already holds the chain: the assistant's effect calls and their ``ok``, then the
        instruction as the user's next message, the standard shape any chat model (and
        ``llm2fx serve``) reads as a follow-up. ``uploaded``: the ids of the clips
        :meth:`_upload` sent (``"dry"``, ``"reference"``)."""
        edit = chain is not None and len(chain) > 0 and bool(instruction)
        lines = [instruction if instruction and not edit else TASK]
        if tools.blind:
            lines.append("There is no dry recording: only the reference (blind estimation). Estimate the chain "
                         "that gives the reference its sound.")
        seconds = tools.reference.shape[1] / tools.sample_rate
        lines.append(f"The clips are {seconds:.1f} s long at {tools.sample_rate:g} Hz, stereo.")
        text = "\n".join(lines)
        user: dict[str, Any] = {"role": "user", "content": text}
        if self.config.attach_audio or self.config.upload_audio:
            parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
            for label, clip in (("dry", tools.dry), ("reference", tools.reference)):
                if clip is None:
                    continue
                parts.append({"type": "text", "text": f"The {label} audio:"})
                if label in uploaded:
                    parts.append({"type": "file", "file": {"file_id": uploaded[label]}})
                else:
                    parts.append({"type": "input_audio", "input_audio": {
                        "data": wav_base64(clip, tools.sample_rate, self.config.audio_subtype), "format": "wav"}})
            user["content"] = parts
        messages = [{"role": "system", "content": self.config.system_prompt}, user]
        if edit:
            calls = [RawCall(f"call_{i}", c["name"], c["arguments"]).to_message()
                     for i, c in enumerate(chain.to_tool_calls(include_bypassed=True))]
            messages.append({"role": "assistant", "content": "", "tool_calls": calls})
            messages += [{"role": "tool", "tool_call_id": c["id"], "content": f"ok: {c['function']['name']} is "
                          f"module {i + 1} of the chain{' (bypassed)' if chain[i].bypass else ''}"}
                         for i, c in enumerate(calls)]
            messages.append({"role": "user", "content": f"{instruction}\nChange the chain as I asked: call the "
                             "effect tools for the modules to change or add (the others stay as they are), and "
                             "remove_module, bypass_module or move_module to take a module out, switch it off or "
                             "on, or move it. If the request cannot apply to this chain, change nothing and say "
                             "why."})
        return messages

    def _upload(self, tools: MeasurementTools) -> dict[str, str]:
        """Upload the clips once (``upload_audio``): ``{"dry": id, "reference": id}``. A failed
        upload deletes the ones made before it and raises the backend's :class:`PlannerError`.
        (Both at once were no faster on 2 cores.)"""
        uploaded: dict[str, str] = {}
        if not self.config.upload_audio:
            return uploaded
        try:
            for label, clip in (("dry", tools.dry), ("reference", tools.reference)):
                if clip is not None:
                    data = wav_bytes(clip, tools.sample_rate, self.config.audio_subtype)
                    uploaded[label] = self.backend.upload(data, f"{label}.wav")
        except BaseException:
            self._forget(uploaded)
            raise
        return uploaded

    def _forget(self, uploaded: Mapping[str, str]) -> None:
        """Delete the uploaded clips; a failure is logged (the estimate is already made)."""
        for file_id in uploaded.values():
            try:
                self.backend.delete(file_id)
            except Llm2FxError as exc:
                log.warning("could not delete the uploaded clip %s: %s", file_id, exc)

    def _tools(self, tools: MeasurementTools, edit: bool = False) -> list[dict[str, Any]]:
        return (tool_schemas() + (edit_schemas() if edit else [])
                + (tools.schemas() if self.config.measurement_tools else []))

    # --- the loop ------------------------------------------------------------------------
    def plan(self, dry: np.ndarray | None, reference: np.ndarray, sample_rate: float,
             instruction: str | None = None, stop: threading.Event | None = None,
             chain: Any = None) -> Iterator[Event]:
        """Stream the model's reasoning, the measurement and effect calls, then one ``Final``.

        ``chain`` (the user's current chain) with an ``instruction`` asks the model to edit it;
        the modules it does not call again stay as they are.

        Raises
        ------
        PlannerError
            The backend fails (an endpoint that cannot be reached, refuses the key, errors).
        """
        cfg = self.config
        clock = StreamClock()
        sr = check_sample_rate(sample_rate)
        n = int(cfg.max_audio_seconds * sr)
        ref = as_stereo_float32(reference, "reference")[:, :n]
        x = None if dry is None else as_stereo_float32(dry, "dry")[:, :n]
        tools = MeasurementTools(x, ref, sr)
        start = as_chain(chain, "lenient") if chain is not None else Chain()
        edit = bool(instruction) and len(start) > 0
        uploaded = self._upload(tools)
        try:
            yield from self._loop(tools, self._messages(tools, instruction, start if edit else None, uploaded),
                                  start, edit, clock, stop)
        finally:  # after the Final (or when the consumer stops early): the clips are not needed any more
            self._forget(uploaded)

    def _loop(self, tools: MeasurementTools, messages: list[dict], start: Chain, edit: bool, clock: StreamClock,
              stop: threading.Event | None) -> Iterator[Event]:
        """The rounds of the conversation (see :meth:`plan`)."""
        cfg = self.config
        schemas = self._tools(tools, edit)
        calls: list[ToolCall] = list(start.calls) if edit else []
        texts: list[str] = []
        repairs: list[str] = []
        usage: dict[str, int] = {}
        steps = _Steps()
        response, stopped, rounds, answered = "", False, 0, False
        measured_names = MEASUREMENT_TOOLS if cfg.measurement_tools else ()
        while rounds < cfg.max_rounds and not stopped:
            rounds += 1
            turn: Turn | None = None
            for item in self.backend.stream(messages, schemas, stop):
                if isinstance(item, Turn):
                    turn = item
                    break
                for text in (item.reasoning, item.content):
                    for step, piece in steps.split(text) if text else ():
                        texts.append(piece)
                        yield clock.mark(Thinking(piece, step))  # type: ignore[arg-type]
                if stop is not None and stop.is_set():
                    stopped = True
            if turn is None:  # the stream was left early (stop)
                stopped = True
                break
            for key, value in turn.usage.items():
                usage[key] = usage.get(key, 0) + value
            repairs.extend(turn.repairs)
            if not texts or not texts[-1].endswith("\n"):
                texts.append("\n")
            messages.append(_assistant_message(turn))
            if not turn.calls:
                response, answered = turn.content.strip(), True
                break
            effect_turn = [c for c in turn.calls if c.name in MODULE_NAMES]
            active = {c.name for c in calls if not c.bypass}
            off_before = {c.name for c in calls if c.bypass}
            restated = bool(active) and {c.name for c in effect_turn} >= active
            kept_off = [(i, c) for i, c in enumerate(calls) if c.bypass and c.name not in
                        {e.name for e in effect_turn}] if restated else []
            if restated:  # a bypassed module the turn did not name keeps its place (the user switched it off)
                calls = []
            for raw in turn.calls:
                content, event = self._run(raw, tools, measured_names, calls, repairs, edit)
                messages.append({"role": "tool", "tool_call_id": raw.id, "content": content})
                if event is not None:
                    yield clock.mark(event)
                if raw.name in MODULE_NAMES and raw.error is None:
                    for i, call in enumerate(calls):
                        if call.name == raw.name:
                            yield clock.mark(ToolCallEvent(call, i))
            if restated:  # a restated module the user had switched off stays off unless the model switched it
                toggled = {(raw.arguments or {}).get("module") for raw in turn.calls
                           if raw.name == "bypass_module" and raw.error is None}
                calls = [dataclasses.replace(c, bypass=True) if c.name in off_before - toggled else c for c in calls]
            for i, call in kept_off:
                calls.insert(min(i, len(calls)), call)
            if stop is not None and stop.is_set():
                stopped = True
        if not answered and not stopped:
            repairs.append(f"the model was still calling tools after {cfg.max_rounds} rounds; the chain so far "
                           "is the answer")
        final_chain = Chain(tuple(calls))
        if edit:  # the reply says what changed, read from the chains, whatever the model wrote
            said = f" The model said: {response}" if response else ""
            changes = diff_chains(start, final_chain)
            response = edit_reply(changes, [] if changes else ["the model made no change to the chain"], final_chain,
                                  explain=False) + said
        if not response:
            response = (f"Estimated chain: {' -> '.join(final_chain.names)}." if len(final_chain)
                        else "The model called no effect tool; the chain is empty.")
        yield clock.mark(Response(response))
        tokens = usage.get("completion_tokens")
        yield Final(final_chain, "".join(texts), response, clock.timings(tokens), tuple(repairs), stopped,
                    self.name, tuple(_without_audio(m) for m in messages), usage or None)

    def _run(self, raw: RawCall, tools: MeasurementTools, measured_names: tuple[str, ...], calls: list[ToolCall],
             repairs: list[str], edit: bool = False) -> tuple[str, Measurement | None]:
        """Execute one call; returns the tool message's content and the event to stream."""
        if raw.error is None and edit and raw.name in EDIT_TOOLS:
            try:
                return apply_edit_tool(raw.name, raw.arguments or {}, calls), None
            except Llm2FxError as exc:
                repairs.append(f"{raw.name}: {exc}; sent back to the model")
                raw.error = str(exc)
                return f"error: {exc}", None
        if raw.error is not None:
            repairs.append(f"{raw.name or 'a tool call'}: {raw.error}; sent back to the model")
            return f"error: {raw.error}", (Measurement(raw.name, {}, None, raw.error) if raw.name in measured_names
                                          else None)
        if raw.name in measured_names:
            try:
                result = tools.call(raw.name, raw.arguments or {})
            except Llm2FxError as exc:
                repairs.append(f"{raw.name}: {exc}; sent back to the model")
                return f"error: {exc}", Measurement(raw.name, raw.arguments or {}, None, str(exc))
            return json.dumps(result, separators=(",", ":")), Measurement(raw.name, raw.arguments or {}, result)
        if raw.name not in MODULE_NAMES:
            allowed = ", ".join(MODULE_NAMES + (tools.names() if measured_names else ()) + (EDIT_TOOLS if edit else ()))
            repairs.append(f"unknown tool {raw.name!r}; sent back to the model")
            raw.error = f"unknown tool {raw.name!r}; allowed: {allowed}"
            return f"error: {raw.error}", None
        try:
            call = tool_call(raw.name, raw.arguments or {}, mode="strict")
        except Llm2FxError as exc:
            repairs.append(f"{raw.name}: {exc}; sent back to the model")
            raw.error = str(exc)
            return f"error: {exc}. Call {raw.name} again with allowed values.", None
        for i, old in enumerate(calls):
            if old.name == call.name:
                calls[i] = dataclasses.replace(call, bypass=old.bypass)
                break
        else:
            calls.append(call)
        settings = ", ".join(f"{k}={v:g}" for k, v in call.params.items())
        return f"ok: {call.name} ({settings}) is module {[c.name for c in calls].index(call.name) + 1} of the chain", None


def _assistant_message(turn: Turn) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.content}
    if turn.reasoning:
        message["reasoning_content"] = turn.reasoning
    if turn.calls:
        message["tool_calls"] = [c.to_message() for c in turn.calls]
    return message


def _without_audio(message: Mapping[str, Any]) -> dict[str, Any]:
    """The message for the transcript: audio parts become a short placeholder."""
    out = dict(message)
    if isinstance(out.get("content"), list):
        out["content"] = [p if p.get("type") != "input_audio" else {"type": "input_audio", "input_audio": "<omitted>"}
                          for p in out["content"]]
    return out
