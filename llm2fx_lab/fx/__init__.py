"""Toolset spec, chain type and renderers.

>>> from llm2fx_lab.fx import Chain, render, TOOLSET
"""

from llm2fx_lab.fx.chain import Chain, ToolCall, as_chain, describe_chain, tool_call, validate_value
from llm2fx_lab.fx.render import apply_module, render, render_stages
from llm2fx_lab.fx.schemas import tool_schema, tool_schemas
from llm2fx_lab.fx.spec import ALL_PARAMS, MODULE_NAMES, TOOLSET, ModuleSpec, ParamSpec, module, param

__all__ = [
    "ALL_PARAMS", "MODULE_NAMES", "TOOLSET", "Chain", "ModuleSpec", "ParamSpec", "ToolCall",
    "apply_module", "as_chain", "describe_chain", "module", "param", "render", "render_stages",
    "tool_call", "tool_schema", "tool_schemas", "validate_value",
]
