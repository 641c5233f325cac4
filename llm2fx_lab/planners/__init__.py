"""Planners: everything that turns (dry, reference[, instruction]) into a chain with reasoning.

Every planner streams typed events (:mod:`llm2fx_lab.events`, re-exported here); pick one by
name with :func:`get_planner` or take :func:`default_planner`.
"""

from llm2fx_lab.errors import PlannerError
from llm2fx_lab.events import (
    STEPS,
    Event,
    Final,
    Measurement,
    Planner,
    PlanResult,
    Response,
    StreamClock,
    Thinking,
    Timings,
    ToolCallEvent,
    collect,
)
from llm2fx_lab.model.mini import mini_available, mini_weights_dir
from llm2fx_lab.planners.registry import PLANNER_NAMES, default_planner, get_planner

__all__ = [
    "PLANNER_NAMES", "STEPS", "Event", "Final", "Measurement", "PlanResult", "Planner", "PlannerError", "Response",
    "StreamClock", "Thinking", "Timings", "ToolCallEvent", "collect", "default_planner", "get_planner",
    "mini_available", "mini_weights_dir",
]
