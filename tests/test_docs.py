"""Generated docs stay in sync with the code."""

import shutil
from pathlib import Path

import jupytext
import nbformat

from llm2fx_lab.fx.schemas import toolset_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_toolset_reference_is_current():
    text = (ROOT / "docs" / "toolset.md").read_text()
    assert toolset_markdown() in text, "docs/toolset.md is stale: run scripts/build_docs.py"


NOTEBOOK_FORMATS = "ipynb,py:percent"


def notebook_sync_problems(folder: Path) -> list[str]:
    """Why the jupytext sources ``folder/*.py`` and their paired ``.ipynb`` files disagree, if they do.

    Each pair must declare the jupytext formats ``ipynb,py:percent`` and hold the same cells (type,
    source and tags) as jupytext reads them; no ``.ipynb`` may lack its ``.py``.
    """
    problems = [f"{p.name} has no .py source" for p in sorted(folder.glob("*.ipynb"))
                if not p.with_suffix(".py").exists()]
    for source in sorted(folder.glob("*.py")):
        paired = source.with_suffix(".ipynb")
        if not paired.exists():
            problems.append(f"{source.name} has no paired {paired.name}")
            continue
        notebooks = [jupytext.read(source), jupytext.read(paired)]
        for path, nb in zip((source, paired), notebooks):
            if nb.metadata.get("jupytext", {}).get("formats") != NOTEBOOK_FORMATS:
                problems.append(f"{path.name} is not paired as {NOTEBOOK_FORMATS}")
        cells = [[(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells] for nb in notebooks]
        if cells[0] != cells[1]:
            problems.append(f"{source.name} and {paired.name} differ")
    return problems


def test_notebooks_match_their_sources():
    assert sorted((ROOT / "notebooks").glob("*.py")), "no notebook sources in notebooks/"
    problems = notebook_sync_problems(ROOT / "notebooks")
    assert not problems, "; ".join(problems) + ": edit the .py and run `jupytext --sync notebooks/*.py`"


def test_notebook_sync_check_sees_a_one_sided_edit(tmp_path):
    for path in (ROOT / "notebooks").glob("01_studio.*"):
        shutil.copy(path, tmp_path / path.name)
    assert notebook_sync_problems(tmp_path) == []
    source = tmp_path / "01_studio.py"
    text = source.read_text(encoding="utf-8")
    source.write_text(text.replace("# # 01 · Studio", "# # 01 · Studio (edited)"), encoding="utf-8")
    assert notebook_sync_problems(tmp_path) == ["01_studio.py and 01_studio.ipynb differ"]
    source.write_text(text, encoding="utf-8")
    nb = nbformat.read(tmp_path / "01_studio.ipynb", as_version=4)
    nb.cells[1].source += "\nprint(studio)"
    nbformat.write(nb, tmp_path / "01_studio.ipynb")
    assert notebook_sync_problems(tmp_path) == ["01_studio.py and 01_studio.ipynb differ"]
    source.unlink()
    assert notebook_sync_problems(tmp_path) == ["01_studio.ipynb has no .py source"]
