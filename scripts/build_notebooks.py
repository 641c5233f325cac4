"""(Re)write the notebooks from the cell sources below, without outputs.

Notebooks are generated so their source stays reviewable as Python; run
``.venv/bin/python scripts/build_notebooks.py`` after editing and commit both.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def md(text: str):
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text: str):
    return nbformat.v4.new_code_cell(text.strip())


STUDIO = [
    md("""
# 01 · Studio

Upload a dry clip and a reference (or pick a bundled example), watch the planner reason its way to
an effect chain, then edit the chain, listen and look. Everything below is live: slider drags
re-render only the modules after the one you touched, and the spectra follow.

- **Audio**: upload wav/flac/ogg/mp3 for the *dry* and *reference* slots, or pick an example.
  Tick *No dry clip* for blind estimation from the reference alone.
- **Reasoning**: the planner's stream, step by step, with tool calls as cards. *Stop* ends it
  early; type a request ("less reverb", "make it brighter") to continue the conversation. Each turn
  can be undone.
- **Effect chain**: drag cards (or focus one and press Alt+Up/Down) to reorder; bypass, remove,
  add modules; sliders (log scale where the toolset says so) and exact numbers; undo/redo;
  reset to the planner's estimate; export JSON or copy as Python.
- **Listen**: one player with an A/B switch that keeps the position, optional loudness matching,
  and a step-through of the signal after each module.
"""),
    code("""
from llm2fx_lab.ui import Studio

studio = Studio(example="drums")   # the drums clip and its demo chain's render as reference
studio
"""),
    md("Run the default planner on the loaded pair. It streams in a background thread, so the notebook stays responsive."),
    code("""
print("planner:", getattr(studio.planner, "name", studio.planner))
studio.plan()
"""),
    md("""
The chain in the editor is a plain `Chain` at any time: use it in code, render it, save it.
(While the planner is still streaming this shows the chain from before.)
"""),
    code("""
print(studio.chain)
print(studio.chain.to_json(indent=2))
"""),
    md("""
### Under the hood

The studio is a composition of small widgets from `llm2fx_lab.ui` (`AudioInput`, `ReasoningView`,
`ChainEditor`, `Player`, `SpectrumView`, `DynamicsView`), each usable alone. Rendering is the plain
library: `render` for the output, `render_stages` for the signal after each module.
"""),
    code("""
import numpy as np
from llm2fx_lab.examples import example_pair
from llm2fx_lab.fx import render_stages

dry, reference, sr, demo_chain = example_pair("drums")
for label, x in render_stages(dry, sr, demo_chain, tail_seconds=1.0):
    rms_db = 20 * np.log10(np.sqrt(np.mean(x ** 2)) + 1e-12)
    print(f"{label:>14}: RMS {rms_db:6.1f} dBFS, peak {20 * np.log10(np.abs(x).max() + 1e-12):6.1f} dBFS")
"""),
]


NOTEBOOK_CELLS = {"01_studio.ipynb": STUDIO}


def build() -> list[Path]:
    NOTEBOOKS.mkdir(exist_ok=True)
    written = []
    for name, cells in NOTEBOOK_CELLS.items():
        nb = nbformat.v4.new_notebook()
        nb.cells = cells
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = NOTEBOOKS / name
        nbformat.write(nb, str(path))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in build():
        print("wrote", p)
    sys.exit(0)
