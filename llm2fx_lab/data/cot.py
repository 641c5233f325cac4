"""Grounded chain-of-thought: module selection -> order -> parameters, from measured Evidence.

Every sentence that says what can be heard is a :class:`Claim` built from the
:class:`~llm2fx_lab.analysis.Evidence` measured on the very pair (dry or pseudo-dry vs
reference): it names an Evidence field, the direction Evidence confirms
(``Evidence.direction(field)``) and the measured value, which the text quotes. A module of
the hidden chain whose effect Evidence does not confirm is still chosen (it is the target),
but the text says its effect is not clearly measurable instead of inventing a cue.

Wording is drawn from many templates with the example's own generator; the opening line is
picked from disjoint halves for even and odd example indices, so adjacent examples never
open alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.fx.spec import TOOLSET


@dataclass(frozen=True)
class Claim:
    """One grounded statement: Evidence ``field`` moved in ``direction`` by ``value``."""

    field: str
    direction: int
    value: float
    text: str
    module: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "direction": self.direction, "value": self.value,
                "text": self.text, "module": self.module}


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


# --- claim sentences per Evidence field ------------------------------------------------------

def _band_text(where: str) -> Callable[[float, str, np.random.Generator], str]:
    def text(v: float, ref: str, rng: np.random.Generator) -> str:
        up = v > 0
        return _pick(rng, [
            f"{ref} is {abs(v):.1f} dB {'louder' if up else 'quieter'} {where}",
            f"{where} {ref} carries {abs(v):.1f} dB {'more' if up else 'less'} energy",
            f"I measure {abs(v):.1f} dB {'more' if up else 'less'} level {where} in {ref}",
            f"the band {where} is {'up' if up else 'down'} {abs(v):.1f} dB in {ref}",
        ])
    return text


def _loudness_text(v: float, ref: str, rng) -> str:
    return _pick(rng, [f"{ref} is {abs(v):.1f} LU {'louder' if v > 0 else 'quieter'} overall",
                       f"the integrated loudness {'rises' if v > 0 else 'drops'} by {abs(v):.1f} LU",
                       f"overall level is {abs(v):.1f} LU {'higher' if v > 0 else 'lower'} in {ref}"])


def _crest_text(v: float, ref: str, rng) -> str:
    return _pick(rng, [f"the peaks of {ref} stand {abs(v):.1f} dB {'further from' if v > 0 else 'closer to'} the average level",
                       f"the crest factor {'grows' if v > 0 else 'shrinks'} by {abs(v):.1f} dB",
                       f"{ref} is {abs(v):.1f} dB {'less' if v > 0 else 'more'} squashed (crest factor)"])


def _lra_text(v: float, ref: str, rng) -> str:
    return _pick(rng, [f"the loudness range {'widens' if v > 0 else 'narrows'} by {abs(v):.1f} LU",
                       f"{ref} has {abs(v):.1f} LU {'more' if v > 0 else 'less'} loudness range"])


def _side_text(v: float, ref: str, rng) -> str:
    return _pick(rng, [f"the side signal is {abs(v):.1f} dB {'stronger' if v > 0 else 'weaker'} relative to the mid",
                       f"{ref} is {'wider' if v > 0 else 'narrower'}: side-to-mid ratio {'+' if v > 0 else '-'}{abs(v):.1f} dB",
                       f"the stereo image {'opens up' if v > 0 else 'collapses'} by {abs(v):.1f} dB of side energy"])


def _pan_text(v: float, ref: str, rng) -> str:
    side = "right" if v > 0 else "left"
    return _pick(rng, [f"the balance shifts {abs(v):.2f} towards the {side}",
                       f"{ref} leans {side} by {abs(v):.2f} on the pan scale",
                       f"the image moves {abs(v):.2f} to the {side}"])


def _decay_text(v: float, ref: str, rng) -> str:
    return _pick(rng, [f"sounds ring {abs(v):.2f} s {'longer' if v > 0 else 'shorter'} before they die away",
                       f"the decay time is {abs(v):.2f} s {'longer' if v > 0 else 'shorter'} in {ref}",
                       f"tails last {abs(v):.2f} s {'longer' if v > 0 else 'less'}"])


def _harm_text(v: float, ref: str, rng) -> str:
    pct = 10 ** (v / 10) * 100
    return _pick(rng, [f"{pct:.1f} % of the energy of {ref} sits where the dry signal had none, i.e. new harmonics",
                       f"new harmonic content appears ({pct:.1f} % of the energy)",
                       f"{ref} gains harmonics that were not there before ({pct:.1f} % of its energy)"])


def _echo_text(v: float, ref: str, rng) -> str:
    ms = 1000 * v
    return _pick(rng, [f"a distinct echo arrives {ms:.0f} ms after each sound",
                       f"I can hear a repeat at about {ms:.0f} ms",
                       f"{ref} has an echo {ms:.0f} ms behind the direct sound"])


CLAIM_TEXT: dict[str, Callable[[float, str, Any], str]] = {
    "loudness_change_lu": _loudness_text,
    "low_band_gain_db": _band_text("below 250 Hz"),
    "mid_band_gain_db": _band_text("between 250 Hz and 4 kHz"),
    "high_band_gain_db": _band_text("above 4 kHz"),
    "crest_factor_change_db": _crest_text,
    "loudness_range_change_lu": _lra_text,
    "side_to_mid_change_db": _side_text,
    "pan_change": _pan_text,
    "decay_change_seconds": _decay_text,
    "added_harmonics_db": _harm_text,
    "echo_detected": _echo_text,
}


def _sign(x: float) -> int:
    return 1 if x > 0 else -1 if x < 0 else 0


def module_cues(call) -> list[tuple[str, int]]:
    """Evidence fields (and the direction) that would show ``call``'s effect."""
    p = call.params
    name = call.name
    if name == "gain":
        return [("loudness_change_lu", _sign(p["gain_db"]))]
    if name == "equalizer":
        return [(f"{b}_band_gain_db", _sign(p[f"{b}_gain_db"])) for b in ("high", "low", "mid")]
    if name == "compressor":
        return [("crest_factor_change_db", -1), ("loudness_range_change_lu", -1)]
    if name == "limiter":
        return [("crest_factor_change_db", -1), ("loudness_change_lu", 1)]
    if name == "distortion":
        return [("added_harmonics_db", 1), ("crest_factor_change_db", -1)]
    if name == "reverb":
        return [("decay_change_seconds", 1)]
    if name == "delay":
        return [("echo_detected", 1), ("decay_change_seconds", 1)]
    if name == "stereo_widener":
        return [("side_to_mid_change_db", _sign(p["width"] - 1.0))]
    if name == "panner":
        return [("pan_change", _sign(p["pan"]))]
    return []


