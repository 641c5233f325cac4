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
# 01 · Studio (first version)

Load a bundled example, render it through an effect chain, listen before and after, and compare
spectra. The chain is written in the official tool-call format of LLM2Fx-Tools; edit it and
re-run the cells below to hear the difference.
"""),
    code("""
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import Audio, display

from llm2fx_lab.examples import list_examples, load_example, example_chain
from llm2fx_lab.fx import Chain, render, render_stages, describe_chain

print("bundled examples:", ", ".join(list_examples()))
dry, sr = load_example("drums")
print(f"dry: {dry.shape[1] / sr:.1f} s, {sr:.0f} Hz, stereo")
"""),
    md("The demonstration chain of this clip, in plain English:"),
    code("""
chain = example_chain("drums")
print(describe_chain(chain))
chain.to_tool_calls()
"""),
    md("Render it (with a 2 s tail so the reverb is not cut) and listen. `normalize=False` keeps honest levels."),
    code("""
wet = render(dry, sr, chain, tail_seconds=2.0)
display(Audio(dry, rate=sr, normalize=False), Audio(np.clip(wet, -1, 1), rate=sr, normalize=False))
"""),
    md("Edit the chain: add a high-shelf boost and move it first. Chains are immutable; edits return new ones."),
    code("""
edited = chain.with_module("equalizer", {"high_gain_db": 8, "high_cutoff_freq": 6000}, index=0)
print(describe_chain(edited))
wet_edited = render(dry, sr, edited, tail_seconds=2.0)
display(Audio(np.clip(wet_edited, -1, 1), rate=sr, normalize=False))
"""),
    md("Average spectra (Welch, mid channel) before and after, on a log frequency axis."),
    code("""
from scipy.signal import welch

fig, ax = plt.subplots(figsize=(8, 3.5))
for label, x in (("dry", dry), ("demo chain", wet), ("edited", wet_edited)):
    f, p = welch(x.mean(axis=0), fs=sr, nperseg=4096)
    ax.semilogx(f[1:], 10 * np.log10(p[1:] + 1e-12), label=label)
ax.set(xlabel="frequency (Hz)", ylabel="power (dB)", xlim=(20, sr / 2))
ax.legend(); ax.grid(alpha=0.3)
plt.show()
"""),
    md("Step through the chain: the signal after each module."),
    code("""
for label, x in render_stages(dry, sr, edited, tail_seconds=2.0):
    rms_db = 20 * np.log10(np.sqrt(np.mean(x ** 2)) + 1e-12)
    print(f"{label:>12}: RMS {rms_db:6.1f} dBFS, peak {20 * np.log10(np.abs(x).max() + 1e-12):6.1f} dBFS")
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
