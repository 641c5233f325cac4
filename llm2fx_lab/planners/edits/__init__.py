"""Conversation edits: change a chain the way a request in plain words asks, and say exactly
what changed (or that nothing did, and why).

- :func:`apply_request` reads a request with the grammar of :mod:`.grammar` (remove, bypass,
  restore, add, set, nudge, move, swap, undo; several in one sentence) and applies it;
- :func:`diff_chains` (:mod:`.changes`) describes any edit, the grammar's or a chat LLM's, from
  the chains before and after: every reply is built from it, so none claims an edit not made;
- :func:`edit_reply` is the reply a user reads; :func:`edit_stream` the same turn as planner
  events; :class:`Conversation` keeps the turns (for undo);
- :func:`grammar_table` is the table of docs/edits.md (generated from the spec and the grammar).

Example
-------
>>> from llm2fx_lab.fx.chain import Chain, tool_call
>>> chain = Chain((tool_call("equalizer"), tool_call("panner"), tool_call("delay", {"mix_ratio": 0.3})))
>>> result = apply_request(chain, "remove the delay")
>>> result.chain.names
('equalizer', 'panner')
>>> result.reply
'Changed: removed delay (was module 3 of 3). Chain: equalizer -> panner.'
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from llm2fx_lab.errors import Llm2FxError, ParameterError, quoted
from llm2fx_lab.events import Event, Final, Response, StreamClock, Thinking, Timings, ToolCallEvent
from llm2fx_lab.fx.chain import Chain, as_chain
from llm2fx_lab.fx.spec import MODULE_NAMES, module
from llm2fx_lab.planners.edits.changes import Change, chain_text, diff_chains
from llm2fx_lab.planners.edits.grammar import ADJECTIVES, Applied, apply_op, read_request
from llm2fx_lab.planners.edits.vocabulary import (
    MAIN_PARAM,
    MODULE_WORDS,
    NUDGE_STEP,
    PARAM_WORDS,
    UNITS,
    neutral_settings,
    nudge_step,
)
from llm2fx_lab.planners.style import with_content_check

#: The longest request read (a request is a sentence or a few, not a document).
MAX_REQUEST_CHARS = 2000

#: What the grammar understands, said when nothing in a request could be done.
HELP = ("I understand: remove, bypass or restore a module; add one ('add a reverb', 'add a delay with mix 0.3'); "
        "set a parameter ('reverb mix 0.2', 'delay 250 ms', 'threshold -18 dB'); nudge one ('more reverb', "
        "'a bit brighter', 'bass +3 dB', 'much wider'); move one ('delay before reverb', 'reverb to the start', "
        "'swap delay and reverb'); undo. Modules: " + ", ".join(MODULE_NAMES)
        + " (also eq, echo, room, drive, width, pan). The full list: docs/edits.md.")


@dataclass(frozen=True)
class EditResult:
    """One request applied: the chain, what changed (from the chains, not the request), what
    could not be done, notes, and the chains before earlier turns (``history``, for undo)."""

    before: Chain
    chain: Chain
    changes: tuple[Change, ...]
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    history: tuple[Chain, ...] = field(default=(), repr=False)
    undone: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def reply(self) -> str:
        return edit_reply(self.changes, self.problems, self.chain, self.notes, self.undone)

    def to_json(self) -> dict[str, object]:
        return {"chain": self.chain.to_tool_calls(include_bypassed=True),
                "changes": [c.to_json() for c in self.changes], "problems": list(self.problems),
                "notes": list(self.notes), "reply": self.reply}


def _joined(parts: Sequence[str]) -> str:
    text = "; ".join(parts)
    return text if text.endswith(("?", ".")) else text + "."


def edit_reply(changes: Sequence[Change], problems: Sequence[str], chain: Chain, notes: Sequence[str] = (),
               undone: int = 0, explain: bool = True) -> str:
    """The reply to a turn: ``Changed: ...`` with every change (module, parameter, old -> new)
    and what could not be done, or ``Nothing changed: <why>.`` and (``explain``) what the
    grammar understands."""
    if not changes:
        return f"Nothing changed: {_joined(problems or ['the request named no edit'])}" + (f" {HELP}" if explain else "")
    head = f"Undid the last {'edit' if undone == 1 else f'{undone} edits'}. " if undone else ""
    text = head + "Changed: " + "; ".join(c.describe() for c in changes) + "."
    if notes:
        text += " Note: " + "; ".join(notes) + "."
    if problems:
        text += " Not changed: " + _joined(problems)
    return text + f" Chain: {chain_text(chain)}."


def _check_request(request: object) -> str:
    if not isinstance(request, str):
        raise ParameterError(f"an edit request must be text, got {type(request).__name__}")
    if len(request) > MAX_REQUEST_CHARS:
        raise ParameterError(f"the edit request {quoted(request)} is too long; at most {MAX_REQUEST_CHARS} "
                             "characters")
    return request


def apply_request(chain: Chain, request: str, history: Sequence[Chain] = ()) -> EditResult:
    """Apply a request in plain words to ``chain`` (see docs/edits.md for what it accepts).

    ``history``: the chains before earlier turns of the conversation, oldest first ("undo"
    returns to the last). The result's ``history`` is the one to pass with the next request.

    Raises
    ------
    ParameterError
        If ``request`` is not text or longer than :data:`MAX_REQUEST_CHARS`.
    """
    request = _check_request(request)
    before = as_chain(chain)
    state = Applied(before, list(history))
    ops = read_request(request, before)
    base = before
    for op in ops:
        apply_op(state, op)
        if op.kind == "undo" and state.undone:
            base = state.chain
    if not ops:
        state.problems.append("the request is empty")
    new_history = list(state.history)
    if state.chain != base:
        new_history.append(base)
    return EditResult(before, state.chain, tuple(diff_chains(before, state.chain)), tuple(state.problems),
                      tuple(dict.fromkeys(state.notes)), tuple(new_history), state.undone)


def is_undo(request: str) -> bool:
    """Whether ``request`` asks only to undo ("undo", "undo that", "go back")."""
    ops = read_request(_check_request(request), Chain())
    return bool(ops) and all(op.kind == "undo" for op in ops)


class Conversation:
    """Successive requests on one chain, each undoable ("undo" as a request, or :meth:`undo`).

    >>> from llm2fx_lab.fx.chain import Chain, tool_call
    >>> talk = Conversation(Chain((tool_call("reverb", {"mix_ratio": 0.4}),)))
    >>> talk.say("less reverb").chain["reverb"]["mix_ratio"]
    0.25
    >>> talk.say("undo").chain["reverb"]["mix_ratio"]
    0.4
    """

    def __init__(self, chain: Chain | None = None) -> None:
        self.chain = as_chain(chain) if chain is not None else Chain()
        self.history: tuple[Chain, ...] = ()
        self.results: list[EditResult] = []

    def say(self, request: str) -> EditResult:
        result = apply_request(self.chain, request, self.history)
        self.chain, self.history = result.chain, result.history
        self.results.append(result)
        return result

    def undo(self) -> EditResult:
        return self.say("undo")


def edit_stream(chain: Chain, request: str, history: Sequence[Chain] = (), planner: str = "edit",
                intro: str | None = None) -> Iterator[Event]:
    """One conversation turn as planner events: what was asked and understood (reasoning, step
    ``refinement``), the edited chain's tool calls, the reply, a :class:`Final`."""
    clock = StreamClock()
    before = as_chain(chain)
    result = apply_request(before, request, history)
    texts = [intro if intro is not None else f"Editing the current chain ({chain_text(before)}) as asked: "
             f"{quoted(request, 200)}.\n"]
    texts += [f"{c.describe()[0].upper()}{c.describe()[1:]}.\n" for c in result.changes]
    texts += [f"Not changed: {_joined([p])}\n" for p in result.problems]
    for text in texts:
        yield clock.mark(Thinking(text, "refinement"))
    for i, call in enumerate(result.chain):
        yield clock.mark(ToolCallEvent(call, i))
    yield clock.mark(Response(result.reply))
    yield Final(result.chain, "".join(texts), result.reply, clock.timings(), (), False, planner)


