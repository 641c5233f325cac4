"""The dialogue format: Qwen3 chat template, audio placeholders, tool-call text and its parser.

One place for the text conventions the dataset, the trainer and the planners share:

- :data:`AUDIO_PLACEHOLDER` stands in the user turn for the audio. The model replaces it
  with :func:`audio_token_layout`: the text "dry audio", :data:`N_AUDIO_TOKENS` dry-audio
  embeddings, the text "reference audio", :data:`N_AUDIO_TOKENS` reference embeddings (the
  paper's layout).
- :func:`render_dialogue` renders messages with the Qwen3 chat template
  (``qwen3_chat_template.jinja`` in this folder, written for this project from the
  published Qwen3 format) and the toolset's ``tools=`` schemas.
- The assistant target is ``<think>\\n{chain of thought}\\n</think>\\n\\n`` then one
  ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`` per module, then a
  short response, then ``<|im_end|>`` (:func:`assistant_content` builds the part after
  ``</think>``; tool calls precede the response as in the paper, so they live in the
  message content rather than in Qwen3's ``tool_calls`` field, which would put them last).
- :func:`parse_tool_calls` reads tool calls back out of model text, tolerantly.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llm2fx_lab.errors import ToolCallError
from llm2fx_lab.fx.chain import Chain, as_chain
from llm2fx_lab.fx.schemas import tool_schemas
from llm2fx_lab.fx.spec import module

#: Placeholder for the audio in the user turn (replaced by the model's audio embeddings).
AUDIO_PLACEHOLDER = "<|audio|>"
#: Embeddings per audio clip (the adapter's 32 learnable queries).
N_AUDIO_TOKENS = 32
#: Token written in place of each audio embedding when the layout is expanded as text.
AUDIO_PAD_TOKEN = "<|audio_pad|>"
#: Text that precedes each clip's embeddings.
DRY_AUDIO_TEXT = "dry audio"
REFERENCE_AUDIO_TEXT = "reference audio"
TOOL_CALL_START, TOOL_CALL_END = "<tool_call>", "</tool_call>"
THINK_START, THINK_END = "<think>", "</think>"
END_OF_MESSAGE = "<|im_end|>"
#: Special tokens a tokenizer for this format needs.
SPECIAL_TOKENS = ("<|im_start|>", END_OF_MESSAGE, AUDIO_PLACEHOLDER, AUDIO_PAD_TOKEN,
                  TOOL_CALL_START, TOOL_CALL_END, THINK_START, THINK_END)

TEMPLATE_PATH = Path(__file__).with_name("qwen3_chat_template.jinja")


@functools.lru_cache(maxsize=1)
def chat_template() -> str:
    """The Qwen3 chat template source (Jinja), for ``tokenizer.chat_template``."""
    return TEMPLATE_PATH.read_text()


@functools.lru_cache(maxsize=1)
def _compiled():
    def tojson(value: Any) -> str:  # as transformers renders it: no HTML escaping
        return json.dumps(value, ensure_ascii=False)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        undefined=jinja2.Undefined)
    env.filters["tojson"] = tojson
    return env.from_string(chat_template())


def default_tools() -> list[dict[str, Any]]:
    """The toolset's JSON schemas (``llm2fx_lab.fx.tool_schemas``)."""
    return tool_schemas()


def render_dialogue(messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None,
                    add_generation_prompt: bool = False, enable_thinking: bool = True) -> str:
    """Render ``messages`` with the Qwen3 chat template.

    Parameters
    ----------
    messages : sequence of dict
        ``{"role": "system"|"user"|"assistant"|"tool", "content": str}``; assistant
        messages may add ``"reasoning_content"`` (the chain of thought).
    tools : list of dict, optional
        ``tools=`` schemas; default: the toolset's (pass ``[]`` for none).
    add_generation_prompt : bool
        End with ``<|im_start|>assistant\\n`` (the model's prompt).

    Raises
    ------
    ToolCallError
        A message without a known role or with non-text content.
    """
    for i, m in enumerate(messages):
        if m.get("role") not in ("system", "user", "assistant", "tool"):
            raise ToolCallError(f"message #{i} has role {m.get('role')!r}; allowed: system, user, assistant, tool")
        if not isinstance(m.get("content", ""), str):
            raise ToolCallError(f"message #{i} content must be text, got {type(m.get('content')).__name__}")
    if not messages:
        raise ToolCallError("a dialogue needs at least one message")
    tools = default_tools() if tools is None else list(tools)
    return _compiled().render(messages=list(messages), tools=tools or None,
                              add_generation_prompt=add_generation_prompt,
                              enable_thinking=enable_thinking)


def format_tool_call(name: str, arguments: Mapping[str, Any]) -> str:
    """``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`` (JSON, integers
    written without a decimal point where the schema says integer)."""
    return f'{TOOL_CALL_START}\n{json.dumps({"name": name, "arguments": dict(arguments)})}\n{TOOL_CALL_END}'


