"""The one error hierarchy of llm2fx-lab.

Every error the library raises on purpose derives from :class:`Llm2FxError`, so a caller
can catch everything of ours with one ``except``. Messages say what was wrong, the value,
and what is allowed, e.g. ``compressor.ratio must be in [1, 20], got 0.5``.
"""

from __future__ import annotations

import dataclasses
from typing import Any


class Llm2FxError(Exception):
    """Base class of every error raised by llm2fx-lab."""


class ParameterError(Llm2FxError, ValueError):
    """A parameter value is unknown, missing, not finite or out of range."""


class ToolCallError(Llm2FxError, ValueError):
    """A tool call or chain is malformed: unknown module, duplicate module, bad JSON."""


class AudioError(Llm2FxError, ValueError):
    """Audio is missing, unreadable, empty, silent, too short, not finite or of a bad shape."""


class BackendError(Llm2FxError, RuntimeError):
    """A rendering backend or device was asked for that cannot be used here."""


class PlannerError(Llm2FxError, ValueError):
    """A planner was asked for that does not exist or cannot be loaded (e.g. missing weights)."""


#: How much of a user's text an error message quotes (:func:`quoted`), and the longest
#: message the command line prints (:func:`one_line`).
QUOTE_CHARS = 40
MESSAGE_CHARS = 300


def quoted(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters with an ellipsis (and
    the whole length) when longer, so that a user's long text never floods a message.

    >>> quoted("gain")
    "'gain'"
    >>> quoted("x" * 1000)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx… (1000 characters)"
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return text[: limit - 1] + "…" + size


def one_line(message: object, limit: int = MESSAGE_CHARS) -> str:
    """A message as one line of at most ``limit`` characters: whitespace runs (newlines
    included) become one space, and a longer message keeps its start and its end (where the
    allowed values usually are) around an ellipsis.

    >>> one_line("bad file\\n  (details)\\n")
    'bad file (details)'
    """
    text = " ".join(str(message).split())
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def replace_fields(config: Any, changes: dict[str, Any]) -> Any:
    """``dataclasses.replace(config, **changes)`` with a one-line error for unknown fields."""
    allowed = [f.name for f in dataclasses.fields(config)]
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ParameterError(f"unknown {type(config).__name__} setting(s) {', '.join(unknown)}; "
                             f"allowed: {', '.join(allowed)}")
    return dataclasses.replace(config, **changes) if changes else config
