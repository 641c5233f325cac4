"""The one error hierarchy of llm2fx-lab.

Every error the library raises on purpose derives from :class:`Llm2FxError`, so a caller
can catch everything of ours with one ``except``. Messages say what was wrong, the value,
and what is allowed, e.g. ``compressor.ratio must be in [1, 20], got 0.5``.
"""

from __future__ import annotations


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
