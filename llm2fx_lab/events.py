"""The planner protocol: every planner streams typed events, then a final result.

A planner is any object with ``name`` and::

    plan(dry, reference, sample_rate, instruction=None, stop=None) -> Iterator[Event]

``dry`` may be ``None`` (blind estimation). A planner may also accept ``chain=`` (the
user's current chain): with an ``instruction`` that makes the call a conversation turn that
edits that chain rather than estimating afresh (the studio passes it when ``plan`` takes it).
``stop`` is an optional ``threading.Event``:
when it is set the planner ends the stream early, still with a :class:`Final` event
(``stopped=True``) holding whatever chain it had. Events, in order:

1. :class:`Thinking` deltas, each tagged with its step (``selection``, ``order``,
   ``parameters``, ``refinement``), as the reasoning is written;
2. :class:`ToolCallEvent` each time a tool call is complete (also interleaved with thinking);
   a wrapper that revises the chain (``Refined``) sends the revised calls again from
   index 0: a consumer treats a repeated index as a replacement, and the :class:`Final`
   chain is always authoritative;
3. :class:`Measurement` each time a planner that calls measurement tools (the chat planner)
   got a result back, interleaved with the above;
4. :class:`Response` deltas of the short natural-language reply;
5. exactly one :class:`Final` with the chain, the full texts, timings and repairs (and, for a
   chat planner, the whole conversation and the model's token counts).

:func:`collect` turns a stream into a :class:`PlanResult` for non-interactive use.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Literal, Mapping, Protocol, Union, runtime_checkable

import numpy as np

from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.fx.chain import Chain, ToolCall

Step = Literal["selection", "order", "parameters", "refinement"]
STEPS: tuple[Step, ...] = ("selection", "order", "parameters", "refinement")


@dataclass(frozen=True)
class Thinking:
    """A piece of chain-of-thought text belonging to one reasoning step."""

    text: str
    step: Step


@dataclass(frozen=True)
class ToolCallEvent:
    """A completed tool call (validated), at position ``index`` of the chain being built."""

    call: ToolCall
    index: int

    def __post_init__(self) -> None:
        # every planner's calls leave at the toolset's precision, whatever arithmetic made them
        object.__setattr__(self, "call", self.call.at_precision())


@dataclass(frozen=True)
class Measurement:
    """A measurement tool the planner called (``measure_pair``, ``render_and_compare``, ...) and
    what it returned: ``result`` is JSON data with units in its keys, or ``error`` says why the
    call failed (the model is told the same and may correct itself)."""

    name: str
    arguments: Mapping[str, Any]
    result: Any = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": dict(self.arguments), "result": self.result, "error": self.error}


@dataclass(frozen=True)
class Response:
    """A piece of the natural-language reply that follows the tool calls."""

    text: str


@dataclass(frozen=True)
class Timings:
    """Seconds from the start of ``plan`` to the first thinking text, and to the end."""

    first_token_seconds: float | None
    total_seconds: float
    tokens: int = 0

    @property
    def tokens_per_second(self) -> float | None:
        return self.tokens / self.total_seconds if self.tokens and self.total_seconds > 0 else None

    def to_json(self) -> dict[str, Any]:
        return {"first_token_seconds": self.first_token_seconds, "total_seconds": self.total_seconds,
                "tokens": self.tokens, "tokens_per_second": self.tokens_per_second}


@dataclass(frozen=True)
class Final:
    """The end of a stream: the chain, full texts, timings and any repairs made to the output."""

    chain: Chain
    reasoning: str
    response: str
    timings: Timings
    repairs: tuple[str, ...] = ()
    stopped: bool = False
    planner: str = ""
    #: The whole conversation of a chat planner (OpenAI-style messages, audio left out).
    transcript: tuple[Mapping[str, Any], ...] = ()
    #: The model's own token counts where it reports them (``prompt_tokens``, ``completion_tokens``).
    usage: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "chain", self.chain.at_precision())


Event = Union[Thinking, ToolCallEvent, Measurement, Response, Final]


@dataclass(frozen=True)
class PlanResult:
    """Everything a stream said, gathered (see :func:`collect`)."""

    chain: Chain
    reasoning: str
    reasoning_by_step: dict[str, str]
    response: str
    timings: Timings
    repairs: tuple[str, ...] = ()
    stopped: bool = False
    planner: str = ""
    events: tuple[Event, ...] = field(default=(), repr=False)
    transcript: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)
    usage: Mapping[str, int] | None = None

    @property
    def measurements(self) -> tuple[Measurement, ...]:
        """The measurement calls of the stream, in order."""
        return tuple(e for e in self.events if isinstance(e, Measurement))

    def to_json(self) -> dict[str, Any]:
        """``{"chain": [...], "reasoning": ..., "response": ..., "timings": {...}, "repairs": [...]}``,
        plus ``"measurements"``, ``"transcript"`` and ``"usage"`` for a chat planner."""
        out = {"chain": self.chain.to_tool_calls(), "reasoning": self.reasoning,
               "response": self.response, "timings": self.timings.to_json(),
               "repairs": list(self.repairs), "planner": self.planner}
        if self.measurements or self.transcript:
            out |= {"measurements": [m.to_json() for m in self.measurements],
                    "transcript": [dict(m) for m in self.transcript], "usage": self.usage}
        return out


#: Planner name suffixes: a planner wrapped in gradient refinement (``analysis+refine``), and in
#: refinement followed by the grid search (``analysis+search``).
REFINE_SUFFIX = "+refine"
SEARCH_SUFFIX = "+search"
#: Suffix of a planner in style mode (:class:`~llm2fx_lab.planners.style.Styled`).
STYLE_SUFFIX = "+style"


@runtime_checkable
class Planner(Protocol):
    name: str

    def plan(self, dry: np.ndarray | None, reference: np.ndarray, sample_rate: float,
             instruction: str | None = None, stop: threading.Event | None = None) -> Iterator[Event]:
        ...


def collect(stream: Iterable[Event]) -> PlanResult:
    """Run a stream to its end and gather it. :class:`Llm2FxError` if it has no :class:`Final`."""
    events: list[Event] = []
    by_step: dict[str, list[str]] = {}
    final: Final | None = None
    for event in stream:
        events.append(event)
        if isinstance(event, Thinking):
            by_step.setdefault(event.step, []).append(event.text)
        elif isinstance(event, Final):
            final = event
    if final is None:
        raise Llm2FxError("the planner's stream ended without a Final event")
    return PlanResult(final.chain, final.reasoning, {k: "".join(v) for k, v in by_step.items()},
                      final.response, final.timings, final.repairs, final.stopped, final.planner,
                      tuple(events), final.transcript, final.usage)


class StreamClock:
    """Measures time to first thinking text and total time for a planner's :class:`Final`."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: float | None = None
        self.tokens = 0

    def mark(self, event: Event) -> Event:
        """Pass an event through, noting the first thinking text and counting deltas."""
        if isinstance(event, (Thinking, Response)):
            self.tokens += 1
            if self.first is None and isinstance(event, Thinking):
                self.first = time.perf_counter() - self.start
        return event

    def timings(self, tokens: int | None = None) -> Timings:
        return Timings(self.first, time.perf_counter() - self.start,
                       self.tokens if tokens is None else tokens)


def wrapper_ending(clock: StreamClock, chain: Chain, reasoning: str, response: str, inner: Final,
                   planner: str, resend: bool = True) -> Iterator[Event]:
    """How a planner that wraps another (refinement, style mode) ends its stream: its chain's
    tool calls again from index 0 when ``resend`` (a consumer takes a repeated index as a
    replacement), its response, and one :class:`Final` that keeps the inner planner's repairs
    and stop."""
    for i, call in enumerate(chain if resend else ()):
        yield clock.mark(ToolCallEvent(call, i))
    yield clock.mark(Response(response))
    yield Final(chain, reasoning, response, clock.timings(), inner.repairs, inner.stopped, planner)
