"""Every notebook runs headless, top to bottom, without errors (nbclient); its source (linted by
tests/test_lint.py with the rest of the code) holds no test switch."""

import ast
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOURCES = sorted((ROOT / "notebooks").glob("*.py"))

# Small values injected after each notebook's `parameters` cell, as papermill does, so that the
# whole suite runs in minutes. Short clips matter beyond speed: the headless runner buffers every
# player until a cell ends, and a few MB of audio per cell can overflow it.
SMALL = {
    "02_effects_101.ipynb": {"clip_seconds": 0.5, "tail_seconds": 0.25},
    "03_reasoning_explorer.ipynb": {"examples": ["piano", "guitar"], "clip_seconds": 3.0, "refine_steps": 4,
                                    "refine_budget_seconds": 4.0, "digits_from_your_model": False},
    "04_train_your_own.ipynb": {"examples_per_split": 4, "stage1_steps": 3, "stage2_steps": 3,
                                "eval_examples": ["piano", "bass"], "eval_seconds": 2.0},
    "05_benchmark.ipynb": {"pairs_per_length": 1, "chain_lengths": (1, 2, 3), "clip_seconds": 2.0,
                           "refine_steps": 3, "refine_budget_seconds": 3.0},
}


def _assigned_names(source: str) -> set[str]:
    return {target.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def inject_parameters(nb, values: dict) -> None:
    """Insert a cell setting ``values`` right after the cell tagged ``parameters``, as papermill does."""
    tagged = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    unknown = set(values) - _assigned_names(nb.cells[tagged[0]].source)
    assert not unknown, f"the parameters cell does not set {sorted(unknown)}"
    cell = nbformat.v4.new_code_cell("\n".join(f"{name} = {value!r}" for name, value in values.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(tagged[0] + 1, cell)


def test_there_are_notebooks():
    assert any(p.name == "01_studio.ipynb" for p in NOTEBOOKS)
    assert set(SMALL) <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_notebook_source_compiles_without_test_switches(path):
    source = path.read_text(encoding="utf-8")
    compile(source, str(path), "exec")
    assert "LLM2FX_FAST" not in source and "os.environ" not in source, \
        "test switches belong in the parameters cell, not in a cell users read"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(str(path), as_version=4)
    has_parameters = any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert has_parameters == (path.name in SMALL), "a notebook with a parameters cell needs small values in SMALL"
    if has_parameters:
        inject_parameters(nb, SMALL[path.name])
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    figures_as_text = [o for o in outputs if "image/png" not in o.get("data", {})
                       and o.get("data", {}).get("text/plain", "").startswith("<Figure size")]
    assert not figures_as_text, "figures showed as text only: the notebook needs %matplotlib inline"