def evidence_value(evidence, field: str) -> float:
    return float(evidence.echo_delay_seconds if field == "echo_detected" else getattr(evidence, field))


def claims_for(call, evidence, ref: str, rng: np.random.Generator, limit: int = 2) -> list[Claim]:
    """Claims Evidence confirms for one module (at most ``limit``)."""
    out = []
    for field, want in module_cues(call):
        if want == 0 or evidence.direction(field) != want:
            continue
        value = evidence_value(evidence, field)
        out.append(Claim(field, want, value, CLAIM_TEXT[field](value, ref, rng), call.name))
        if len(out) == limit:
            break
    return out


# --- the three steps ------------------------------------------------------------------------

OPENERS = [
    # even example indices
    ["Let me compare {pair} and work out the chain.", "I'll listen for what changed between {pair}.",
     "First, what differs between {pair}?", "Comparing {pair} step by step.",
     "Let me work through the differences between {pair}."],
    # odd example indices
    ["Time to reverse-engineer the processing from {pair}.", "Listening closely to {pair} first.",
     "I'll break the comparison of {pair} into selection, order and parameters.",
     "Here is what stands out when I compare {pair}.", "Starting from the measurable differences in {pair}."],
]
SELECTION_HEADS = ["Module selection:", "Step 1, selection:", "Which modules?", "Selection."]
ORDER_HEADS = ["Order:", "Step 2, order:", "In which order?", "Ordering."]
PARAM_HEADS = ["Parameters:", "Step 3, parameters:", "Settings:", "Parameter estimates."]
NICE = {"equalizer": "an equalizer", "compressor": "a compressor", "stereo_widener": "a stereo widener",
        "gain": "a gain stage", "panner": "a panner", "distortion": "distortion", "reverb": "a reverb",
        "delay": "a delay", "limiter": "a limiter"}
