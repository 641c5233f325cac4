"""JSON tool schemas and text derived from the toolset spec (never written by hand).

:func:`tool_schemas` gives the list that Qwen3/transformers chat templates take as
``tools=``: the shape ``transformers.utils.get_json_schema`` produces for a function with a
Google-style docstring, i.e. ``{"type": "function", "function": {"name", "description",
"parameters": {"type": "object", "properties": {...}, "required": [...]}}}``. Each
parameter's description follows the official docstrings (``ndsp_utils/tool_calling_fn.py``):
``"...; range: (lo, hi), step: s"`` with the schema step the model is shown.
"""

from __future__ import annotations

from typing import Any

from llm2fx_lab.fx.spec import TOOLSET, ModuleSpec, ParamSpec


def _param_schema(p: ParamSpec) -> dict[str, Any]:
    unit = f" Unit: {p.unit}." if p.unit and p.unit != ":1" else ""
    return {
        "type": p.json_type,
        "description": f"{p.description}{unit} range: ({p.minimum:g}, {p.maximum:g}), step: {p.schema_step:g}",
    }


def tool_schema(spec: ModuleSpec) -> dict[str, Any]:
    """The JSON schema of one module."""
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": {
                "type": "object",
                "properties": {p.name: _param_schema(p) for p in spec.params},
                "required": list(spec.param_names),
            },
        },
    }


def tool_schemas() -> list[dict[str, Any]]:
    """All 9 schemas in the official tool order."""
    return [tool_schema(m) for m in TOOLSET.values()]


def toolset_markdown() -> str:
    """The toolset reference as a Markdown table (``docs/toolset.md`` is generated from it)."""
    rows = ["| module | parameter | unit | min | max | step | scale | default | meaning |",
            "|---|---|---|---|---|---|---|---|---|"]
    for m in TOOLSET.values():
        for i, p in enumerate(m.params):
            valid = f" (renders from {p.valid_minimum:g})" if p.valid_minimum is not None else ""
            rows.append(
                f"| {m.name if i == 0 else ''} | `{p.name}` | {p.unit} | {p.minimum:g}{valid} | "
                f"{p.maximum:g} | {p.step:g} | {p.scale} | {p.default:g} | {p.description} |"
            )
    intro = "\n".join(f"- **{m.name}** ({m.renderer}): {m.description}" for m in TOOLSET.values())
    return f"{intro}\n\n" + "\n".join(rows) + "\n"
