"""The chain editor widget: cards per module, reorder, bypass, add/remove, sliders, undo/redo.

Python owns the chain (:attr:`ChainEditor.value`, an immutable :class:`~llm2fx_lab.fx.Chain`);
the front-end (``widgets/chain_editor.js``) only sends edit messages and shows the result.
"""

from __future__ import annotations

from typing import Any, Callable

import anywidget
import traitlets

from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.fx.chain import Chain, as_chain, tool_call
from llm2fx_lab.fx.spec import LOG_OFFSET, TOOLSET
from llm2fx_lab.ui._assets import asset, common_css, esm
from llm2fx_lab.ui.state import History

#: Callback signature: ``fn(chain, kind)``; ``kind`` is the edit ("set_param", "move", "undo", ...).
ChangeCallback = Callable[[Chain, str], None]


def toolset_json() -> list[dict[str, Any]]:
    """The toolset spec as the front-end needs it (derived from :data:`TOOLSET`); each parameter
    carries the spec's log offset, so ``widgets/normalize.js`` maps sliders as the spec does."""
    return [
        {"name": m.name, "description": m.description,
         "params": [{"name": p.name, "label": p.label, "unit": p.unit, "minimum": p.minimum,
                     "maximum": p.maximum, "lowest_valid": p.lowest_valid, "scale": p.scale,
                     "log_offset": LOG_OFFSET,
                     "default": p.default, "json_type": p.json_type, "schema_step": p.schema_step,
                     "description": p.description, "range": p.describe_range()}
                    for p in m.params]}
        for m in TOOLSET.values()
    ]


def _chain_json(chain: Chain) -> list[dict[str, Any]]:
    return [{"name": c.name, "arguments": c.params, "bypass": c.bypass} for c in chain]


class ChainEditor(anywidget.AnyWidget):
    """Edit an effect chain: one card per module, in processing order.

    Parameters
    ----------
    chain : Chain, tool-call list or JSON, optional
        The starting chain; also the "estimate" that Reset returns to unless
        :meth:`set_estimate` gives another one.

    Examples
    --------
    >>> editor = ChainEditor([{"name": "gain", "arguments": {"gain_db": -6}}])
    >>> editor.edit("set_param", module="gain", param="gain_db", value=3)
    >>> editor.value["gain"]["gain_db"]
    3.0
    """

    _esm = esm("chain_editor.js", "normalize.js")
    _css = common_css() + asset("chain_editor.css")

    chain = traitlets.List().tag(sync=True)
    toolset = traitlets.List().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    can_undo = traitlets.Bool(False).tag(sync=True)
    can_redo = traitlets.Bool(False).tag(sync=True)
    has_estimate = traitlets.Bool(False).tag(sync=True)
    json_text = traitlets.Unicode("").tag(sync=True)
    python_text = traitlets.Unicode("").tag(sync=True)

    def __init__(self, chain: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        start = Chain() if chain is None else as_chain(chain)
        self.history = History(start)
        self.estimate: Chain | None = start if chain is not None else None
        self._callbacks: list[ChangeCallback] = []
        self._drag_key: tuple[str, str] | None = None
        self.toolset = toolset_json()
        self.on_msg(self._on_front_end_msg)
        self._publish()

    # --- public API ----------------------------------------------------------------------
    @property
    def value(self) -> Chain:
        """The current chain."""
        return self.history.current

    @value.setter
    def value(self, chain: Any) -> None:
        self._commit(as_chain(chain), "set")

    def set_estimate(self, chain: Any, replace: bool = True) -> None:
        """Record the planner's estimate (what Reset returns to); by default also make it current."""
        self.estimate = as_chain(chain)
        self.has_estimate = True
        if replace:
            self._commit(self.estimate, "estimate")

    def on_change(self, callback: ChangeCallback) -> None:
        """Call ``callback(chain, kind)`` after every change of the chain."""
        self._callbacks.append(callback)

    def edit(self, op: str, **args: Any) -> None:
        """Apply one edit, exactly as the front-end does (``op`` and arguments as in its messages).

        ``set_param`` (module, param, value, final), ``bypass`` (module, value), ``remove``
        (module), ``add`` (module, index), ``move`` (module, index), ``reset_module``
        (module), ``reset_all``, ``undo``, ``redo``. Invalid edits set :attr:`error`
        (shown inline) and leave the chain unchanged.
        """
        self._on_front_end_msg(self, {"op": op, **args}, [])

    # --- internals -----------------------------------------------------------------------
    def _on_front_end_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        op = content.get("op")
        try:
            self._apply(op, content)
        except (Llm2FxError, KeyError, TypeError, ValueError) as exc:
            self.error = str(exc)

    def _apply(self, op: str | None, m: dict[str, Any]) -> None:
        chain = self.value
        if op == "set_param":
            if m.get("value") is None:
                raise Llm2FxError(f"{m['module']}.{m['param']}: enter a number")
            new = chain.with_params(m["module"], **{m["param"]: float(m["value"])})
            key = (m["module"], m["param"])
            # A slider drag is one undo step: intermediate values replace each other.
            coalesce = self._drag_key == key
            self._drag_key = None if m.get("final", True) else key
            self._commit(new, op, coalesce=coalesce)
        elif op == "bypass":
            self._commit(chain.with_bypass(m["module"], bool(m.get("value", True))), op)
        elif op == "remove":
            self._commit(chain.without(m["module"]), op)
        elif op == "add":
            defaults = self.estimate[m["module"]].params if (self.estimate and m["module"] in self.estimate) else None
            self._commit(chain.with_module(m["module"], defaults, m.get("index")), op)
        elif op == "move":
            self._commit(chain.moved(m["module"], int(m["index"])), op)
        elif op == "reset_module":
            name = m["module"]
            source = self.estimate[name] if (self.estimate and name in self.estimate) else tool_call(name)
            self._commit(chain.with_params(name, **source.params).with_bypass(name, source.bypass), op)
        elif op == "reset_all":
            if self.estimate is None:
                raise Llm2FxError("there is no planner estimate to reset to yet")
            self._commit(self.estimate, op)
        elif op == "undo":
            self.history.undo()
            self._changed(op)
        elif op == "redo":
            self.history.redo()
            self._changed(op)
        else:
            raise Llm2FxError(f"unknown chain edit {op!r}")

    def _commit(self, chain: Chain, kind: str, coalesce: bool = False) -> None:
        if coalesce:
            self.history.current = chain
        else:
            self.history.push(chain)
        self._changed(kind)

    def _changed(self, kind: str) -> None:
        self.error = ""
        self._publish()
        for callback in list(self._callbacks):
            callback(self.value, kind)

    def _publish(self) -> None:
        chain = self.value
        with self.hold_sync():
            self.chain = _chain_json(chain)
            self.can_undo = self.history.can_undo
            self.can_redo = self.history.can_redo
            self.json_text = chain.to_json(indent=2)
            self.python_text = "from llm2fx_lab.fx import Chain\n\nchain = " + chain.to_python()