SHORT = {"equalizer": "EQ", "compressor": "compressor", "stereo_widener": "widener", "gain": "gain",
         "panner": "panner", "distortion": "distortion", "reverb": "reverb", "delay": "delay", "limiter": "limiter"}
LINEAR = {"gain", "equalizer", "delay"}
SPACE = {"reverb", "delay"}
DYNAMICS = {"compressor", "limiter"}


def _because(rng, module: str, claim_texts: list[str]) -> str:
    joined = " and ".join(claim_texts)
    return _pick(rng, [f"{joined}, so I need {NICE[module]}",
                       f"{joined}: that points to {NICE[module]}",
                       f"since {joined}, {NICE[module]} belongs in the chain",
                       f"{NICE[module]} explains why {joined}"])


def _unclear(rng, module: str) -> str:
    return _pick(rng, [f"{NICE[module]} is part of the chain too, though its effect is too subtle to measure on its own here",
                       f"I also include {NICE[module]}; the measurements do not single out its effect",
                       f"{NICE[module]} is there as well, with no clear measurable trace by itself"])


def _pair_remark(rng, a: str, b: str) -> str | None:
    if a == "distortion" and b in SPACE:
        return f"distortion comes before the {b}, so the {'tail' if b == 'reverb' else 'echoes'} stay clean"
    if a in SPACE and b == "distortion":
        return f"the {a} feeds the distortion, so its {'tail' if a == 'reverb' else 'repeats'} get saturated as well"
    if a in SPACE and b in DYNAMICS:
        return f"the {b} after the {a} also squeezes the {'reverb tail' if a == 'reverb' else 'echoes'}"
    if a in DYNAMICS and b in SPACE:
        return f"dynamics are controlled by the {a} before the {b} adds space"
    if a == "equalizer" and b in ("distortion", "compressor"):
        return f"the EQ shapes what drives the {b}"
    if a == "distortion" and b == "equalizer":
        return "the EQ after the distortion shapes the new harmonics"
    if a == "gain" and b in ("distortion", "compressor", "limiter"):
        return f"the gain sets how hard the {b} is driven"
    if a in ("panner", "stereo_widener") and b == "reverb":
        return "the reverb comes after the stereo placement, so its tail has its own width"
    if a in LINEAR and b in LINEAR:
        return _pick(rng, [f"{SHORT[a]} and {SHORT[b]} are both linear, so their relative order barely matters",
                           f"swapping {SHORT[a]} and {SHORT[b]} would sound the same (both linear)"])
    return None


def _param_text(call, rng) -> str:
    spec = TOOLSET[call.name]
    p = call.params
    if call.name == "equalizer":
        bands = []
        for band, kind in (("low", "low shelf"), ("mid", "bell"), ("high", "high shelf")):
            q = spec.param(f"{band}_q_factor").format_value(p[f"{band}_q_factor"])
            bands.append(f"{kind} {p[f'{band}_gain_db']:+g} dB at {p[f'{band}_cutoff_freq']:g} Hz (Q {q})")
        return "EQ: " + ", ".join(bands)
    settings = ", ".join(f"{q.label} {q.format_value(p[q.name])}" for q in spec.params)
    return _pick(rng, [f"{SHORT[call.name]}: {settings}", f"for the {SHORT[call.name]}, {settings}",
                       f"{SHORT[call.name]} at {settings}"])


@dataclass(frozen=True)
class Reasoning:
    """A generated chain of thought with the claims it makes."""

    text: str
    claims: tuple[Claim, ...]
    steps: tuple[tuple[str, str], ...]


