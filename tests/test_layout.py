"""The layout keeps its promise: dependencies point one way, and no modules import each other.

Packages are layered, lowest first; a package may import its own modules and those of lower
layers, never one of its own layer or above. Every import counts, also one inside a function
(an optional heavy dependency is still a dependency). ``docs/architecture.md`` draws the same
order.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "llm2fx_lab"

#: Lowest layer first. ``events`` (the planner event protocol) sits below both ``model`` and
#: ``planners``, which stream those events; ``examples`` are bundled clips rendered with ``fx``;
#: ``server`` serves the planners and ``cli`` starts it.
LAYERS: tuple[frozenset[str], ...] = tuple(frozenset(layer) for layer in (
    {"errors", "threads"},
    {"audio"},
    {"fx"},
    {"events", "examples"},
    {"analysis"},
    {"data"},
    {"model"},
    {"planners"},
    {"server"},
    {"ui", "cli"},
    {"lessons"},
))
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported_modules(path: Path) -> set[str]:
    """Every ``llm2fx_lab`` module ``path`` imports (``from pkg import sub`` names ``pkg.sub``)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "llm2fx_lab"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "llm2fx_lab":
                continue
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names if is_module(f"{target}.{a.name}")}
    return found


def top_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_package_has_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert tops <= set(RANK), f"place {sorted(tops - set(RANK))} in LAYERS (and in docs/architecture.md)"


def test_no_package_imports_its_own_layer_or_above():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = top_package(module_name(path))
        if source == "":
            continue  # llm2fx_lab/__init__.py: only the error types (checked below)
        for target in imported_modules(path):
            dest = top_package(target)
            if dest and dest != source and RANK[dest] >= RANK[source]:
                upward.append(f"{path.relative_to(ROOT)} imports {target} ({source} -> {dest})")
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_the_package_root_imports_only_the_errors():
    assert {top_package(m) for m in imported_modules(PACKAGE / "__init__.py")} <= {"errors"}


def test_no_import_cycles_between_modules():
    graph = {module_name(p): {m for m in imported_modules(p) if is_module(m)} for p in PACKAGE.rglob("*.py")}
    # a package's __init__ importing its own submodules is how packages work; a submodule that
    # imports its package's __init__ back is the cycle this looks for
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w.startswith(v + "."):
                continue  # __init__ -> own submodule
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"modules that import each other: {cycles}"


def test_the_checks_can_fail(tmp_path):
    """The walker sees an import inside a function, and a relative one."""
    f = tmp_path / "llm2fx_lab" / "fx" / "x.py"
    f.parent.mkdir(parents=True)
    f.write_text("def g():\n    from llm2fx_lab.planners import registry\n    from ..ui import studio\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = imported_modules(f)
    finally:
        ROOT = saved
    assert {"llm2fx_lab.planners", "llm2fx_lab.ui"} <= found
    assert RANK[top_package("llm2fx_lab.planners")] > RANK["fx"]
