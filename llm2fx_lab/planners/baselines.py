"""Baselines of the paper's kind: a parameter regressor and a multi-task classifier+regressor.

Not built yet: :func:`baseline_planner` raises a clear :class:`PlannerError` until trained
baseline files exist.
"""

from __future__ import annotations

from typing import Any

from llm2fx_lab.planners.events import Planner, PlannerError


def baseline_planner(name: str, **options: Any) -> Planner:
    """The ``regression`` or ``multitask`` baseline planner."""
    raise PlannerError(f"the {name!r} baseline has no trained model yet; use 'analysis'")
