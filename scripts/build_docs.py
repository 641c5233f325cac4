"""Regenerate docs/toolset.md from the toolset spec (the one source of truth).

Run ``.venv/bin/python scripts/build_docs.py``; tests/test_docs.py fails when it is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llm2fx_lab.fx.schemas import toolset_markdown  # noqa: E402

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


if __name__ == "__main__":
    main()
