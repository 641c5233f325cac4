"""Streaming inference: ``estimate_stream`` yields planner events as tokens arrive.

``model.llm.generate`` runs in a worker thread and feeds a ``TextIteratorStreamer``; the
caller's thread turns the growing text into :mod:`llm2fx_lab.events` events:

- :class:`Thinking` deltas until ``</think>`` (tagged with a reasoning step guessed from the
  text: lines mentioning order or parameters switch the step);
- one :class:`ToolCallEvent` as soon as each ``<tool_call>...</tool_call>`` block closes
  (parsed tolerantly and validated leniently, repairs kept);
- :class:`Response` deltas for the text after the tool calls;
- one :class:`Final` with the chain parsed from the whole text and every repair.

A ``threading.Event`` passed as ``stop`` ends generation at the next token (a stopping
criterion) and the stream still ends with a ``Final`` (``stopped=True``).

A :class:`LoopGuard` (on by default) keeps a small model's greedy decoding from looping: when
a span of :data:`LOOP_WINDOW_TOKENS` tokens repeats inside the reasoning, or the reasoning
outgrows :data:`MAX_REASONING_TOKENS`, it moves the reasoning on to its next step (it writes
that step's heading, or ``</think>`` after the parameters); a repeat inside the tool calls
ends generation. Each intervention is reported in ``Final.repairs``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from llm2fx_lab.data.cot import ORDER_HEADS, PARAM_HEADS
from llm2fx_lab.data.format import (
    END_OF_MESSAGE,
    THINK_END,
    THINK_START,
    TOOL_CALL_END,
    TOOL_CALL_START,
    parse_tool_calls,
)
from llm2fx_lab.errors import AudioError, Llm2FxError
from llm2fx_lab.events import Event, Final, Response, StreamClock, Thinking, ToolCallEvent
from llm2fx_lab.fx.spec import MODULE_NAMES
from llm2fx_lab.model.decode import greedy_generate, unsupported_reason
from llm2fx_lab.model.encoders import check_waveform
from llm2fx_lab.model.guide import (
    PRESENCE_FLOOR,
    PRESENCE_THRESHOLD,
    STEP_HEADS,
    PresenceGuide,
    last_heading,
    optional_set,
    presence_set,
)
from llm2fx_lab.model.inputs import fit_clip, prompt_text
from llm2fx_lab.model.llm import Llm2FxModel
from llm2fx_lab.model.measurements import prompt_measurements
from llm2fx_lab.threads import start_background

_STEP_WORDS = (("refine", "refinement"), ("parameter", "parameters"), ("order", "order"),
               ("select", "selection"))


def _step_of(line: str, current: str) -> str:
    low = line.lower().lstrip()
    for step, heads in STEP_HEADS:
        if any(low.startswith(h.lower()) for h in heads):
            return step
    for word, step in _STEP_WORDS:
        if low.startswith(word) or f"{word}:" in low:
            return step
    return current


def reasoning_step(text: str) -> str:
    """The step (selection, order, parameters) whose heading comes last in ``text``; selection if none."""
    return last_heading(text)[0] or "selection"


#: A token span this long that occurs twice is a loop: the training dialogues repeat at most
#: 32 tokens (a recurring phrase; docs/decisions.md).
LOOP_WINDOW_TOKENS = 40
#: Longer than any reasoning in the training dialogues (668 tokens, a 9-module chain).
MAX_REASONING_TOKENS = 800
#: How :func:`estimate_stream` decodes (see its ``decoder`` argument).
DECODERS = ("auto", "fast", "hf")


class _RowState:
    def __init__(self) -> None:
        self.forced: list[int] = []
        self.phase = "think"
        self.seen: set[tuple[int, ...]] = set()
        self.checked = 0  # region length up to which windows are in ``seen``


class LoopGuard:
    """A transformers logits processor that ends looping reasoning steps (see the module doc).

    ``input_ids`` are the generated tokens (generation starts from ``inputs_embeds``), one row
    per sequence. ``notes`` lists each intervention in words.
    """

    def __init__(self, tokenizer, think_end_id: int, eos_id: int, window: int = LOOP_WINDOW_TOKENS,
                 max_reasoning_tokens: int = MAX_REASONING_TOKENS):
        if window < 2 or max_reasoning_tokens < 1:
            raise ValueError(f"window must be >= 2 and max_reasoning_tokens >= 1, got {window}, "
                             f"{max_reasoning_tokens}")
        self.tokenizer, self.think_end_id, self.eos_id = tokenizer, int(think_end_id), int(eos_id)
        self.window, self.max_reasoning_tokens = int(window), int(max_reasoning_tokens)
        self.rows: dict[int, _RowState] = {}
        self.notes: list[str] = []

    def _next_step(self, reasoning_ids: list[int]) -> tuple[str, list[int]]:
        step = reasoning_step(self.tokenizer.decode(reasoning_ids))
        if step == "selection":
            return "order", self.tokenizer.encode("\n\n" + ORDER_HEADS[0], add_special_tokens=False)
        if step == "order":
            return "parameters", self.tokenizer.encode("\n\n" + PARAM_HEADS[0], add_special_tokens=False)
        return "the tool calls", [self.think_end_id]

    def _repeats(self, st: _RowState, region: list[int]) -> bool:
        w = self.window
        found = False
        for end in range(max(st.checked, w - 1) + 1, len(region) + 1):
            span = tuple(region[end - w:end])
            found = found or span in st.seen
            st.seen.add(span)
        st.checked = len(region)
        return found

    def _row(self, b: int, ids: list[int]) -> int | None:
        """The token this row must take next, or None to leave it free."""
        st = self.rows.setdefault(b, _RowState())
        if st.forced:
            return st.forced.pop(0)
        if st.phase == "think" and self.think_end_id in ids:
            st.phase, st.seen, st.checked = "calls", set(), 0
        if st.phase == "think":
            if self._repeats(st, ids):
                why = f"a {self.window}-token span of the reasoning repeated (a loop)"
                step, st.forced = self._next_step(ids)
            elif len(ids) >= self.max_reasoning_tokens:
                why = f"the reasoning reached {self.max_reasoning_tokens} tokens"
                step, st.forced = "the tool calls", [self.think_end_id]
            else:
                return None
            self.notes.append(f"loop guard: {why} after {len(ids)} tokens; moved on to {step}")
            return st.forced.pop(0)
        start = ids.index(self.think_end_id) + 1
        if self._repeats(st, ids[start:]):
            self.notes.append(f"loop guard: a {self.window}-token span of the tool calls repeated; "
                              f"generation ended after {len(ids)} tokens")
            return self.eos_id
        return None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for b in range(input_ids.shape[0]):
            forced = self._row(b, input_ids[b].tolist())
            if forced is not None:
                scores[b] = float("-inf")
                scores[b, forced] = 0.0
        return scores


def _chain(processors: list) -> Any:
    """One logits processor that applies ``processors`` in turn (None for none)."""
    if not processors:
        return None
    if len(processors) == 1:
        return processors[0]

    def apply(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for p in processors:
            scores = p(input_ids, scores)
        return scores
    return apply


class StopOnEvents:
    """A transformers StoppingCriteria that fires when any of ``events`` is set (None ones are
    skipped)."""

    def __init__(self, *events: threading.Event | None):
        self.events = [e for e in events if e is not None]

    def __call__(self, input_ids, scores, **kwargs) -> torch.Tensor:
        fired = any(e.is_set() for e in self.events)
        return torch.full((input_ids.shape[0],), fired, dtype=torch.bool, device=input_ids.device)


def stream_in_thread(work: Callable[[], None], streamer: Any, halt: threading.Event, name: str) -> Iterator[str]:
    """Run ``work`` (a generation that feeds ``streamer`` and ends it) in a worker thread and
    yield the streamer's text as it arrives.

    Generation runs in its own thread because transformers' streamers are filled by a blocking
    ``generate`` call. When the stream ends, or the consumer leaves it early, ``halt`` is set (the
    generation's stopping criterion watches it) and the worker is joined; an exception in
    ``work`` is raised here, in the consumer's thread.
    """
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)
            streamer.end()

    thread = start_background(run, name=name, stop=halt.set)
    try:
        yield from streamer
    finally:
        halt.set()
        thread.join()
    if errors:
        raise errors[0]


class _Splitter:
    """Turns the growing output text into events; holds back text that may be a partial tag."""

    def __init__(self) -> None:
        self.text = ""
        self.pos = 0
        self.phase = "think"
        self.step = "selection"
        self.line = ""  # the current thinking line, as emitted so far
        self.pending = ""  # thinking text not yet emitted
        self.calls: list[Any] = []
        self.repairs: list[str] = []

    def _hold(self, s: str, tags: tuple[str, ...]) -> int:
        """Length of the longest suffix of ``s`` that is a proper prefix of one of ``tags``."""
        for n in range(min(len(s), max(map(len, tags)) - 1), 0, -1):
            if any(t.startswith(s[-n:]) for t in tags):
                return n
        return 0

    def feed(self, delta: str, final: bool = False) -> Iterator[Event]:
        self.text += delta
        while True:
            rest = self.text[self.pos:]
            if self.phase == "think":
                if rest.startswith(THINK_START):
                    self.pos += len(THINK_START)
                    continue
                end = rest.find(THINK_END)
                cut = end if end >= 0 else len(rest) - (0 if final else self._hold(rest, (THINK_END, THINK_START)))
                if cut > 0:
                    self.pos += cut
                yield from self._thinking(rest[:max(cut, 0)], final=final or end >= 0)
                if end < 0:
                    return
                self.pos += len(THINK_END)
                self.phase = "calls"
            else:
                stripped = rest.lstrip()
                if stripped.startswith(TOOL_CALL_START):
                    end = stripped.find(TOOL_CALL_END)
                    if end < 0 and not final:
                        return
                    block = stripped if end < 0 else stripped[:end + len(TOOL_CALL_END)]
                    self.pos += len(rest) - len(stripped) + len(block)
                    yield from self._tool_call(block)
                    continue
                if not stripped or (not final and TOOL_CALL_START.startswith(stripped)):
                    return
                # response text up to the next tool call (tolerated) or a possible partial tag
                nxt = rest.find(TOOL_CALL_START)
                piece = rest if nxt < 0 else rest[:nxt]
                if nxt < 0 and not final:
                    piece = piece[:len(piece) - self._hold(piece, (TOOL_CALL_START, END_OF_MESSAGE))]
                if not piece:
                    return
                self.pos += len(piece)
                self.phase = "response"
                text = piece.replace(END_OF_MESSAGE, "")
                if text:
                    yield Response(text)
                if nxt < 0:
                    return

    def _thinking(self, text: str, final: bool = False) -> Iterator[Event]:
        # A line's first characters are held until its step can be told (12 chars or its end).
        self.pending += text
        while self.pending:
            nl = self.pending.find("\n")
            line_done = nl >= 0
            piece = self.pending[:nl + 1] if line_done else self.pending
            if not line_done and not final and len(self.line) + len(piece) < 12:
                return
            if len(self.line) < 12:
                self.step = _step_of(self.line + piece, self.step)
            self.line = "" if line_done else self.line + piece
            self.pending = self.pending[len(piece):]
            yield Thinking(piece, self.step)  # type: ignore[arg-type]

    def _tool_call(self, block: str) -> Iterator[Event]:
        chain, repairs = parse_tool_calls(block)
        self.repairs += [f"{r} (call #{len(self.calls)})" for r in repairs]
        for call in chain:
            if call.name in {c.name for c in self.calls}:
                self.repairs.append(f"{call.name}: repeated tool call dropped")
                continue
            self.calls.append(call)
            yield ToolCallEvent(call, len(self.calls) - 1)

    @property
    def reasoning(self) -> str:
        t = self.text.split(THINK_END, 1)[0] if THINK_END in self.text else self.text
        return t.replace(THINK_START, "").strip()

    @property
    def response(self) -> str:
        body = self.text.split(THINK_END, 1)[1] if THINK_END in self.text else ""
        tail = body.rsplit(TOOL_CALL_END, 1)[-1]
        return tail.replace(END_OF_MESSAGE, "").strip()


def _as_batch(x: Any, model, sample_rate: float | None, name: str) -> torch.Tensor:
    if x is None:
        return None
    x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
    if x.ndim == 1:
        x = np.stack([x, x])
    if x.ndim != 2:
        raise AudioError(f"{name} must be (2, samples) or (samples,), got shape {x.shape}")
    if x.shape[0] != 2 and x.shape[1] == 2:
        x = x.T
    t = check_waveform(torch.from_numpy(np.ascontiguousarray(x)), model.cfg.encoder, sample_rate, name)
    return torch.from_numpy(fit_clip(t[0].numpy(), model.cfg, name)).unsqueeze(0)


def resolve_decoder(llm, decoder: str = "auto", do_sample: bool = False) -> str:
    """The decoder :func:`estimate_stream` uses for ``llm``: ``"fast"`` or ``"hf"`` (see its
    ``decoder`` argument); :class:`~llm2fx_lab.errors.Llm2FxError` for an unknown name, or for
    ``"fast"`` where the fast decoder cannot run (the reason named)."""
    if decoder not in DECODERS:
        raise Llm2FxError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
    if decoder == "hf":
        return "hf"
    reason = "it decodes greedily only (do_sample=True was asked)" if do_sample else unsupported_reason(llm)
    if reason and decoder == "fast":
        raise Llm2FxError(f"fast decoding is not available: {reason}; use decoder='hf' or 'auto'")
    return "hf" if reason else "fast"


def estimate_stream(model, dry: Any, reference: Any, instruction: str | None = None,
                    sample_rate: float | None = None, *, do_sample: bool = False, temperature: float = 0.7,
                    top_p: float = 0.95, max_new_tokens: int = 1536, stop: threading.Event | None = None,
                    planner: str = "model", seed: int | None = None, loop_guard: bool = True,
                    loop_window_tokens: int = LOOP_WINDOW_TOKENS,
                    max_reasoning_tokens: int = MAX_REASONING_TOKENS, decoder: str = "auto",
                    presence_guide: bool = False,
                    presence_threshold: float = PRESENCE_THRESHOLD,
                    presence_floor: float = PRESENCE_FLOOR) -> Iterator[Event]:
    """Estimate the chain that turns ``dry`` into ``reference``, streaming events.

    Parameters
    ----------
    model : Llm2FxModel
    dry : array (2, samples) or None
        ``None``: blind estimation from the reference alone.
    reference : array (2, samples)
        Float audio at the model's sample rate (``model.cfg.encoder.sample_rate``).
    sample_rate : float, optional
        If given, must equal the model's rate (:class:`AudioError` otherwise).
    do_sample : bool
        Greedy decoding by default; sampling with ``temperature`` and ``top_p`` otherwise.
    stop : threading.Event, optional
        Set it (e.g. from a stop button) to end generation early.
    loop_guard : bool
        Use a :class:`LoopGuard` with ``loop_window_tokens`` and ``max_reasoning_tokens``; its
        interventions are listed in ``Final.repairs``.
    decoder : {"auto", "fast", "hf"}
        ``"fast"``: :func:`llm2fx_lab.model.decode.greedy_generate` (greedy only; the same
        tokens as ``generate``, about 2.5x faster per token on the ``mini`` model on CPU);
        ``"hf"``: ``transformers``' ``generate``; ``"auto"`` (default): fast when decoding
        is greedy and the model is one the fast decoder covers
        (:func:`~llm2fx_lab.model.decode.unsupported_reason`), else ``generate``.
    presence_guide : bool
        Steer the text to the modules the model's presence head (its chain probe) gives a
        probability above ``presence_threshold`` (:class:`~llm2fx_lab.model.guide.PresenceGuide`),
        never to a module below ``presence_floor``, and leave those between to the model;
        the sets and the number of steered tokens are listed in ``Final.repairs``. Off by
        default: on the shipped mini it names more of the right modules but renders further
        from the reference (its model card has both). :class:`Llm2FxError` for a model
        without a chain probe.

    Yields
    ------
    Thinking, ToolCallEvent, Response, then exactly one Final.
    """
    from transformers import LogitsProcessorList, StoppingCriteriaList, TextIteratorStreamer

    fast = resolve_decoder(model.llm, decoder, do_sample) == "fast"
    clock = StreamClock()
    stop = stop or threading.Event()
    ref = _as_batch(reference, model, sample_rate, "reference")
    dry_t = _as_batch(dry, model, sample_rate, "dry")
    has_dry = dry_t is not None
    tok = model.tokenizer
    measured = prompt_measurements(model.cfg, dry, reference)
    ids = tok(prompt_text(model.cfg, instruction, has_dry, measured), add_special_tokens=False, return_tensors="pt")
    input_ids = ids["input_ids"].to(model.device)
    with torch.no_grad():
        if presence_guide:  # the probe runs only when it guides
            audio, presence = model.audio_embeddings_and_presence(ref, dry_t, torch.tensor([has_dry]))
        else:
            audio = model.audio_embeddings(ref, dry_t, torch.tensor([has_dry]))
        embeds = model.inputs_embeds(input_ids, audio, torch.tensor([has_dry]))
    guide = None
    if presence_guide:
        if presence is None:
            raise Llm2FxError("presence_guide needs a model with a chain probe (TrainConfig.aux_coef > 0); "
                              "this one has none")
        probabilities = dict(zip(MODULE_NAMES, presence[0].tolist()))
        guide = PresenceGuide(tok, presence_set(probabilities, presence_threshold),
                              optional_set(probabilities, presence_threshold, presence_floor))
    streamer = TextIteratorStreamer(tok, skip_prompt=False, skip_special_tokens=False, timeout=600)
    halt = threading.Event()  # set once the stream ends or its consumer leaves early
    kwargs = dict(inputs_embeds=embeds, attention_mask=ids["attention_mask"].to(model.device),
                  max_new_tokens=max_new_tokens, do_sample=do_sample, streamer=streamer,
                  eos_token_id=model.eos_id, pad_token_id=tok.pad_token_id,
                  stopping_criteria=StoppingCriteriaList([StopOnEvents(stop, halt)]))
    guard = None
    if loop_guard:
        guard = LoopGuard(tok, tok.convert_tokens_to_ids(THINK_END), model.eos_id, loop_window_tokens,
                          max_reasoning_tokens)
    # the guide masks first, so a token the loop guard forces always wins
    processors = [p for p in (guide, guard) if p is not None]
    if processors:
        kwargs["logits_processor"] = LogitsProcessorList(processors)
    process = _chain(processors)
    if do_sample:
        kwargs.update(temperature=temperature, top_p=top_p)
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    n_tokens = [0]

    def work() -> None:
        if seed is not None:
            torch.manual_seed(seed)
        if fast:
            tokens = greedy_generate(model.llm, embeds, max_new_tokens, model.eos_id, process,
                                     lambda: stop.is_set() or halt.is_set(),
                                     lambda t: streamer.put(torch.tensor([t])))
            streamer.end()
            n_tokens[0] = len(tokens)
            return
        with torch.no_grad():
            out = model.llm.generate(**kwargs)
        n_tokens[0] = int(out.shape[-1])

    splitter = _Splitter()
    for delta in stream_in_thread(work, streamer, halt, "llm2fx-generate"):
        for event in splitter.feed(delta):
            yield clock.mark(event)
    for event in splitter.feed("", final=True):
        yield clock.mark(event)
    chain, repairs = parse_tool_calls(splitter.text)
    repairs = list(guide.summary() if guide else []) + list(guard.notes if guard else []) + list(repairs)
    yield Final(chain=chain, reasoning=splitter.reasoning, response=splitter.response,
                timings=clock.timings(n_tokens[0]), repairs=tuple(repairs), stopped=stop.is_set(),
                planner=planner)


class ModelEstimator:
    """A loaded model with the planner interface (``plan``) used by ``planners.ModelPlanner``."""

    def __init__(self, model, name: str = "model", **generate_options: Any):
        self.model, self.name, self.options = model, name, generate_options

    def plan(self, dry, reference, sample_rate: float, instruction: str | None = None,
             stop: threading.Event | None = None) -> Iterator[Event]:
        return estimate_stream(self.model, dry, reference, instruction, sample_rate, stop=stop,
                               planner=self.name, **self.options)

    def estimate(self, dry, reference, sample_rate: float | None = None, instruction: str | None = None,
                 **options: Any) -> Final:
        """Run to the end and return the :class:`Final` event."""
        *_, final = estimate_stream(self.model, dry, reference, instruction, sample_rate,
                                    **{**self.options, **options})
        return final


def load_planner_model(checkpoint_dir: str | Path, device: str | None = None, **options: Any) -> ModelEstimator:
    """Load a checkpoint directory for planning (what ``planners.ModelPlanner`` calls)."""
    return ModelEstimator(Llm2FxModel.from_pretrained(checkpoint_dir, device=device), **options)


