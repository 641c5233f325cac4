"""What an edit changed, read from the chains before and after it (never from what was asked).

Every reply of a conversation turn is built from :func:`diff_chains`, so it cannot claim an edit
that was not made: the grammar's edits and a chat LLM's are described the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llm2fx_lab.fx.chain import Chain, ToolCall
from llm2fx_lab.fx.spec import param as param_spec

Kind = Literal["set", "add", "remove", "bypass", "restore", "move", "order"]


@dataclass(frozen=True)
class Change:
    """One difference between two chains.

    ``set``: ``module.param`` went from ``old`` to ``new``; ``add``/``remove``: the module at
    ``position`` (1-based) of the chain after / before; ``bypass``/``restore``: the module's
    bypass switch; ``move``: one module from position ``old`` to ``new``; ``order``: several
    modules moved (``text`` gives both orders).
    """

    kind: Kind
    module: str
    param: str | None = None
    old: float | None = None
    new: float | None = None
    text: str = ""

    def describe(self) -> str:
        """One clause: ``reverb.mix_ratio 0.3 -> 0.2``, ``removed delay (was module 3 of 3)``."""
        if self.kind == "set":
            p = param_spec(self.module, self.param or "")
            return f"{self.module}.{self.param} {p.format_value(self.old or 0.0)} -> {p.format_value(self.new or 0.0)}"
        if self.kind == "move" and self.text:
            return self.text
        if self.kind == "move":
            return f"moved {self.module} from position {self.old:g} to {self.new:g}"
        return {"add": f"added {self.module}", "remove": f"removed {self.module}",
                "bypass": f"bypassed {self.module} (kept in the chain, not heard)",
                "restore": f"restored {self.module} (no longer bypassed)",
                "order": "reordered"}[self.kind] + (f" {self.text}" if self.text else "")

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "module": self.module, "param": self.param, "old": self.old, "new": self.new,
                "text": self.describe()}


def _settings(call: ToolCall) -> str:
    return ", ".join(f"{name} {param_spec(call.name, name).format_value(value)}" for name, value in call.arguments)


def _order_change(before: list[str], after: list[str], full_before: Chain, full_after: Chain) -> list[Change]:
    if before == after:
        return []
    diffs = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    if len(diffs) == 2 and before[diffs[0]] == after[diffs[1]] and before[diffs[1]] == after[diffs[0]]:
        a, b = before[diffs[0]], before[diffs[1]]
        return [Change("move", a, text=f"swapped {a} and {b} (positions {full_before.names.index(a) + 1} and "
                                       f"{full_before.names.index(b) + 1})")]
    for name in before:  # one module moved: name it
        if [n for n in before if n != name] == [n for n in after if n != name]:
            return [Change("move", name, old=full_before.names.index(name) + 1, new=full_after.names.index(name) + 1)]
    return [Change("order", before[0], text=f"{' -> '.join(before)} became {' -> '.join(after)}")]


def diff_chains(before: Chain, after: Chain) -> list[Change]:
    """The changes that turn ``before`` into ``after``: removed modules, added ones (with their
    settings), bypass switches, the order of the modules both hold, then every parameter that
    differs (``module.param old -> new``)."""
    out: list[Change] = []
    kept_before = [n for n in before.names if n in after.names]
    kept_after = [n for n in after.names if n in before.names]
    for i, call in enumerate(before):
        if call.name not in after.names:
            out.append(Change("remove", call.name, text=f"(was module {i + 1} of {len(before)})"))
    for i, call in enumerate(after):
        if call.name not in before.names:
            flag = ", bypassed" if call.bypass else ""
            out.append(Change("add", call.name, text=f"at position {i + 1} ({_settings(call)}{flag})"))
    for name in kept_after:
        if before[name].bypass != after[name].bypass:
            out.append(Change("bypass" if after[name].bypass else "restore", name))
    out += _order_change(kept_before, kept_after, before, after)
    for name in kept_after:
        old, new = before[name].params, after[name].params
        for key, value in new.items():
            if old.get(key) != value:
                out.append(Change("set", name, key, old.get(key), value))
    return out


def chain_text(chain: Chain) -> str:
    """``equalizer -> panner -> delay (bypassed)``, or ``empty``."""
    return " -> ".join(c.name + (" (bypassed)" if c.bypass else "") for c in chain) or "empty"
