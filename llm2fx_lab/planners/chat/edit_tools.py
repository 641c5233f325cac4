"""The tools a chat model edits a chain with, besides the effect tools (which add a module or
change its settings): ``remove_module``, ``bypass_module`` and ``move_module``.

Offered only in a conversation edit (a current chain and a request). Without them a model
could add and change modules but never take one out or reorder the chain.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from llm2fx_lab.errors import ToolCallError, quoted
from llm2fx_lab.fx.chain import ToolCall
from llm2fx_lab.fx.spec import MODULE_NAMES
from llm2fx_lab.planners.chat.tools import function_schema

EDIT_TOOLS = ("remove_module", "bypass_module", "move_module")


def edit_schemas() -> list[dict[str, Any]]:
    """The OpenAI-style schemas of :data:`EDIT_TOOLS`."""
    name = {"type": "string", "enum": list(MODULE_NAMES), "description": "a module of the current chain"}
    return [
        function_schema("remove_module", "Take a module out of the chain.", {"module": name}, ["module"]),
        function_schema("bypass_module", "Switch a module off (bypass: true) or back on (bypass: false); it keeps its "
                  "place and settings.", {"module": name, "bypass": {"type": "boolean"}}, ["module", "bypass"]),
        function_schema("move_module", "Move a module to a position of the chain (1 = first).",
                  {"module": name, "position": {"type": "integer", "minimum": 1}}, ["module", "position"]),
    ]


def _index(calls: list[ToolCall], name: Any) -> int:
    for i, call in enumerate(calls):
        if call.name == name:
            return i
    present = ", ".join(c.name for c in calls) or "none"
    raise ToolCallError(f"module {quoted(name)} is not in the chain; present: {present}")


def apply_edit_tool(name: str, arguments: Mapping[str, Any], calls: list[ToolCall]) -> str:
    """Apply one edit tool to ``calls`` (in place); returns the tool message's ``ok`` text.

    Raises
    ------
    ToolCallError
        Unknown tool, a module not in the chain, a bad position or argument (sent back to the
        model to correct).
    """
    if name not in EDIT_TOOLS:
        raise ToolCallError(f"unknown edit tool {quoted(name)}; allowed: {', '.join(EDIT_TOOLS)}")
    if not isinstance(arguments, Mapping):
        raise ToolCallError(f"{name} takes a JSON object of arguments, got {type(arguments).__name__}")
    allowed = {"remove_module": {"module"}, "bypass_module": {"module", "bypass"},
               "move_module": {"module", "position"}}[name]
    if set(arguments) != allowed:
        raise ToolCallError(f"{name} takes {', '.join(sorted(allowed))}; got {', '.join(sorted(arguments)) or 'none'}")
    i = _index(calls, arguments["module"])
    call = calls[i]
    if name == "remove_module":
        del calls[i]
        return f"ok: {call.name} removed; the chain is {' -> '.join(c.name for c in calls) or 'empty'}"
    if name == "bypass_module":
        if not isinstance(arguments["bypass"], bool):
            raise ToolCallError(f"bypass_module's bypass is true or false, got {arguments['bypass']!r}")
        calls[i] = dataclasses.replace(call, bypass=arguments["bypass"])
        return f"ok: {call.name} {'bypassed' if arguments['bypass'] else 'on'}"
    position = arguments["position"]
    if isinstance(position, bool) or not isinstance(position, int) or not 1 <= position <= len(calls):
        raise ToolCallError(f"move_module's position is a whole number from 1 to {len(calls)}, got {position!r}")
    del calls[i]
    calls.insert(position - 1, call)
    return f"ok: the chain is {' -> '.join(c.name for c in calls)}"
