"""Dialogues: instructions, the assistant turn, and multi-turn refinement.

Tasks (:data:`TASKS`):

- ``reverse_engineering``: dry and reference given; "which chain turns this into that?"
- ``blind``: the dry clip is masked (probability
  :attr:`~llm2fx_lab.data.generate.GenerateConfig.dry_mask_probability`); the model
  sees the reference and its Fx-normalised pseudo-dry version (:mod:`llm2fx_lab.audio.fxnorm`).
- ``style``: a user describes the wanted sound in words, derived from what Evidence measured
  on the pair (brighter, wider, more spacious, ...), with the audio as usual.
- ``refinement``: a reverse-engineering turn, then "less reverb" / "make it brighter" and a
  second assistant turn that edits the chain; the edit's audible effect is measured
  (Evidence of old vs new render) and cited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from llm2fx_lab.data import format as fmt
from llm2fx_lab.data.cot import CLAIM_TEXT, SHORT, Claim, _pick, chain_of_thought, evidence_value, response_text
from llm2fx_lab.fx.chain import Chain

TASKS = ("reverse_engineering", "blind", "style", "refinement")

REVERSE = [
    "Here is a dry track and a processed reference. Which effects, in which order and with which settings, turn the dry into the reference?",
    "Estimate the effect chain that was applied to the dry recording to produce the reference.",
    "I have the original and a processed version. Reverse-engineer the Fx chain for me.",
    "What processing makes my dry {instrument} sound like the reference? Give me the chain.",
    "Match the reference: find the modules, their order and their parameters.",
    "Listen to the dry and the processed audio and tell me what was done, as tool calls.",
    "Can you recreate the sound of the reference from this dry take?",
    "Figure out the effects chain between these two recordings.",
]
BLIND = [
    "I only have the processed recording. Estimate the effect chain that was applied to it.",
    "No dry version is available. What effects were used on this {instrument}?",
    "Guess the processing chain from the reference alone.",
    "Here is a processed track without its original. Reverse-engineer the effects.",
    "Which Fx chain would produce this sound? I don't have the unprocessed audio.",
]
STYLE = [
    "Make my {instrument} sound {words}, like the reference.",
    "I want this {instrument} {words}. Build the chain.",
    "Process the dry track so it becomes {words}.",
    "Give it a {words} character, close to the reference.",
]
STYLE_WORDS = {
    ("high_band_gain_db", 1): "brighter", ("high_band_gain_db", -1): "darker",
    ("low_band_gain_db", 1): "warmer in the low end", ("low_band_gain_db", -1): "thinner in the lows",
    ("loudness_change_lu", 1): "louder", ("loudness_change_lu", -1): "quieter",
    ("crest_factor_change_db", -1): "denser and more compressed", ("crest_factor_change_db", 1): "punchier",
    ("side_to_mid_change_db", 1): "wider", ("side_to_mid_change_db", -1): "narrower",
    ("pan_change", 1): "panned to the right", ("pan_change", -1): "panned to the left",
    ("decay_change_seconds", 1): "more spacious", ("added_harmonics_db", 1): "grittier",
    ("echo_detected", 1): "with echoes",
}


def style_words(evidence) -> tuple[list[str], list[Claim]]:
    """Words for the notable changes of ``evidence`` (and the claims behind them)."""
    words, claims = [], []
    for field in evidence.notable:
        d = evidence.direction(field)
        w = STYLE_WORDS.get((field, d))
        if w:
            words.append(w)
            claims.append(Claim(field, d, evidence_value(evidence, field), w, "style"))
    return words[:3], claims[:3]


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def instruction(task: str, rng: np.random.Generator, instrument: str = "track",
                evidence=None) -> tuple[str, list[Claim]]:
    """The user's instruction for ``task`` (and, for ``style``, the claims its words rest on)."""
    if task == "blind":
        return _pick(rng, BLIND).format(instrument=instrument), []
    if task == "style" and evidence is not None:
        words, claims = style_words(evidence)
        if words:
            return _pick(rng, STYLE).format(instrument=instrument, words=_join(words)), claims
    return _pick(rng, REVERSE).format(instrument=instrument), []


# --- refinement -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Edit:
    request: str
    chain: Chain
    field: str
    direction: int
    summary: str


