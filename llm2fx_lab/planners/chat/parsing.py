"""Reading what chat models send back, in every common dialect, without ever crashing.

Servers and models differ in how they return reasoning and tool calls:

- reasoning in ``<think>...</think>`` inside the content (Qwen3 and DeepSeek-R1 served raw, a
  local checkpoint), or in a ``reasoning_content`` field (vLLM, DeepSeek, llama.cpp's server)
  or a ``reasoning`` field (Ollama, OpenRouter); :class:`ThinkSplitter` separates the first
  while it streams;
- tool calls in the standard ``tool_calls`` field, streamed as fragments
  (:class:`ToolCallAssembler`), with ``arguments`` as a JSON string or an object and the call
  id sometimes missing; or as ``<tool_call>{...}</tool_call>`` blocks in the content, JSON or
  a Python dict literal (:func:`calls_in_text`, the lab's own tolerant reader).

Everything comes out as :class:`RawCall` objects; one that cannot be read carries an ``error``
that the planner sends back to the model as a tool error it can correct.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from llm2fx_lab.data.format import THINK_END, THINK_START, TOOL_CALL_END, TOOL_CALL_START, tool_call_objects

_BLOCKS = re.compile(re.escape(TOOL_CALL_START) + r".*?(?:" + re.escape(TOOL_CALL_END) + r"|$)", re.S)


@dataclass
class RawCall:
    """One tool call as the model wrote it: ``arguments`` is None when they did not parse
    (``error`` says why)."""

    id: str
    name: str
    arguments: dict[str, Any] | None
    error: str | None = None

    def to_message(self) -> dict[str, Any]:
        """The call in the OpenAI ``tool_calls`` shape (arguments as a JSON string)."""
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": json.dumps(self.arguments or {})}}


def read_arguments(raw: Any) -> tuple[dict[str, Any] | None, str | None]:
    """``arguments`` as a dict, from an object, a JSON string or a Python dict literal; or
    ``(None, error)`` saying why not."""
    if raw is None or raw == "":
        return {}, None
    if isinstance(raw, Mapping):
        return dict(raw), None
    if not isinstance(raw, str):
        return None, f"arguments must be a JSON object, got {type(raw).__name__}"
    for load in (json.loads, ast.literal_eval):
        try:
            value = load(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(value, Mapping):
            return dict(value), None
        return None, f"arguments must be a JSON object, got {type(value).__name__}"
    return None, f"arguments are not valid JSON: {raw[:120]!r}"


def make_call(name: Any, arguments: Any, call_id: Any, fallback_id: str) -> RawCall:
    """A :class:`RawCall` from the pieces of one call, tolerating a missing id or name."""
    cid = call_id if isinstance(call_id, str) and call_id else fallback_id
    if not isinstance(name, str) or not name:
        return RawCall(cid, str(name or ""), None, "the call has no function name")
    args, error = read_arguments(arguments)
    return RawCall(cid, name, args, error)


def calls_in_text(text: str, first_id: int = 0) -> tuple[list[RawCall], str, list[str]]:
    """The ``<tool_call>`` blocks of ``text``: the calls, the text without them, and repairs
    (a Python literal instead of JSON, an unclosed block, an unreadable one)."""
    if TOOL_CALL_START not in text:
        return [], text, []
    objects, repairs = tool_call_objects(text)
    calls = []
    for k, obj in enumerate(objects):
        fallback = f"call_{first_id + k}"
        if not isinstance(obj, Mapping):
            calls.append(RawCall(fallback, "", None, f"a tool call must be a JSON object, got {obj!r:.80}"))
            continue
        calls.append(make_call(obj.get("name"), obj.get("arguments", obj.get("parameters")), obj.get("id"), fallback))
    return calls, _BLOCKS.sub("", text).strip(), repairs


class ThinkSplitter:
    """Split streamed content into reasoning (inside ``<think>...</think>``) and answer text,
    whatever the chunk boundaries.

    A reply that closes a ``</think>`` it never opened (templates that open it in the prompt)
    has its text so far moved to :attr:`reasoning` when the tag arrives; it was already streamed
    as answer text, which the chat planner shows as reasoning too.
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._inside = False
        self.reasoning = ""
        self.content = ""

    def feed(self, text: str) -> tuple[str, str]:
        """Add a chunk; returns the ``(reasoning, content)`` it completes (either may be empty)."""
        self._buffer += text
        reasoning, content = "", ""
        while self._buffer:
            opening, closing = self._buffer.find(THINK_START), self._buffer.find(THINK_END)
            if self._inside:
                at, tag = closing, THINK_END
            elif closing >= 0 and (opening < 0 or closing < opening):
                at, tag = closing, THINK_END  # closes a <think> the prompt opened
            else:
                at, tag = opening, THINK_START
            if at < 0:
                keep = max(_partial_tag_suffix(self._buffer, THINK_START), _partial_tag_suffix(self._buffer, THINK_END))
                part, self._buffer = self._buffer[:len(self._buffer) - keep], self._buffer[len(self._buffer) - keep:]
                if self._inside:
                    reasoning += part
                else:
                    content += part
                break
            before, self._buffer = self._buffer[:at], self._buffer[at + len(tag):]
            if self._inside:
                reasoning += before
                self._inside = False
            elif tag == THINK_START:
                content += before
                self._inside = True
            else:  # an unopened </think>: everything so far was reasoning
                self.reasoning += self.content + content + before
                self.content, content = "", ""
        self.reasoning += reasoning
        self.content += content
        return reasoning, content

    def close(self) -> tuple[str, str]:
        """The end of the stream: whatever is still held back."""
        rest, self._buffer = self._buffer, ""
        if self._inside:
            self.reasoning += rest
            return rest, ""
        self.content += rest
        return "", rest


def _partial_tag_suffix(text: str, tag: str) -> int:
    """How many characters at the end of ``text`` could be the start of ``tag``."""
    for k in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-k:]):
            return k
    return 0


@dataclass
class _Fragment:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    whole: Any = None


class ToolCallAssembler:
    """Collect the ``tool_calls`` fragments of a streamed reply (OpenAI's ``delta.tool_calls``:
    an ``index``, the id and name once, the arguments in pieces; some servers send whole calls
    or an arguments object)."""

    def __init__(self) -> None:
        self._calls: dict[int, _Fragment] = {}

    def feed(self, tool_calls: Iterable[Any] | None) -> None:
        for piece in tool_calls or ():
            get = (lambda key, d=piece: d.get(key)) if isinstance(piece, Mapping) else (
                lambda key, d=piece: getattr(d, key, None))
            index = get("index")
            index = index if isinstance(index, int) else len(self._calls)  # no index: a whole call
            frag = self._calls.setdefault(index, _Fragment())
            if get("id"):
                frag.id = get("id")
            function = get("function")
            fget = (lambda key, d=function: d.get(key)) if isinstance(function, Mapping) else (
                lambda key, d=function: getattr(d, key, None))
            if function is None:
                continue
            if fget("name"):
                frag.name += fget("name") if not frag.name or fget("name") != frag.name else ""
            arguments = fget("arguments")
            if isinstance(arguments, Mapping):
                frag.whole = arguments
            elif isinstance(arguments, str):
                frag.arguments.append(arguments)

    def calls(self, first_id: int = 0) -> list[RawCall]:
        """The finished calls, in index order."""
        out = []
        for k, (_, frag) in enumerate(sorted(self._calls.items())):
            raw = frag.whole if frag.whole is not None else "".join(frag.arguments)
            out.append(make_call(frag.name, raw, frag.id, f"call_{first_id + k}"))
        return out
