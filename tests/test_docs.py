"""Generated docs stay in sync with the code."""

from pathlib import Path

import nbformat

from llm2fx_lab.fx.schemas import toolset_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_toolset_reference_is_current():
    text = (ROOT / "docs" / "toolset.md").read_text()
    assert toolset_markdown() in text, "docs/toolset.md is stale: run scripts/build_docs.py"


def test_notebooks_match_their_generator():
    from tests._scripts import load_script

    mod = load_script("scripts/build_notebooks.py")
    for name, cells in mod.NOTEBOOK_CELLS.items():
        nb = nbformat.read(str(ROOT / "notebooks" / name), as_version=4)
        assert [c.source for c in nb.cells] == [c.source for c in cells], \
            f"notebooks/{name} differs from scripts/build_notebooks.py: re-run it"
