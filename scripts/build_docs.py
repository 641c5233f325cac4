"""Regenerate docs/toolset.md from the toolset spec (the one source of truth), and the
generated table of docs/edits.md (the edit grammar's words, steps and neutral settings).

Run ``.venv/bin/python scripts/build_docs.py``; tests/test_docs.py and
tests/planners/test_edits.py fail when they are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llm2fx_lab.fx.schemas import toolset_markdown  # noqa: E402
from llm2fx_lab.planners.edits import grammar_table  # noqa: E402

EDITS_START, EDITS_END = "<!-- grammar table: generated -->\n", "<!-- end of grammar table -->"

HEADER = """# The toolset: 9 modules, 26 parameters

Generated from `llm2fx_lab/fx/spec.py` by `scripts/build_docs.py`; do not edit by hand.
Names, ranges, sampler steps and scales are those of the paper's public code
(`llm2fx-tools/llm4mp/common_utils/fx_utils/ndsp_utils/`). *step* is the official chain
sampler's step; the model's tool schemas show finer steps (`llm2fx tools`). *log* parameters
use the shifted-log normalisation `u = log(1 + (v - min) / 1) / log(1 + (max - min) / 1)` for
sliders and model targets; the paper's MAE metric uses linear min-max normalisation.

**Defaults** are ours (the official ones, ratio 0 and Q 0, cannot render): neutral where a
neutral value exists (gain 0 dB, compressor ratio 1, widener width 1, EQ gains 0 dB, delay mix
0), otherwise the least intrusive valid value. Note that two modules have no neutral setting
in pedalboard: the panner's centre is -3 dB per side, and the reverb's mix 0.5 (our default)
keeps the dry path at unity while adding wet (mix 0 would give dry +6 dB).

**Rendering from** marks official minima the formulas cannot render (Q = 0 divides by zero in
the RBJ formulas; a 0 Hz corner has no shelf): strict validation rejects values below it,
lenient validation clamps to it and records the repair.

"""


def main() -> None:
    path = ROOT / "docs" / "toolset.md"
    path.parent.mkdir(exist_ok=True)
    path.write_text(HEADER + toolset_markdown())
    print("wrote", path)
    edits = ROOT / "docs" / "edits.md"
    text = edits.read_text(encoding="utf-8")
    head, rest = text.split(EDITS_START, 1)
    tail = rest.split(EDITS_END, 1)[1]
    edits.write_text(head + EDITS_START + grammar_table() + EDITS_END + tail, encoding="utf-8")
    print("wrote", edits)


if __name__ == "__main__":
    main()