def plan_turn(planner: Any, dry: Any, reference: Any, sample_rate: float, instruction: str | None = None,
              chain: Chain | None = None, stop: threading.Event | None = None,
              history: Sequence[Chain] = ()) -> Iterator[Event]:
    """One turn of a conversation with ``planner``, as its events.

    Without ``chain`` (or without ``instruction``) it is the planner's estimate. With both, it
    is an edit of ``chain``: a planner that edits with its model (``edits_with_model``: the
    chat planner, which validates the model's calls and replies with :func:`diff_chains`) gets
    the request and the chain; every other planner's turn is the grammar's
    (:func:`edit_stream`, ``history`` for "undo" and "bring back"), so an edit never re-estimates
    the chain and never loses the user's changes.
    """
    if not instruction:
        stream = planner.plan(dry, reference, sample_rate, instruction=None, stop=stop)
        if dry is None or getattr(planner, "style_mode", False):
            yield from stream
        else:  # a pair of two different recordings is said so, and style mode offered
            yield from with_content_check(stream, dry, reference, sample_rate)
    elif getattr(planner, "edits_with_model", False):
        kwargs = {} if chain is None else {"chain": chain}
        yield from planner.plan(dry, reference, sample_rate, instruction=instruction, stop=stop, **kwargs)
    elif chain is None:
        yield from then_edit(planner.plan(dry, reference, sample_rate, instruction=None, stop=stop), instruction)
    else:
        yield from edit_stream(chain, instruction, history, planner=str(getattr(planner, "name", "edit")))


