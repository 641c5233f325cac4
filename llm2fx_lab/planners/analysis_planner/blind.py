"""Blind mode: no dry clip, only the reference.

The reference is compared with its pseudo-dry (:func:`llm2fx_lab.audio.fxnorm.pseudo_dry`:
the reference Fx-normalised, as the paper's robust training does), and the planner runs as
usual on that pair. Where Fx-normalisation cannot work (a clip too short or too quiet after
normalising), only what the reference itself shows is described: its stereo image
(:func:`reference_only_chain`).
"""

from __future__ import annotations

import numpy as np

from llm2fx_lab.analysis.features import stereo_measures
from llm2fx_lab.audio.checks import as_stereo_float32
from llm2fx_lab.audio.fxnorm import pseudo_dry
from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.fx.chain import Chain, tool_call


def blind_dry(reference: np.ndarray, sample_rate: float) -> tuple[np.ndarray | None, str]:
    """The pseudo-dry of ``reference`` (``(2, samples)`` float32) and the sentence that says so,
    or ``None`` and the reason when Fx-normalisation fails."""
    try:
        pseudo = pseudo_dry(reference, sample_rate)
    except Llm2FxError as exc:
        return None, f"Blind mode: Fx-normalisation failed ({exc}); describing the reference alone."
    return as_stereo_float32(pseudo, "pseudo-dry"), "Blind mode: comparing against a pseudo-dry from Fx-normalisation."


def reference_only_chain(reference: np.ndarray, sample_rate: float) -> tuple[Chain, list[tuple[str, str]]]:
    """What the reference alone says: a panner from its stereo balance (assuming a centred
    source), with ``(step, sentence)`` reasoning notes."""
    notes = []
    calls = []
    st = stereo_measures(reference)
    notes.append(("selection", f"The reference's balance sits at pan {st['pan_position']:+.2f} and its side "
                               f"is {st['side_to_mid_db']:.1f} dB re mid."))
    if abs(st["pan_position"]) >= 0.1:
        calls.append(tool_call("panner", {"pan": float(np.clip(st["pan_position"], -1, 1))}))
        notes.append(("parameters", f"panner: pan {st['pan_position']:+.2f}, assuming a centred source."))
    notes.append(("order", "Without a dry clip no order can be measured; only image modules are proposed."))
    return Chain(tuple(calls)), notes
