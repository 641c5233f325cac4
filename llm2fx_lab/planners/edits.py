"""Instruction edits: change a chain the way a short request asks, as a multi-turn step.

Each phrase maps to one documented, testable change (:data:`EDITS`). A module the edit needs
is added with neutral settings first (for example "more reverb" on a chain without reverb
adds a reverb at mix 0.1, then raises it). Values stay inside the spec ranges.

=====================  =======================================================================
phrase                 change
=====================  =======================================================================
more reverb / wetter   reverb.mix_ratio + 0.15 (reverb added at the end if missing)
less reverb / drier    reverb.mix_ratio - 0.15 (removed when it reaches 0)
bigger room            reverb.room_size + 0.2
more echo / delay      delay.mix_ratio + 0.15 (delay added if missing)
less echo / delay      delay.mix_ratio - 0.15
brighter               equalizer.high_gain_db + 4 (equalizer added first if missing)
darker / warmer        equalizer.high_gain_db - 4
more bass              equalizer.low_gain_db + 4
less bass              equalizer.low_gain_db - 4
wider                  stereo_widener.width + 0.3 (widener added if missing)
narrower               stereo_widener.width - 0.3
more punch / punchier  compressor: ratio + 2, attack_ms at least 20 (compressor added if missing)
more compression       compressor.ratio + 3, threshold_db - 5
less compression       compressor.ratio - 3 (removed at ratio 1)
more distortion        distortion.drive_db + 4 (added if missing)
less distortion        distortion.drive_db - 4 (removed at 0)
louder                 gain.gain_db + 3 (gain added if missing)
quieter / softer       gain.gain_db - 3
pan left / pan right   panner.pan - / + 0.3 (panner added if missing)
=====================  =======================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llm2fx_lab.errors import ParameterError
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.fx.spec import module as module_spec


@dataclass(frozen=True)
class Edit:
    """One documented change: ``module.param += delta`` (with an optional floor for ``at_least``)."""

    module: str
    param: str
    delta: float
    at_least: tuple[tuple[str, float], ...] = ()
    also: tuple[tuple[str, float], ...] = ()   # (param, delta) changed together
    remove_at: float | None = None             # remove the module when param reaches this


#: Phrases (regular expressions, matched case-insensitively) and their edits, in priority order.
EDITS: tuple[tuple[str, tuple[Edit, ...]], ...] = (
    (r"\b(less|reduce|lower)\b.*\breverb\b|\bdrier\b|\bdryer\b", (Edit("reverb", "mix_ratio", -0.15, remove_at=0.0),)),
    (r"\b(more|add|increase)\b.*\breverb\b|\bwetter\b|\bmore space\b", (Edit("reverb", "mix_ratio", 0.15),)),
    (r"\bbigger room\b|\blarger room\b", (Edit("reverb", "room_size", 0.2),)),
    (r"\b(less|reduce)\b.*\b(echo|delay)\b", (Edit("delay", "mix_ratio", -0.15, remove_at=0.0),)),
    (r"\b(more|add)\b.*\b(echo|delay)\b", (Edit("delay", "mix_ratio", 0.15),)),
    (r"\bbrighter\b|\bmore (treble|highs|air)\b", (Edit("equalizer", "high_gain_db", 4.0),)),
    (r"\bdarker\b|\bwarmer\b|\bless (treble|highs)\b", (Edit("equalizer", "high_gain_db", -4.0),)),
    (r"\bmore (bass|low end|lows)\b", (Edit("equalizer", "low_gain_db", 4.0),)),
    (r"\bless (bass|low end|lows)\b", (Edit("equalizer", "low_gain_db", -4.0),)),
    (r"\bwider\b", (Edit("stereo_widener", "width", 0.3),)),
    (r"\bnarrower\b|\bmore mono\b", (Edit("stereo_widener", "width", -0.3),)),
    (r"\bmore punch\b|\bpunchier\b", (Edit("compressor", "ratio", 2.0, at_least=(("attack_ms", 20.0),)),)),
    (r"\bless compress", (Edit("compressor", "ratio", -3.0, remove_at=1.0),)),
    (r"\bmore compress|\bcompress (it )?more\b", (Edit("compressor", "ratio", 3.0, also=(("threshold_db", -5.0),)),)),
    (r"\bless (distortion|drive|grit)\b|\bcleaner\b", (Edit("distortion", "drive_db", -4.0, remove_at=0.0),)),
    (r"\bmore (distortion|drive|grit)\b|\bdirtier\b", (Edit("distortion", "drive_db", 4.0),)),
    (r"\blouder\b", (Edit("gain", "gain_db", 3.0),)),
    (r"\bquieter\b|\bsofter\b", (Edit("gain", "gain_db", -3.0),)),
    (r"\bpan (it )?left\b|\bmore left\b", (Edit("panner", "pan", -0.3),)),
    (r"\bpan (it )?right\b|\bmore right\b", (Edit("panner", "pan", 0.3),)),
)

#: Settings of a module added by an edit (neutral, so only the edit itself is heard).
_ADDED = {
    "reverb": {"mix_ratio": 0.0},
    "delay": {"mix_ratio": 0.0, "delay_seconds": 0.25, "feedback": 0.2},
    "equalizer": {},
    "stereo_widener": {"width": 1.0},
    "compressor": {"threshold_db": -20.0, "ratio": 1.0, "attack_ms": 20.0, "release_ms": 200.0},
    "distortion": {"drive_db": 0.0},
    "gain": {"gain_db": 0.0},
    "panner": {"pan": 0.0},
}
#: Where an added module goes: at the start (tone, dynamics) or at the end (image, space).
_ADD_AT_START = ("equalizer", "compressor", "distortion")


def _set(chain: Chain, name: str, params: dict[str, float]) -> Chain:
    calls = tuple(tool_call(c.name, {**c.params, **params}) if c.name == name else c for c in chain)
    return Chain(calls, chain.repairs)


def apply_edit(chain: Chain, edit: Edit) -> tuple[Chain, str]:
    """Apply one :class:`Edit`; returns the new chain and a sentence saying what changed."""
    spec = module_spec(edit.module)
    p = spec.param(edit.param)
    added = ""
    if edit.module not in chain:
        if edit.delta < 0 and edit.remove_at is not None:
            return chain, f"there is no {edit.module} to reduce; chain unchanged"
        call = tool_call(edit.module, _ADDED[edit.module])
        calls = (call,) + chain.calls if edit.module in _ADD_AT_START else chain.calls + (call,)
        chain = Chain(calls, chain.repairs)
        added = f"added {edit.module}; "
    old = chain[edit.module][edit.param]
    new = min(max(old + edit.delta, p.lowest_valid), p.maximum)
    if edit.remove_at is not None and new <= edit.remove_at + 1e-9:
        return chain.without(edit.module), f"{edit.module}.{edit.param} {old:g} -> {new:g}: {edit.module} removed"
    updates = {edit.param: new}
    for name, floor in edit.at_least:
        updates[name] = max(chain[edit.module][name], floor)
    for name, delta in edit.also:
        q = spec.param(name)
        updates[name] = min(max(chain[edit.module][name] + delta, q.lowest_valid), q.maximum)
    chain = _set(chain, edit.module, updates)
    changes = f"{edit.module}.{edit.param} {old:g} -> {new:g}"
    extra = ", ".join(f"{k} {v:g}" for k, v in updates.items() if k != edit.param)
    return chain, added + changes + (f" ({extra})" if extra else "")


def apply_instruction(chain: Chain, instruction: str) -> tuple[Chain, list[str]]:
    """Apply every edit whose phrase occurs in ``instruction`` (see :data:`EDITS`).

    Returns the edited chain and one note per change (or a note that nothing matched).

    Raises
    ------
    ParameterError
        If ``instruction`` is not a string.

    Examples
    --------
    >>> chain, notes = apply_instruction(Chain((tool_call("reverb", {"mix_ratio": 0.5}),)), "less reverb")
    >>> round(chain["reverb"]["mix_ratio"], 2)
    0.35
    """
    if not isinstance(instruction, str):
        raise ParameterError(f"instruction must be a string, got {type(instruction).__name__}")
    notes = []
    text = instruction.lower()
    for pattern, edits in EDITS:
        if re.search(pattern, text):
            for edit in edits:
                chain, note = apply_edit(chain, edit)
                notes.append(f"Instruction {instruction!r}: {note}.")
    if not notes:
        notes.append(f"Instruction {instruction!r}: no known edit matched (see llm2fx_lab.planners.edits.EDITS); "
                     "chain unchanged.")
    return chain, notes
