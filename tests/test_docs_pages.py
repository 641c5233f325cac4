"""The hand-written docs pages exist, and every command line they show still parses.

Command lines are read from ```bash blocks: ``llm2fx ...`` lines must parse with
``llm2fx_lab.cli.build_parser()``, and ``python -m llm2fx_lab.cli ...`` lines with the
planner commands' parser, so the pages cannot drift from the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from llm2fx_lab.cli import build_parser
from llm2fx_lab.cli.planners import add_planner_parsers

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("architecture.md", "getting-started.md", "style.md")
PLANNER_MODULE = "python -m llm2fx_lab.cli"


def _planner_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PLANNER_MODULE)
    add_planner_parsers(parser.add_subparsers(dest="command", required=True))
    return parser


def command_lines(text: str) -> list[tuple[str, list[str]]]:
    """``(parser key, argv)`` for each llm2fx command line in the page's bash blocks."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()  # trailing comments
            if line.startswith("llm2fx "):
                found.append(("llm2fx", shlex.split(line)[1:]))
            elif line.startswith(PLANNER_MODULE + " "):
                found.append(("planners", shlex.split(line[len(PLANNER_MODULE):])))
    return found


def parse_error(key: str, argv: list[str]) -> str | None:
    """None if ``argv`` parses, else argparse's complaint."""
    parser = build_parser() if key == "llm2fx" else _planner_parser()
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
    except SystemExit as exc:
        return stderr.getvalue().strip() or f"exit {exc.code}"
    return None


@pytest.mark.parametrize("page", PAGES)
def test_page_exists_and_is_not_empty(page):
    path = ROOT / "docs" / page
    assert path.is_file(), f"docs/{page} is missing"
    text = path.read_text()
    assert text.startswith("# ") and len(text) > 1000


def test_architecture_has_a_mermaid_diagram_of_the_data_flow():
    text = (ROOT / "docs" / "architecture.md").read_text()
    diagram = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert diagram, "docs/architecture.md has no mermaid diagram"
    for node in ("fx.Chain", "analysis", "planners", "ui"):
        assert node in diagram.group(1)
    # every arrow ("imports") points down the layers that tests/test_layout.py enforces
    from tests.test_layout import RANK

    arrows = re.findall(r"^\s*(\w+) --> (\w+)\s*$", diagram.group(1), re.M)
    assert len(arrows) >= 10
    for a, b in arrows:
        assert RANK[a] > RANK[b], f"the diagram's arrow {a} --> {b} points up the layers"


def test_getting_started_shows_the_main_commands():
    found = command_lines((ROOT / "docs" / "getting-started.md").read_text())
    subcommands = {(key, argv[0]) for key, argv in found}
    assert {("llm2fx", "tools"), ("llm2fx", "describe"), ("llm2fx", "render"), ("llm2fx", "data"),
            ("llm2fx", "estimate"), ("llm2fx", "train")} <= subcommands


@pytest.mark.parametrize("page", PAGES)
def test_every_command_line_parses(page):
    for key, argv in command_lines((ROOT / "docs" / page).read_text()):
        error = parse_error(key, argv)
        assert error is None, f"docs/{page}: `{' '.join(argv)}` no longer parses: {error}"


@pytest.mark.parametrize("argv", [["render", "in.wav", "out.flac"],          # --chain is required
                                  ["tools", "--json"],                         # no such option
                                  ["data", "generate", "out", "--n", "many"],  # not an int
                                  ["describe"]])                               # CHAIN missing
def test_a_command_line_that_drifted_is_caught(argv):
    assert parse_error("llm2fx", argv) is not None


def test_planner_command_lines_are_checked_too():
    assert parse_error("planners", ["estimate", "dry.wav", "reference.wav", "--json"]) is None
    assert parse_error("planners", ["estimate", "dry.wav", "reference.wav", "--no-such-flag"]) is not None