def then_edit(stream: Iterator[Event], instruction: str) -> Iterator[Event]:
    """An estimate's events, then ``instruction`` applied to its chain by the grammar: one
    stream with one :class:`Final` (both reasonings; the reply gives the estimate, then what
    the request changed in it)."""
    start = time.perf_counter()
    estimate: Final | None = None
    for event in stream:
        if isinstance(event, Final):
            estimate = event
        elif not isinstance(event, Response):
            yield event
    if estimate is None:
        raise Llm2FxError("the planner's stream ended without a Final event")
    if estimate.stopped:
        yield Response(estimate.response)
        yield estimate
        return
    said = (f"Estimated chain: {' -> '.join(estimate.chain.names)}." if len(estimate.chain)
            else "The estimate is an empty chain.")
    intro = f"Then, as asked: {quoted(instruction, 200)}.\n"
    edit = None
    for event in edit_stream(estimate.chain, instruction, planner=estimate.planner, intro=intro):
        if isinstance(event, Final):
            edit = event
        elif not isinstance(event, (Response, ToolCallEvent)):  # the estimate's calls were streamed already
            yield event
    assert edit is not None
    response = f"{said} {edit.response}"
    yield Response(response)
    t = estimate.timings
    yield dataclasses.replace(estimate, chain=edit.chain, reasoning=estimate.reasoning + edit.reasoning,
                              response=response, timings=Timings(t.first_token_seconds, time.perf_counter() - start,
                                                                 t.tokens + edit.timings.tokens))


# --- the documented grammar ----------------------------------------------------------------

def _words(name: str) -> str:
    return ", ".join(dict.fromkeys((name, name.replace("_", " ")) + MODULE_WORDS.get(name, ())))


def grammar_table() -> str:
    """docs/edits.md's tables (Markdown), generated from the spec and the grammar's words."""
    lines = ["| module | words | a bare value sets | one nudge ('more X') | added with |", "|---|---|---|---|---|"]
    for name in MODULE_NAMES:
        spec = module(name)
        main = MAIN_PARAM.get(name)
        p = spec.param(main) if main else None
        nudge = f"{main} +/- {p.format_value(nudge_step(p))}" if p else "name a parameter"
        added = ", ".join(f"{k} {spec.param(k).format_value(v)}" for k, v in neutral_settings(name).items())
        lines.append(f"| {name} | {_words(name)} | {main or 'name a parameter'} | {nudge} | {added} |")
    lines += ["", "| parameter | range | words | one nudge |", "|---|---|---|---|"]
    for name in MODULE_NAMES:
        for p in module(name).params:
            words = ", ".join(dict.fromkeys((p.name, p.name.replace("_", " "), p.label)
                                            + PARAM_WORDS.get((name, p.name), ())))
            step = p.format_value(NUDGE_STEP.get((name, p.name), nudge_step(p)))
            lines.append(f"| {p.qualified_name} | {p.format_value(p.lowest_valid)} to {p.format_value(p.maximum)} "
                         f"| {words} | {step} |")
    lines += ["", "| words (a nudge by themselves) | nudge |", "|---|---|"]
    for adj in ADJECTIVES:
        word = adj.pattern.replace("\\b", "").replace("(it |that )?(a bit |slightly |much |hard |more )*", "")
        word = word.replace("(", "").replace(")", "").replace("|", " / ")
        lines.append(f"| {word} | {adj.module}.{adj.param} {'up' if adj.sign > 0 else 'down'} |")
    lines += ["", "| units typed | mean |", "|---|---|"]
    groups: dict[tuple[float, str], list[str]] = {}
    for unit, key in UNITS.items():
        groups.setdefault(key, []).append(unit)
    for (factor, base), units in groups.items():
        meaning = "a fraction (30 % = 0.3)" if base == "" else f"{factor:g} {base}"
        lines.append(f"| {', '.join(units)} | {meaning} |")
    return "\n".join(lines) + "\n"


__all__ = ["Change", "Conversation", "EditResult", "HELP", "MAX_REQUEST_CHARS", "apply_request", "chain_text", "diff_chains",
           "edit_reply", "edit_stream", "grammar_table", "is_undo", "plan_turn", "then_edit"]
