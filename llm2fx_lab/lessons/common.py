"""Checks and figure layouts the lesson helpers share."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from llm2fx_lab.errors import ParameterError


def check_positive(name: str, value: float) -> float:
    """``value`` as a float; :class:`ParameterError` unless it is a finite number of seconds > 0."""
    if not np.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def two_axes(width: float = 12.0, height: float = 3.4) -> tuple[Figure, Any, Any]:
    """A figure (``width`` x ``height`` inches) with two axes side by side: before and after."""
    fig = Figure(figsize=(width, height), layout="constrained")
    a, b = fig.subplots(1, 2)
    return fig, a, b