def propose_edits(chain: Chain) -> list[Edit]:
    """Refinement requests that make sense for ``chain``, each with the edited chain."""
    edits: list[Edit] = []
    names = chain.names
    if "reverb" in names:
        mix = chain["reverb"]["mix_ratio"]
        if mix >= 0.3:
            edits.append(Edit("Less reverb, please.", chain.with_params("reverb", mix_ratio=round(mix - 0.2, 3),
                              room_size=round(max(chain["reverb"]["room_size"] - 0.2, 0.1), 3)),
                              "decay_change_seconds", -1, "lowered the reverb mix and room size"))
        if mix <= 0.7:
            edits.append(Edit("Can you add more reverb?", chain.with_params("reverb", mix_ratio=round(mix + 0.2, 3),
                              room_size=round(min(chain["reverb"]["room_size"] + 0.2, 0.9), 3)),
                              "decay_change_seconds", 1, "raised the reverb mix and room size"))
    if "equalizer" in names:
        hg = chain["equalizer"]["high_gain_db"]
        if hg <= 14:
            edits.append(Edit("Make it brighter.", chain.with_params("equalizer", high_gain_db=hg + 6),
                              "high_band_gain_db", 1, "boosted the high shelf by 6 dB"))
        if hg >= -14:
            edits.append(Edit("It's too bright; make it darker.", chain.with_params("equalizer", high_gain_db=hg - 6),
                              "high_band_gain_db", -1, "cut the high shelf by 6 dB"))
    else:
        eq = {"low_gain_db": 0, "mid_gain_db": 0, "high_gain_db": 6, "high_cutoff_freq": 6000, "high_q_factor": 0.7}
        edits.append(Edit("Make it brighter.", chain.with_module("equalizer", eq),
                          "high_band_gain_db", 1, "added an EQ with a 6 dB high-shelf boost at 6 kHz"))
    if "gain" in names:
        g = chain["gain"]["gain_db"]
        if g <= 14:
            edits.append(Edit("A bit louder.", chain.with_params("gain", gain_db=g + 6), "loudness_change_lu", 1,
                              "raised the gain by 6 dB"))
        if g >= -14:
            edits.append(Edit("Turn it down a little.", chain.with_params("gain", gain_db=g - 6), "loudness_change_lu", -1,
                              "lowered the gain by 6 dB"))
    if "distortion" in names and chain["distortion"]["drive_db"] >= 8:
        d = chain["distortion"]["drive_db"]
        edits.append(Edit("Less distortion.", chain.with_params("distortion", drive_db=d - 6), "added_harmonics_db", -1,
                          "reduced the drive by 6 dB"))
    if "delay" in names and len(chain) > 1:
        edits.append(Edit("Remove the delay.", chain.without("delay"), "echo_detected", -1, "removed the delay"))
    if "stereo_widener" in names and chain["stereo_widener"]["width"] <= 1.1:
        w = chain["stereo_widener"]["width"]
        edits.append(Edit("Make it wider.", chain.with_params("stereo_widener", width=round(w + 0.4, 3)),
                          "side_to_mid_change_db", 1, "widened the stereo image"))
    return edits


def refinement_turn(edit: Edit, evidence_edit, rng: np.random.Generator) -> tuple[str, str, list[Claim]]:
    """(reasoning, response, claims) for a refinement turn; ``evidence_edit`` = compare(old wet, new wet)."""
    claims = []
    if edit.field == "echo_detected":
        confirmed = not evidence_edit.echo_detected and evidence_edit.direction("decay_change_seconds") <= 0
        heard = "the echo is gone" if confirmed else ""
    else:
        confirmed = evidence_edit.direction(edit.field) == edit.direction
        heard = ""
        if confirmed:
            v = evidence_value(evidence_edit, edit.field)
            c = Claim(edit.field, edit.direction, v, CLAIM_TEXT[edit.field](v, "the new render", rng), "refinement")
            claims.append(c)
            heard = c.text
    head = _pick(rng, ["Refinement:", "Adjusting the chain:", "The user wants a change."])
    check = (f" Rendering both versions, {heard}." if heard else
             " The measured difference between the two versions is small, but the change goes in the requested direction.")
    text = f"{head} I {edit.summary}; everything else stays as it was.{check}"
    names = " -> ".join(SHORT[c.name] for c in edit.chain)
    response = _pick(rng, [f"Updated: {names}.", f"I {edit.summary}. The chain is now {names}.",
                           f"Here is the revised chain ({names})."])
    return text, response, claims


def build_messages(instruction_text: str, reasoning: str, chain: Chain, response: str) -> list[dict[str, Any]]:
    """The two messages of a single-turn example."""
    return [fmt.user_message(instruction_text), fmt.assistant_message(reasoning, chain, response)]


__all__ = ["Edit", "TASKS", "build_messages", "chain_of_thought", "instruction",
           "propose_edits", "refinement_turn", "response_text", "style_words"]
