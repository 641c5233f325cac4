"""The chain type: an ordered, immutable list of tool calls, each module at most once.

A chain round-trips to and from the official tool-call JSON
``[{"name": "compressor", "arguments": {"threshold_db": -20.0, ...}}, ...]`` (the format
of the paper's public code). Bypass is ours: a bypassed call is kept in the chain (so its
settings are not lost) but not rendered; it is written as ``"bypass": true`` and omitted
from :meth:`Chain.to_tool_calls` unless asked for.

Validation has two modes:

- ``"strict"``: anything unknown, duplicated, not finite or out of range raises
  :class:`~llm2fx_lab.errors.ToolCallError` or :class:`~llm2fx_lab.errors.ParameterError`
  naming the module, the parameter, the value and what is allowed.
- ``"lenient"``: for model output. Out-of-range values are clamped, unknown parameters and
  later duplicates are dropped, non-numeric strings that parse as numbers are converted;
  every change is recorded in :attr:`Chain.repairs`. Unknown modules are dropped too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Mapping, Sequence

from llm2fx_lab.errors import Llm2FxError, ParameterError, ToolCallError, quoted
from llm2fx_lab.fx.spec import MODULE_NAMES, TOOLSET, ParamSpec, module

Mode = Literal["strict", "lenient"]


@dataclass(frozen=True)
class ToolCall:
    """One module with all of its arguments (complete, validated) and a bypass flag.

    Build it with :func:`tool_call` (which validates and fills defaults) rather than directly.
    ``arguments`` is stored as a tuple of ``(name, value)`` pairs in official argument order
    so the object is hashable and immutable; read it with :attr:`params`.
    """

    name: str
    arguments: tuple[tuple[str, float], ...]
    bypass: bool = False

    @property
    def params(self) -> dict[str, float]:
        """Arguments as a new ``dict`` (official order)."""
        return dict(self.arguments)

    def __getitem__(self, param_name: str) -> float:
        for k, v in self.arguments:
            if k == param_name:
                return v
        module(self.name).param(param_name)  # raises with the allowed names
        raise AssertionError("unreachable")

    def at_precision(self) -> "ToolCall":
        """The same call with every value at its parameter's precision
        (:meth:`~llm2fx_lab.fx.spec.ParamSpec.at_precision`)."""
        spec = module(self.name)
        arguments = tuple((k, spec.param(k).at_precision(v)) for k, v in self.arguments)
        return self if arguments == self.arguments else ToolCall(self.name, arguments, self.bypass)

    def to_json(self, include_bypass: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "arguments": self.params}
        if include_bypass and self.bypass:
            out["bypass"] = True
        return out


def _coerce_number(spec: ParamSpec, value: Any, mode: Mode, repairs: list[str]) -> float | None:
    where = spec.qualified_name
    if isinstance(value, bool) or value is None:
        if mode == "strict":
            raise ParameterError(f"{where} must be a number, got {quoted(value)}")
        repairs.append(f"{where}: non-numeric value {quoted(value)} replaced by default {spec.default:g}")
        return spec.default
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            if mode == "strict":
                raise ParameterError(f"{where} must be a number, got {quoted(value)}") from None
            repairs.append(f"{where}: non-numeric value {quoted(value)} replaced by default {spec.default:g}")
            return spec.default
        if mode == "strict":
            raise ParameterError(f"{where} must be a number, got the string {quoted(value)}")
        repairs.append(f"{where}: string {quoted(value)} read as {number:g}")
        value = number
    try:
        number = float(value)
    except (TypeError, ValueError):
        if mode == "strict":
            raise ParameterError(f"{where} must be a number, got {quoted(value)}") from None
        repairs.append(f"{where}: non-numeric value {quoted(value)} replaced by default {spec.default:g}")
        return spec.default
    if not math.isfinite(number):
        if mode == "strict":
            raise ParameterError(f"{where} must be finite, got {number!r}")
        repairs.append(f"{where}: {number!r} replaced by default {spec.default:g}")
        return spec.default
    return number


def validate_value(spec: ParamSpec, value: Any, mode: Mode = "strict",
                   repairs: list[str] | None = None) -> float:
    """Check (strict) or clamp (lenient) one parameter value; return it as ``float``.

    Parameters
    ----------
    spec : ParamSpec
    value : number (or, in lenient mode, a numeric string)
    mode : {"strict", "lenient"}
    repairs : list of str, optional
        Lenient mode appends one message per change here.

    Raises
    ------
    ParameterError
        In strict mode: not a number, not finite, outside ``[minimum, maximum]``, or below a
        formula's ``valid_minimum``.
    """
    repairs = [] if repairs is None else repairs
    number = _coerce_number(spec, value, mode, repairs)
    lo, hi = spec.lowest_valid, spec.maximum
    if spec.minimum <= number < lo and mode == "strict":
        raise ParameterError(
            f"{spec.qualified_name} must be >= {lo:g} for the filter formula to be defined "
            f"(official range {spec.describe_range()}), got {number:g}"
        )
    if not (lo <= number <= hi):
        if mode == "strict":
            raise ParameterError(
                f"{spec.qualified_name} must be in {spec.describe_range()}, got {number:g}"
            )
        clamped = min(max(number, lo), hi)
        repairs.append(f"{spec.qualified_name}: {number:g} clamped to {clamped:g}")
        number = clamped
    return float(number)


def tool_call(name: str, arguments: Mapping[str, Any] | None = None, bypass: bool = False,
              mode: Mode = "strict", repairs: list[str] | None = None) -> ToolCall:
    """Build a validated :class:`ToolCall`; missing arguments take the spec defaults.

    Examples
    --------
    >>> tool_call("gain", {"gain_db": -6}).params
    {'gain_db': -6.0}
    """
    repairs = [] if repairs is None else repairs
    spec = module(name)
    arguments = {} if arguments is None else arguments
    if not isinstance(arguments, Mapping):
        if mode == "strict":
            raise ToolCallError(f"{name}.arguments must be an object, got {type(arguments).__name__}")
        repairs.append(f"{name}: arguments {quoted(arguments)} are not an object; defaults used")
        arguments = {}
    unknown = [k for k in arguments if k not in spec.param_names]
    if unknown:
        if mode == "strict":
            raise ParameterError(
                f"{name} has no parameter {quoted(unknown[0])}; allowed: {', '.join(spec.param_names)}"
            )
        repairs.extend(f"{name}: unknown parameter {quoted(k)} dropped" for k in unknown)
    values = []
    for p in spec.params:
        if p.name in arguments:
            values.append((p.name, validate_value(p, arguments[p.name], mode, repairs)))
        else:
            values.append((p.name, p.default))
    return ToolCall(name, tuple(values), bool(bypass))


@dataclass(frozen=True)
class Chain(Sequence[ToolCall]):
    """An ordered, immutable chain of :class:`ToolCall`, each module at most once.

    Behaves like a read-only list (``len``, indexing, iteration, ``in`` by module name).
    Edits return new chains (:meth:`with_params`, :meth:`with_bypass`, :meth:`without`,
    :meth:`with_module`, :meth:`moved`).

    ``repairs`` lists what lenient validation changed; it is not part of equality.
    """

    calls: tuple[ToolCall, ...] = ()
    repairs: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for call in self.calls:
            if not isinstance(call, ToolCall):
                raise ToolCallError(f"a Chain holds ToolCall objects, got {type(call).__name__}")
            if call.name in seen:
                raise ToolCallError(
                    f"module {call.name!r} appears twice; each module may be used at most once"
                )
            seen.add(call.name)

    # --- sequence protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.calls)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, str):
            for call in self.calls:
                if call.name == index:
                    return call
            raise ToolCallError(
                f"module {quoted(index)} is not in this chain; present: {', '.join(self.names) or 'none'}"
            )
        if isinstance(index, slice):
            return Chain(self.calls[index])
        return self.calls[index]

    def __iter__(self) -> Iterator[ToolCall]:
        return iter(self.calls)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return item in self.names
        return item in self.calls

    @property
    def names(self) -> tuple[str, ...]:
        """Module names in chain order (bypassed ones included)."""
        return tuple(c.name for c in self.calls)

    @property
    def active(self) -> "Chain":
        """The chain without bypassed modules (what is rendered)."""
        return Chain(tuple(c for c in self.calls if not c.bypass))

    # --- construction ------------------------------------------------------------------
    @classmethod
    def from_tool_calls(cls, calls: Any, mode: Mode = "strict") -> "Chain":
        """Build from official tool-call data: a list of ``{"name", "arguments"}`` dicts.

        Also accepts a single dict, ``{"tool_calls": [...]}``, or OpenAI-style
        ``{"function": {"name", "arguments"}}`` entries whose arguments may be a JSON string.
        """
        repairs: list[str] = []
        if isinstance(calls, Mapping):
            calls = calls.get("tool_calls", calls.get("chain", [calls]))
        if isinstance(calls, (str, bytes)) or not isinstance(calls, Iterable):
            raise ToolCallError(
                f"a chain must be a list of tool calls {{'name': ..., 'arguments': {{...}}}}, "
                f"got {type(calls).__name__}"
            )
        out: list[ToolCall] = []
        seen: set[str] = set()
        for i, item in enumerate(calls):
            if isinstance(item, ToolCall):
                item = item.to_json()
            if isinstance(item, Mapping) and "function" in item and "name" not in item:
                item = item["function"]
            if not isinstance(item, Mapping) or "name" not in item:
                if mode == "strict":
                    raise ToolCallError(
                        f"tool call #{i} must be an object with 'name' and 'arguments', got {quoted(item)}"
                    )
                repairs.append(f"tool call #{i} ({quoted(item)}) is not a tool call; dropped")
                continue
            name = item["name"]
            if not isinstance(name, str) or name not in TOOLSET:
                if mode == "strict":
                    module(name)  # raises with the allowed names
                repairs.append(f"unknown module {quoted(name)} dropped; allowed: {', '.join(MODULE_NAMES)}")
                continue
            if name in seen:
                if mode == "strict":
                    raise ToolCallError(
                        f"module {quoted(name)} appears twice; each module may be used at most once"
                    )
                repairs.append(f"second {quoted(name)} dropped: each module may be used at most once")
                continue
            args = item.get("arguments", item.get("parameters", {}))
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except json.JSONDecodeError:
                    if mode == "strict":
                        raise ToolCallError(f"{name}.arguments is not valid JSON: {quoted(args)}") from None
                    repairs.append(f"{name}: arguments {quoted(args)} are not JSON; defaults used")
                    args = {}
            seen.add(name)
            out.append(tool_call(name, args, bool(item.get("bypass", False)), mode, repairs))
        return cls(tuple(out), tuple(repairs))

    @classmethod
    def from_json(cls, text: str | bytes, mode: Mode = "strict") -> "Chain":
        """Parse official tool-call JSON text (``bytes`` must be UTF-8).

        Raises
        ------
        ToolCallError
            Bytes that are not UTF-8, JSON that does not parse or nests too deeply, or a chain
            that :meth:`from_tool_calls` refuses.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ToolCallError(f"chain JSON does not parse: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ToolCallError(f"chain JSON is not UTF-8 text (byte {exc.object[exc.start]:#04x} at position "
                                f"{exc.start}); save the chain as UTF-8") from None
        except RecursionError:
            raise ToolCallError("chain JSON nests too deeply; a chain is a list of "
                                "{\"name\": ..., \"arguments\": {...}} objects") from None
        return cls.from_tool_calls(data, mode)

    # --- serialisation -----------------------------------------------------------------
    def at_precision(self) -> "Chain":
        """Every call at its parameters' precision: what a planner hands out."""
        return Chain(tuple(c.at_precision() for c in self.calls))

    def to_tool_calls(self, include_bypassed: bool = False) -> list[dict[str, Any]]:
        """Official tool-call data. Bypassed modules are left out unless ``include_bypassed``."""
        return [c.to_json(include_bypass=include_bypassed) for c in self.calls
                if include_bypassed or not c.bypass]

    def to_json(self, include_bypassed: bool = True, indent: int | None = None) -> str:
        """JSON text; by default keeps bypassed modules (flagged) so nothing is lost."""
        return json.dumps(self.to_tool_calls(include_bypassed), indent=indent)

    def to_python(self) -> str:
        """Python source that rebuilds this chain (the studio's "copy as Python")."""
        return f"Chain.from_tool_calls({self.to_tool_calls(include_bypassed=True)!r})"

    # --- immutable edits ---------------------------------------------------------------
    def _index(self, name: str) -> int:
        for i, call in enumerate(self.calls):
            if call.name == name:
                return i
        raise ToolCallError(
            f"module {quoted(name)} is not in this chain; present: {', '.join(self.names) or 'none'}"
        )

    def _replace_at(self, i: int, call: ToolCall) -> "Chain":
        return Chain(self.calls[:i] + (call,) + self.calls[i + 1:])

    def with_params(self, name: str, **params: float) -> "Chain":
        """A copy with some parameters of module ``name`` changed (strictly validated)."""
        i = self._index(name)
        old = self.calls[i]
        merged = {**old.params, **params}
        return self._replace_at(i, tool_call(name, merged, old.bypass))

    def with_bypass(self, name: str, bypass: bool = True) -> "Chain":
        i = self._index(name)
        return self._replace_at(i, replace(self.calls[i], bypass=bool(bypass)))

    def without(self, name: str) -> "Chain":
        i = self._index(name)
        return Chain(self.calls[:i] + self.calls[i + 1:])

    def with_module(self, name: str, arguments: Mapping[str, Any] | None = None,
                    index: int | None = None) -> "Chain":
        """A copy with module ``name`` inserted at ``index`` (default: the end)."""
        call = tool_call(name, arguments)
        if name in self.names:
            raise ToolCallError(f"module {quoted(name)} is already in the chain; each module at most once")
        index = len(self.calls) if index is None else index
        return Chain(self.calls[:index] + (call,) + self.calls[index:])

    def moved(self, name: str, index: int) -> "Chain":
        """A copy with module ``name`` moved to position ``index``."""
        i = self._index(name)
        if not -len(self.calls) <= index < len(self.calls):
            raise ToolCallError(f"position must be in [0, {len(self.calls) - 1}], got {index}")
        rest = self.calls[:i] + self.calls[i + 1:]
        index %= len(self.calls)
        return Chain(rest[:index] + (self.calls[i],) + rest[index:])

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{c.name}({', '.join(f'{k}={v:g}' for k, v in c.arguments)}){' [bypassed]' if c.bypass else ''}"
            for c in self.calls
        )
        return f"Chain([{inner}])"


def as_chain(chain: Any, mode: Mode = "strict") -> Chain:
    """Accept a :class:`Chain`, official tool-call data, or JSON text."""
    if isinstance(chain, Chain):
        return chain
    if isinstance(chain, (str, bytes)):
        return Chain.from_json(chain, mode)
    return Chain.from_tool_calls(chain, mode)


#: Largest chain file read (a chain of nine modules is under 2 kB of JSON).
CHAIN_FILE_MAX_BYTES = 1_000_000


def read_chain_file(path: Any, max_bytes: int = CHAIN_FILE_MAX_BYTES, label: str = "chain file") -> Chain:
    """A chain JSON file (``label`` names it in the one-line errors: "chain file", "preset file").

    Raises
    ------
    Llm2FxError
        A file that cannot be read or is over ``max_bytes``; ``ToolCallError`` (a subclass)
        text that is not a valid chain, with the file's name.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise Llm2FxError(f"{label} {p.name} is {size} bytes; a {label} is JSON of at most {max_bytes} bytes")
        data = p.read_bytes()
    except OSError as exc:
        raise Llm2FxError(f"cannot read {label} {p}: {exc.strerror or exc}") from None
    try:
        return Chain.from_json(data)
    except Llm2FxError as exc:
        raise type(exc)(f"{label} {p.name}: {exc}") from None


def describe_chain(chain: Chain) -> str:
    """Plain-English description of a chain, one line per module, in order."""
    chain = as_chain(chain)
    if not chain:
        return "An empty chain: the audio passes through unchanged."
    lines = []
    for i, call in enumerate(chain, 1):
        spec = module(call.name)
        settings = ", ".join(f"{p.label} {p.format_value(call[p.name])}" for p in spec.params)
        state = " (bypassed)" if call.bypass else ""
        lines.append(f"{i}. {call.name}{state}: {spec.description.split(':')[0]} with {settings}.")
    return "\n".join(lines)
