"""The reasoning view: a planner's stream, live, grouped by step; tool calls as cards; the
measurements a chat planner asked for, inline with their results; a Stop button; an instruction
box that makes it a conversation with an undoable history of turns; and, when the stream ends,
its claims checked against what the lab measured (:func:`~llm2fx_lab.analysis.claims.check_claims`).

The stream runs in a worker thread that only sets traits (never an ``Output`` widget), at
most every :data:`PUBLISH_SECONDS`, so the kernel stays free to handle Stop and edits.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import anywidget
import numpy as np
import traitlets

from llm2fx_lab.analysis.claims import check_claims, coverage
from llm2fx_lab.analysis.evidence import compare
from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.events import STEPS, Final, Measurement, Response, Thinking, ToolCallEvent
from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.planners.edits import chain_text, is_undo, plan_turn
from llm2fx_lab.threads import start_background
from llm2fx_lab.ui._assets import asset, common_css, esm

#: Minimum seconds between two trait updates while streaming (token-by-token look, bounded traffic).
PUBLISH_SECONDS = 0.05

STEP_TITLES = {"selection": "Module selection", "order": "Order", "parameters": "Parameters",
               "refinement": "Refinement"}


def measurement_summary(event: Measurement) -> str:
    """What a measurement call asked and got, in a few lines for the stream."""
    args = ", ".join(f"{k}={v!r}" for k, v in event.arguments.items() if k != "chain")
    if "chain" in event.arguments:
        chain = event.arguments["chain"]
        args = " -> ".join(c.get("name", "?") for c in chain if isinstance(c, dict)) if isinstance(chain, list) else "?"
    head = f"{event.name}({args})"
    if event.error is not None:
        return f"{head}: error: {event.error}"
    result = event.result if isinstance(event.result, dict) else {}
    lines = []
    if "mrstft_left" in result:
        lines.append(f"MR-STFT distance L/R {result['mrstft_left']} / {result['mrstft_right']}")
    for block in result.values():
        if isinstance(block, dict) and block.get("notable_changes"):
            lines += block["notable_changes"]
        elif isinstance(block, dict) and "loudness_lufs" in block:
            lines.append(", ".join(f"{k} {block[k]}" for k in ("loudness_lufs", "crest_factor_db",
                                                                "spectral_centroid_hz", "decay_time_seconds")
                                   if k in block))
    return head + ("\n" + "\n".join(f"  {line}" for line in lines) if lines else ": no notable change")


@dataclass
class Turn:
    """One exchange: the instruction (None for the first plan), the reply and the chain edit."""

    instruction: str | None
    chain_before: Chain | None
    chain_after: Chain | None = None
    response: str = ""
    stopped: bool = False
    undone: bool = False
    repairs: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"instruction": self.instruction or "(first estimate)", "response": self.response,
                "chain": ", ".join(self.chain_after.names) if self.chain_after is not None else "",
                "stopped": self.stopped, "undone": self.undone,
                "done": self.chain_after is not None}


class ReasoningView(anywidget.AnyWidget):
    """Show a planner's stream live and hold the conversation.

    Parameters
    ----------
    planner : object following the planner protocol, optional
        See :mod:`llm2fx_lab.events`. It can also be passed to :meth:`run`.

    Use alone: ``view = ReasoningView(planner); view.run(dry, reference, sr)``; the final
    chain is in ``view.final.chain`` when ``view.status`` is ``"done"``.
    """

    _esm = esm("reasoning.js")
    _css = common_css() + asset("reasoning.css")

    steps = traitlets.List().tag(sync=True)            # [{"step", "title", "text"}] in order of appearance
    tool_calls = traitlets.List().tag(sync=True)       # [{"index", "name", "arguments"}]
    response = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("idle").tag(sync=True)  # idle | running | done | stopped | error
    error = traitlets.Unicode("").tag(sync=True)
    planner_name = traitlets.Unicode("").tag(sync=True)
    first_token_seconds = traitlets.Float(-1.0).tag(sync=True)
    tokens = traitlets.Int(0).tag(sync=True)
    tokens_per_second = traitlets.Float(0.0).tag(sync=True)
    turns = traitlets.List().tag(sync=True)
    can_plan = traitlets.Bool(False).tag(sync=True)
    claims = traitlets.List().tag(sync=True)           # [{"text", "verdict", "reason"}] of the last stream
    claims_summary = traitlets.Unicode("").tag(sync=True)

    def __init__(self, planner: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._inputs: tuple[Any, Any, float] | None = None
        self.planner = planner
        self.final: Final | None = None
        self.history: list[Turn] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._chain_source: Callable[[], Chain | None] = lambda: None
        self._final_callbacks: list[Callable[[Final, Turn], None]] = []
        self._undo_callbacks: list[Callable[[Turn], None]] = []
        self.on_msg(self._on_front_end_msg)
        self._refresh_can_plan()

    # --- public API ----------------------------------------------------------------------
    def set_inputs(self, dry: np.ndarray | None, reference: np.ndarray | None, sample_rate: float,
                   current_chain: Callable[[], Chain | None] | None = None) -> None:
        """Audio the planner works on (``dry`` may be None: blind estimation)."""
        self._inputs = (dry, reference, sample_rate)
        if current_chain is not None:
            self._chain_source = current_chain
        self._refresh_can_plan()

    def on_final(self, callback: Callable[[Final, Turn], None]) -> None:
        """Call ``callback(final, turn)`` from the worker thread when a stream ends."""
        self._final_callbacks.append(callback)

    def on_undo_turn(self, callback: Callable[[Turn], None]) -> None:
        """Call ``callback(turn)`` when the user undoes a turn (restore ``turn.chain_before``)."""
        self._undo_callbacks.append(callback)

    @property
    def planner(self) -> Any:
        """The planner :meth:`run` streams; setting it updates ``can_plan``."""
        return self._planner

    @planner.setter
    def planner(self, planner: Any) -> None:
        self._planner = planner
        self._refresh_can_plan()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self, dry: np.ndarray | None = None, reference: np.ndarray | None = None,
            sample_rate: float | None = None, instruction: str | None = None,
            planner: Any = None) -> threading.Thread | None:
        """Start streaming in a worker thread and return it (None if it could not start).

        Without audio arguments, the inputs from :meth:`set_inputs` are used. An instruction
        edits the current chain (:func:`~llm2fx_lab.planners.edits.plan_turn`); one that only
        asks to undo ("undo", "go back") undoes the last turn instead (returns None).
        """
        if planner is not None:
            self.planner = planner
        if instruction and is_undo(instruction):
            self.undo_last_turn()
            return None
        if dry is not None or reference is not None:
            self._inputs = (dry, reference, float(sample_rate))
        problem = self._cannot_plan_reason()
        if problem:
            self.error = problem
            return None
        if self.running:
            self.error = "the planner is still running: press Stop first"
            return None
        self._stop = threading.Event()
        turn = Turn(instruction=instruction or None, chain_before=self._chain_source())
        self.history.append(turn)
        with self.hold_sync():
            self.error = ""
            self.steps, self.tool_calls, self.response = [], [], ""
            self.claims, self.claims_summary = [], ""
            self.first_token_seconds, self.tokens, self.tokens_per_second = -1.0, 0, 0.0
            self.status = "running"
            self.planner_name = str(getattr(self.planner, "name", type(self.planner).__name__))
            self.turns = [t.to_json() for t in self.history]
        self._thread = start_background(self._stream, args=(turn,), name="llm2fx-planner", stop=self._stop.set)
        return self._thread

    def stop(self) -> None:
        """Ask the planner to stop (it ends its stream with a stopped Final)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the stream ends (for scripts and tests; do not call it in a UI callback)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def undo_turn(self, index: int) -> None:
        """Undo turn ``index`` (and every later one): callbacks restore its ``chain_before``."""
        turn = self.history[index]
        if turn.undone or turn.chain_after is None:
            return
        for t in self.history[index:]:
            t.undone = True
        self.turns = [t.to_json() for t in self.history]
        for callback in list(self._undo_callbacks):
            callback(turn)

    def undo_last_turn(self) -> None:
        """Undo the last turn that is not undone yet (the typed "undo"); the reply says which."""
        if self.running:
            self.error = "the planner is still running: press Stop first"
            return
        live = [i for i, t in enumerate(self.history) if t.chain_after is not None and not t.undone]
        if not live:
            self.response = "Nothing changed: there is nothing to undo in this conversation."
            return
        turn = self.history[live[-1]]
        self.undo_turn(live[-1])
        before = turn.chain_before if turn.chain_before is not None else Chain()
        self.response = (f"Undid turn {live[-1] + 1} ({turn.instruction or 'first estimate'}): the chain is back to "
                         f"{chain_text(before)}.")

    # --- internals -----------------------------------------------------------------------
    def _check_claims(self, final: Final, dry: Any, reference: Any, sample_rate: float) -> None:
        """The stream's claims against the Evidence of the pair (not in blind mode: no dry clip)."""
        if dry is None or not final.reasoning:
            return
        try:
            checks = check_claims(final.reasoning, compare(dry, reference, sample_rate))
        except Llm2FxError as exc:  # the pair cannot be compared (e.g. a silent clip): say so, keep the stream
            self.claims_summary = f"claims not checked: {exc}"
            return
        checked, found = coverage(checks)
        confirmed = sum(c.verdict == "confirmed" for c in checks)
        with self.hold_sync():
            self.claims = [{"text": c.text, "verdict": c.verdict, "reason": c.reason} for c in checks]
            self.claims_summary = (f"{found} claims found, {checked} checked against the measurements: "
                                   f"{confirmed} confirmed, {checked - confirmed} contradicted" if found
                                   else "no measurable claims found in the reasoning")

    def _cannot_plan_reason(self) -> str:
        if self.planner is None:
            return "no planner: pass one (ReasoningView(planner) or view.planner = ...)"
        if self._inputs is None or self._inputs[1] is None:
            return "load a reference clip first"
        return ""

    def _refresh_can_plan(self) -> None:
        self.can_plan = not self._cannot_plan_reason()

    def _on_front_end_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        op = content.get("op")
        if op == "stop":
            self.stop()
        elif op == "plan":
            self.run()
        elif op == "instruct":
            text = str(content.get("text", "")).strip()
            if not text:
                self.error = "type an instruction first, e.g. \"less reverb\""
            else:
                self.run(instruction=text)
        elif op == "undo_turn":
            self.undo_turn(int(content["index"]))

    def _stream(self, turn: Turn) -> None:
        dry, reference, sr = self._inputs  # type: ignore[misc]
        t0 = time.perf_counter()
        steps: list[dict[str, str]] = []
        calls: list[dict[str, Any]] = []
        response: list[str] = []
        tokens, first = 0, None
        last_publish = 0.0
        final: Final | None = None

        def publish(force: bool = False) -> None:
            nonlocal last_publish
            now = time.perf_counter()
            if not force and now - last_publish < PUBLISH_SECONDS:
                return
            last_publish = now
            elapsed = now - t0
            with self.hold_sync():
                self.steps = [dict(s) for s in steps]
                self.tool_calls = list(calls)
                self.response = "".join(response)
                self.tokens = tokens
                if first is not None:
                    self.first_token_seconds = round(first, 3)
                    self.tokens_per_second = round(tokens / elapsed, 1) if elapsed > 0 else 0.0

        try:
            history = [t.chain_before for t in self.history if t is not turn and t.chain_before is not None
                       and t.chain_after is not None and not t.undone]
            for event in plan_turn(self.planner, dry, reference, sr, instruction=turn.instruction,
                                   chain=turn.chain_before if turn.instruction else None, stop=self._stop,
                                   history=history):
                if isinstance(event, Thinking):
                    tokens += 1
                    if first is None:
                        first = time.perf_counter() - t0
                    if not steps or steps[-1]["step"] != event.step:
                        steps.append({"step": event.step, "title": STEP_TITLES.get(event.step, event.step),
                                      "text": ""})
                    steps[-1]["text"] += event.text
                    publish()
                elif isinstance(event, Measurement):
                    steps.append({"step": "measurement", "title": f"Measured: {event.name}",
                                  "text": measurement_summary(event)})
                    publish(force=True)
                elif isinstance(event, ToolCallEvent):
                    calls.append({"index": event.index, "name": event.call.name,
                                  "arguments": event.call.params, "bypass": event.call.bypass})
                    publish(force=True)
                elif isinstance(event, Response):
                    tokens += 1
                    if first is None:
                        first = time.perf_counter() - t0
                    response.append(event.text)
                    publish()
                elif isinstance(event, Final):
                    final = event
            publish(force=True)
            if final is None:
                raise RuntimeError("the planner's stream ended without a Final event")
            turn.chain_after, turn.response = final.chain, final.response or "".join(response)
            turn.stopped, turn.repairs = final.stopped, tuple(final.repairs)
            self.final = final
            with self.hold_sync():
                if final.timings.first_token_seconds is not None:
                    self.first_token_seconds = round(final.timings.first_token_seconds, 3)
                if final.timings.tokens_per_second:
                    self.tokens_per_second = round(final.timings.tokens_per_second, 1)
                if not self.response and final.response:
                    self.response = final.response
                self.turns = [t.to_json() for t in self.history]
            for callback in list(self._final_callbacks):
                callback(final, turn)
            self._check_claims(final, dry, reference, sr)
            self.status = "stopped" if final.stopped else "done"
        except Exception as exc:  # noqa: BLE001 - shown inline, the widget must survive
            self.history.remove(turn)
            with self.hold_sync():
                self.turns = [t.to_json() for t in self.history]
                self.error = f"the planner failed: {type(exc).__name__}: {exc}"
                self.status = "error"


__all__ = ["ReasoningView", "Turn", "STEPS", "STEP_TITLES"]