def chain_of_thought(chain: Chain, evidence, rng: np.random.Generator, index: int = 0,
                     blind: bool = False) -> Reasoning:
    """Write the three-step reasoning for ``chain`` grounded in ``evidence``.

    Parameters
    ----------
    chain : Chain
        The target chain (its modules, order and settings are what the reasoning arrives at).
    evidence : Evidence
        ``compare(dry, reference)`` (or ``compare(pseudo_dry, reference)`` when ``blind``).
    rng : numpy.random.Generator
        Draws the wording.
    index : int
        The example's index; its parity picks the half of the opening lines.
    blind : bool
        No dry clip: the comparison is against the Fx-normalised reference.
    """
    ref = _pick(rng, ["the reference", "the processed clip", "the target"])
    pair = ("the reference and its Fx-normalised (pseudo-dry) version" if blind
            else _pick(rng, ["the dry and the reference", "the dry clip and the target", "the two clips"]))
    opener = _pick(rng, OPENERS[index % 2]).format(pair=pair)
    if blind:
        opener += " There is no dry clip, so I compare the reference with its normalised baseline."

    claims: list[Claim] = []
    sel_parts = []
    for call in chain:
        cl = claims_for(call, evidence, ref, rng)
        claims.extend(cl)
        sel_parts.append(_because(rng, call.name, [c.text for c in cl]) if cl else _unclear(rng, call.name))
    if not evidence.notable and len(chain):
        sel_parts.insert(0, "the measured differences are small overall")
    names = [SHORT[c.name] for c in chain]
    summary = _pick(rng, [f"That gives {len(chain)} module{'s' if len(chain) != 1 else ''}: {', '.join(names)}.",
                          f"So the chain uses {', '.join(names)}.",
                          f"Selected: {', '.join(names)}."])
    selection = f"{_pick(rng, SELECTION_HEADS)} " + "; ".join(s[0].upper() + s[1:] if i == 0 else s
                                                              for i, s in enumerate(sel_parts)) + f". {summary}"

    arrow = _pick(rng, [" -> ", " → ", ", then "])
    order_bits = [_pick(rng, [f"The signal flows {arrow.strip() and arrow.join(names)}.",
                              f"I chain them as {arrow.join(names)}."])]
    for a, b in zip(chain.names, chain.names[1:]):
        remark = _pair_remark(rng, a, b)
        if remark:
            order_bits.append(remark[0].upper() + remark[1:] + ".")
    if len(chain) == 1:
        order_bits = [f"With a single module ({names[0]}) the order is trivial."]
    elif chain.names[-1] == "limiter":
        order_bits.append("The limiter sits last and catches the final peaks.")
    order = f"{_pick(rng, ORDER_HEADS)} " + " ".join(order_bits)

    param_bits = []
    for call in chain:
        text = _param_text(call, rng)
        cited = [c for c in claims if c.module == call.name]
        if cited and rng.random() < 0.7:
            c = cited[0]
            extra = Claim(c.field, c.direction, c.value, CLAIM_TEXT[c.field](c.value, ref, rng), call.name)
            claims.append(extra)
            text += f" ({_pick(rng, ['since', 'because', 'as'])} {extra.text})"
        param_bits.append(text)
    parameters = f"{_pick(rng, PARAM_HEADS)} " + "; ".join(param_bits) + "."
    text = "\n\n".join([opener, selection, order, parameters])
    return Reasoning(text, tuple(claims), (("selection", selection), ("order", order), ("parameters", parameters)))


def response_text(chain: Chain, rng: np.random.Generator) -> str:
    """A short natural-language reply that follows the tool calls."""
    names = [SHORT[c.name] for c in chain]
    flow = " -> ".join(names)
    return _pick(rng, [f"Here is a {len(chain)}-module chain: {flow}.",
                       f"Done: {flow}. Render it on the dry clip to compare with the reference.",
                       f"I applied {flow}; these settings should get the dry track close to the reference.",
                       f"The estimated chain is {flow}.",
                       f"Try {flow} with the settings above."])