def _json_arguments(call) -> dict[str, Any]:
    spec = module(call.name)
    out: dict[str, Any] = {}
    for p in spec.params:
        v = call[p.name]
        out[p.name] = int(v) if p.json_type == "integer" and float(v).is_integer() else v
    return out


def format_tool_calls(chain: Any) -> str:
    """One ``<tool_call>`` block per active module of ``chain``, newline-separated."""
    return "\n".join(format_tool_call(c.name, _json_arguments(c)) for c in as_chain(chain).active)


def assistant_content(chain: Any, response: str) -> str:
    """The assistant text after ``</think>``: the tool calls, then the response."""
    calls = format_tool_calls(chain)
    return f"{calls}\n{response}" if calls else response


def assistant_message(reasoning: str, chain: Any, response: str) -> dict[str, str]:
    """An assistant message dict for :func:`render_dialogue`."""
    return {"role": "assistant", "reasoning_content": reasoning, "content": assistant_content(chain, response)}


def user_message(instruction: str, with_audio: bool = True) -> dict[str, str]:
    """A user message: the instruction, then the audio placeholder (as the official code)."""
    return {"role": "user", "content": f"{instruction}\n{AUDIO_PLACEHOLDER}" if with_audio else instruction}


def audio_token_layout(has_dry: bool = True) -> str:
    """The text the model sees in place of :data:`AUDIO_PLACEHOLDER`, pads standing for embeddings."""
    pads = AUDIO_PAD_TOKEN * N_AUDIO_TOKENS
    return f"{DRY_AUDIO_TEXT}{pads}{REFERENCE_AUDIO_TEXT}{pads}" if has_dry else f"{REFERENCE_AUDIO_TEXT}{pads}"


def split_prompt_target(text: str) -> tuple[str, str]:
    """Split a rendered single-answer dialogue at its last ``<|im_start|>assistant\\n``."""
    marker = "<|im_start|>assistant\n"
    i = text.rfind(marker)
    if i < 0:
        raise ToolCallError("no assistant turn in the rendered dialogue")
    return text[: i + len(marker)], text[i + len(marker):]


# --- parsing ------------------------------------------------------------------------------

_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)


def _first_object(text: str) -> str | None:
    start = text.find("{")
    while start >= 0:
        depth = 0
        for j in range(start, len(text)):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    return text[start:j + 1]
        start = text.find("{", start + 1)
    return None


def _parse_one(body: str, repairs: list[str], index: int) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, ValueError):
        pass
    try:
        value = ast.literal_eval(body)
        repairs.append(f"tool call #{index}: read as a Python literal (not JSON)")
        return value
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    obj = _first_object(body)
    if obj is not None and obj != body:
        for loader, what in ((json.loads, "JSON"), (ast.literal_eval, "a Python literal")):
            try:
                value = loader(obj)
                repairs.append(f"tool call #{index}: read the first {{...}} as {what}, ignored the rest")
                return value
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue
    repairs.append(f"tool call #{index}: {body[:80]!r} does not parse; dropped")
    return None


def tool_call_objects(text: str) -> tuple[list[Any], list[str]]:
    """The raw objects of the ``<tool_call>`` blocks in ``text`` (not validated) and the repairs
    made to read them.

    Each block is parsed as JSON, then as a Python literal, then as the first ``{...}`` it
    contains; a block holding a list gives each of its items; an unclosed last block is read
    too (and noted). A block that does not parse is dropped, with a repair saying so.
    """
    if not isinstance(text, str):
        raise ToolCallError(f"model output must be text, got {type(text).__name__}")
    repairs: list[str] = []
    items: list[Any] = []
    for i, m in enumerate(_BLOCK.finditer(text)):
        if not m.group(0).rstrip().endswith(TOOL_CALL_END):
            repairs.append(f"tool call #{i}: no closing {TOOL_CALL_END}")
        value = _parse_one(m.group(1), repairs, i)
        if value is None:
            continue
        items.extend(value if isinstance(value, list) else [value])
    return items, repairs


def parse_tool_calls(text: str) -> tuple[Chain, tuple[str, ...]]:
    """Read the chain out of model output text.

    The ``<tool_call>`` blocks (:func:`tool_call_objects`; after ``</think>`` when there is
    one) are validated leniently (``Chain.from_tool_calls(mode="lenient")``: out-of-range
    values clamped, unknown modules and duplicates dropped).

    Returns
    -------
    chain : Chain
    repairs : tuple of str
        Everything that was not clean: parsing fallbacks and validation repairs.

    Examples
    --------
    >>> chain, repairs = parse_tool_calls('<tool_call>\\n{"name": "gain", "arguments": {"gain_db": -6}}\\n</tool_call>')
    >>> chain.names, repairs
    (('gain',), ())
    """
    if not isinstance(text, str):
        raise ToolCallError(f"model output must be text, got {type(text).__name__}")
    body = text.split(THINK_END, 1)[1] if THINK_END in text else text
    items, repairs = tool_call_objects(body)
    chain = Chain.from_tool_calls(items, mode="lenient")
    return chain, tuple(repairs) + chain.repairs
