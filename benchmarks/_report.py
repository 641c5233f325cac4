"""Shared by every benchmark: machine description and writing a section of docs/benchmarks.md.

Each benchmark owns one section, delimited by ``<!-- BEGIN name -->`` / ``<!-- END name -->``
markers, and replaces only that section, so benchmarks can run in any order.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Written by the scripts in `benchmarks/` (`make bench` runs them all). Each section says the\n"
    "machine, the date and the exact command. Comparisons are ratios measured in the same run.\n"
)


def machine() -> str:
    """One line: CPU model, cores, memory, Python, torch and, if any, the GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages * size / 2**30:.0f} GiB RAM"
    except (ValueError, OSError):
        pass
    gpu = ""
    try:
        import torch

        torch_v = f", torch {torch.__version__}"
        if torch.cuda.is_available():
            gpu = f", GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        torch_v = ""
    return (f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}"
            f"{torch_v}{gpu}")


def command() -> str:
    return " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])


def write_section(name: str, title: str, body_markdown: str, path: Path = REPORT) -> Path:
    """Replace (or append) the section ``name`` of docs/benchmarks.md."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        rev = ""
    section = (
        f"<!-- BEGIN {name} -->\n## {title}\n\n"
        f"- machine: {machine()}\n- date: {stamp}{f' (commit {rev})' if rev else ''}\n"
        f"- command: `{command()}`\n\n{body_markdown.strip()}\n<!-- END {name} -->"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else HEADER
    pattern = re.compile(rf"<!-- BEGIN {re.escape(name)} -->.*?<!-- END {re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _m: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)
    return path


def median_seconds(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    def cell(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)
