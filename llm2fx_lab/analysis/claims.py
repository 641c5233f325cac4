"""Check the quantitative claims in a planner's reasoning against measured :class:`Evidence`.

:func:`check_claims` finds claims with a regular-expression pass over the text ("the high
band is 5.8 dB louder", "echo at 350 ms", "pan -0.5", "wider", "decaying 60 dB in about
2.1 s") and marks each one:

``confirmed``
    the sign agrees with the Evidence and the value is within the tolerance below;
``contradicted``
    the sign disagrees, or the value is off by more than the tolerance;
``unverifiable``
    the Evidence does not measure it (a gain at one frequency, a value it could not
    measure, an echo outside its 40 ms - 1 s search range).

Tolerances (:data:`TOLERANCES`): a level in dB or LU is confirmed within
``max(2 dB, 35 %)`` of the measured change; a pan within 0.15; an echo delay within
``max(20 ms, 10 %)``; a decay time within a factor of 1.5; a harmonics share within a
factor of 3. A claim of direction only ("louder", "wider") is confirmed when the
measured change has the same sign and is notable (:meth:`Evidence.direction`), contradicted
when it is notable the other way, and unverifiable when no notable change was measured
("brighter"/"darker" compare the high band with the mid band).

Two families of patterns: numbers (the sentences of :class:`Evidence`, the
:class:`~llm2fx_lab.planners.analysis_planner.AnalysisPlanner` and the training data's
reasoning) and free prose, as a chat LLM writes it: a module said to be present or absent
("there is a reverb", "no compression"), louder or quieter, brighter or darker, wider or
narrower, a longer or shorter decay, more or less compressed, panned left or right. A module
claim is checked against what that module leaves in the Evidence (:data:`MODULE_TRACES`: a reverb
lengthens the decay (unless an echo does), a delay makes an echo, a distortion adds harmonics, a compressor or limiter
lowers the crest factor, an equalizer tilts the bands, a panner moves the balance, a widener
changes the side energy): present is confirmed by that trace, absent by its lack, and a gain,
which leaves no trace of its own, is unverifiable. A claim the patterns miss is not checked; no
claim is invented. :func:`coverage` says how many of the claims found could be checked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, Sequence

Verdict = Literal["confirmed", "contradicted", "unverifiable"]

#: Tolerances used by :func:`check_claims` (see the module docstring).
TOLERANCES = {
    "level_db": 2.0, "level_relative": 0.35, "pan": 0.15, "echo_seconds": 0.02,
    "echo_relative": 0.10, "decay_factor": 1.5, "harmonics_factor": 3.0,
    "decay_change_seconds": 0.15, "decay_change_relative": 0.35,
}

_NUM = r"[-+\u2212]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"

#: What each module leaves in the Evidence: (field, sign of the change it makes). The equalizer's
#: trace is the largest band change against the mid band; a gain has none of its own.
MODULE_TRACES = {
    "reverb": ("decay_change_seconds", 1), "delay": ("echo_detected", 1), "distortion": ("added_harmonics_db", 1),
    "compressor": ("crest_factor_change_db", -1), "limiter": ("crest_factor_change_db", -1),
    "equalizer": ("band_tilt_db", 0), "panner": ("pan_change", 0), "stereo_widener": ("side_to_mid_change_db", 0),
    "gain": ("", 0),
}
#: How prose names each module.
_MODULE_WORDS = {
    "reverb": r"reverb\w*|reverberation", "delay": r"delay|echo(?:es)?", "distortion": r"distortion|saturation|overdrive",
    "compressor": r"compressor|compression", "limiter": r"limiter|limiting", "equalizer": r"equali[sz]er|equali[sz]ation|eq",
    "panner": r"panner|panning", "stereo_widener": r"(?:stereo )?widener|widening", "gain": r"gain stage|gain",
}
_MODULE_OF_WORD = [(re.compile(rf"^(?:{w})$", re.I), m) for m, w in _MODULE_WORDS.items()]
_ANY_MODULE = "|".join(_MODULE_WORDS.values())
_BAND = {"low": "low_band_gain_db", "mid": "mid_band_gain_db", "high": "high_band_gain_db"}


@dataclass(frozen=True)
class ClaimCheck:
    """One claim found in the reasoning and what the Evidence says about it.

    ``start``/``end`` are character offsets of ``text`` in the reasoning; ``claimed`` and
    ``measured`` are in the unit of ``field`` (NaN for claims of direction only).
    """

    text: str
    field: str
    claimed: float
    measured: float
    verdict: Verdict
    reason: str
    start: int
    end: int


def _num(s: str) -> float:
    return float(s.replace("\u2212", "-"))


def _level(claimed: float, measured: float) -> tuple[Verdict, str]:
    if not math.isfinite(measured):
        return "unverifiable", "not measured"
    tol = max(TOLERANCES["level_db"], TOLERANCES["level_relative"] * abs(measured))
    if abs(claimed - measured) <= tol:
        return "confirmed", f"measured {measured:+.1f} dB, within {tol:.1f} dB"
    return "contradicted", f"measured {measured:+.1f} dB, off by {abs(claimed - measured):.1f} dB (> {tol:.1f})"


def _direction(sign: int, evidence, field: str) -> tuple[Verdict, str]:
    d = evidence.direction(field)
    measured = getattr(evidence, field)
    if d == 0:
        return "unverifiable", f"no notable change measured ({measured:+.2f})"
    return ("confirmed" if d == sign else "contradicted"), f"measured {measured:+.2f}"


def _ratio(claimed: float, measured: float, factor: float, unit: str) -> tuple[Verdict, str]:
    if not (math.isfinite(measured) and measured > 0 and claimed > 0):
        return "unverifiable", "not measured"
    ok = 1 / factor <= claimed / measured <= factor
    return ("confirmed" if ok else "contradicted"), f"measured {measured:.3g} {unit} (factor {factor:g} allowed)"


def _decay_change(claimed: float, measured: float) -> tuple[Verdict, str]:
    if not math.isfinite(measured):
        return "unverifiable", "not measured"
    tol = max(TOLERANCES["decay_change_seconds"], TOLERANCES["decay_change_relative"] * abs(measured))
    ok = abs(claimed - measured) <= tol
    return ("confirmed" if ok else "contradicted"), f"measured {measured:+.2f} s (+-{tol:.2f} s)"


def _echo(seconds: float, evidence) -> tuple[Verdict, str]:
    if not 0.04 <= seconds <= 1.0:
        return "unverifiable", "outside the 40 ms - 1 s echo search"
    if not evidence.echo_detected:
        return "contradicted", "no echo was found between 40 ms and 1 s"
    measured = evidence.echo_delay_seconds
    tol = max(TOLERANCES["echo_seconds"], TOLERANCES["echo_relative"] * measured)
    return ("confirmed" if abs(seconds - measured) <= tol else "contradicted",
            f"measured {1000 * measured:.0f} ms (+-{1000 * tol:.0f} ms)")


def _harmonics(percent: float, evidence) -> tuple[Verdict, str]:
    measured = 100 * 10 ** (evidence.added_harmonics_db / 10)
    if percent < 0.1 and measured < 0.1:
        return "confirmed", f"measured {measured:.2g} % (both negligible)"
    return _ratio(percent, measured, TOLERANCES["harmonics_factor"], "%")


#: Where the bands are, as the training data's reasoning names them.
_WHERE = {"below 250 hz": "low_band_gain_db", "between 250 hz and 4 khz": "mid_band_gain_db",
          "above 4 khz": "high_band_gain_db"}
_WHERE_RE = r"(?P<where>below 250 Hz|between 250 Hz and 4 kHz|above 4 kHz)"
_UP_WORDS = {"louder", "higher", "more", "up", "rises", "grows", "widens", "stronger", "opens up", "further from",
             "longer", "less squashed", "right", "wider"}

#: The changes the grounded chain-of-thought states (llm2fx_lab/data/cot.py's sentences), as
#: (pattern with groups v (the number) and d (the direction word), field, how it is checked).
_CHANGE_SENTENCES: tuple[tuple[str, str, str], ...] = (
    (rf"\b(?P<v>{_NUM})\s*dB\s+(?P<d>louder|quieter|more|less)\b(?:\s+(?:level|energy))?\s+{_WHERE_RE}", "band", "level"),
    (rf"{_WHERE_RE}\s+is\s+(?P<d>up|down)\s+(?P<v>{_NUM})\s*dB", "band", "level"),
    (rf"{_WHERE_RE}[^.;\n]{{0,30}}?\bcarries\s+(?P<v>{_NUM})\s*dB\s+(?P<d>more|less)\s+energy", "band", "level"),
    (rf"\boverall level is\s+(?P<v>{_NUM})\s*(?:LU|dB)\s+(?P<d>higher|lower)", "loudness_change_lu", "level"),
    (rf"\bintegrated loudness\s+(?P<d>rises|drops)\s+by\s+(?P<v>{_NUM})\s*(?:LU|dB)", "loudness_change_lu", "level"),
    (rf"\bcrest factor\s+(?P<d>grows|shrinks)\s+by\s+(?P<v>{_NUM})\s*dB", "crest_factor_change_db", "level"),
    (rf"\b(?P<v>{_NUM})\s*dB\s+(?P<d>less squashed|more squashed)", "crest_factor_change_db", "level"),
    (rf"\bpeaks\b[^.;\n]{{0,40}}?\bstand\s+(?P<v>{_NUM})\s*dB\s+(?P<d>further from|closer to)",
     "crest_factor_change_db", "level"),
    (rf"\bloudness range\s+(?P<d>widens|narrows)\s+by\s+(?P<v>{_NUM})\s*LU", "loudness_range_change_lu", "level"),
    (rf"\b(?P<v>{_NUM})\s*LU\s+(?P<d>more|less)\s+loudness range", "loudness_range_change_lu", "level"),
    (rf"\bside signal is\s+(?P<v>{_NUM})\s*dB\s+(?P<d>stronger|weaker)", "side_to_mid_change_db", "level"),
    (rf"\bstereo image\s+(?P<d>opens up|collapses)\s+by\s+(?P<v>{_NUM})\s*dB", "side_to_mid_change_db", "level"),
    (rf"\b(?P<d>wider|narrower):\s*side-to-mid ratio\s+(?P<v>{_NUM})\s*dB", "side_to_mid_change_db", "level"),
    (rf"\bimage moves\s+(?P<v>{_NUM})\s+to the\s+(?P<d>left|right)", "pan_change", "pan"),
    (rf"\bleans\s+(?P<d>left|right)\s+by\s+(?P<v>{_NUM})", "pan_change", "pan"),
    (rf"\bbalance shifts\s+(?P<v>{_NUM})\s+towards the\s+(?P<d>left|right)", "pan_change", "pan"),
    (rf"\b(?:tails last|decay time is|sounds ring)\s+(?P<v>{_NUM})\s*s\s+(?P<d>longer|shorter|less)",
     "decay_change_seconds", "decay"),
    (rf"\b(?:echo arrives|repeat at about|an echo)\s+(?P<v>{_NUM})\s*ms\b(?!\s*(?:and|to)\b)",
     "echo_delay_seconds", "echo"),
    (rf"\bharmonic[^.;\n]{{0,60}}?\((?P<v>{_NUM})\s*%", "added_harmonics_db", "harmonics"),
    (rf"\b(?P<v>{_NUM})\s*% of the energy\b[^;\n]{{0,80}}?\bnew harmonics", "added_harmonics_db", "harmonics"),
)


def _change_sentences(text: str, evidence, add) -> None:
    """The changes the training data's reasoning states, each with its own wording (read
    before the general patterns, which would misread some: "the reference is 4.9 dB quieter
    below 250 Hz" is a band, not the overall level)."""
    for pattern, field, kind in _CHANGE_SENTENCES:
        for m in re.finditer(pattern, text, re.I):
            value = abs(_num(m.group("v")))
            if kind == "echo":
                add(m, field, value / 1000, _echo(value / 1000, evidence))
                continue
            if kind == "harmonics":
                add(m, field, value, _harmonics(value, evidence))
                continue
            value *= 1 if m.group("d").lower() in _UP_WORDS else -1
            name = _WHERE[m.group("where").lower()] if field == "band" else field
            measured = getattr(evidence, name)
            verdict = (_pan(value, evidence) if kind == "pan" else _decay_change(value, measured) if kind == "decay"
                       else _level(value, measured))
            add(m, name, value, verdict)


def _claims(text: str, evidence) -> list[ClaimCheck]:
    out: list[ClaimCheck] = []
    taken: list[tuple[int, int]] = []

    def add(m: re.Match, field: str, claimed: float, verdict_reason: tuple[Verdict, str], group: int | str = 0) -> None:
        s, e = m.span(group)
        if any(s < b and a < e for a, b in taken):
            return
        taken.append((s, e))
        measured = getattr(evidence, field, float("nan")) if hasattr(evidence, field) else float("nan")
        out.append(ClaimCheck(m.group(group), field, claimed, float(measured), *verdict_reason, s, e))

    _change_sentences(text, evidence, add)
    # Band levels: "the high band (above 4 kHz) is 5.8 dB louder", "low band ... +3 dB".
    for m in re.finditer(rf"\b(low|mid|high)[- ]band\b[^.;\n]{{0,40}}?({_NUM})\s*dB(?:\s+(louder|quieter))?",
                         text, re.I):
        value = _num(m.group(2))
        if m.group(3):
            value = abs(value) * (1 if m.group(3).lower() == "louder" else -1)
        field = _BAND[m.group(1).lower()]
        add(m, field, value, _level(value, getattr(evidence, field)))
    # Overall level: "5.3 LU quieter", "3 dB louder".
    for m in re.finditer(rf"({_NUM})\s*(dB|LU)\s+(louder|quieter)", text, re.I):
        value = abs(_num(m.group(1))) * (1 if m.group(3).lower() == "louder" else -1)
        add(m, "loudness_change_lu", value, _level(value, evidence.loudness_change_lu))
    # A gain at one frequency: Evidence only has three bands.
    for m in re.finditer(rf"({_NUM})\s*dB\s+(?:at|around)\s+{_NUM}\s*k?Hz", text, re.I):
        add(m, "", _num(m.group(1)), ("unverifiable", "Evidence measures three bands, not single frequencies"))
    # Crest factor: "the crest factor changes by +2.2 dB".
    for m in re.finditer(rf"crest factor[^.;\n]{{0,30}}?({_NUM})\s*dB", text, re.I):
        value = _num(m.group(1))
        add(m, "crest_factor_change_db", value, _level(value, evidence.crest_factor_change_db))
    # Echo: "echo at 350 ms", "an echo follows the sound after 0.35 s".
    for m in re.finditer(rf"\becho(?:es)?\b[^.;\n]{{0,30}}?\b(?:at|after|of)\s+({_NUM})\s*(ms|s)\b", text, re.I):
        seconds = _num(m.group(1)) / (1000 if m.group(2).lower() == "ms" else 1)
        add(m, "echo_delay_seconds", seconds, _echo(seconds, evidence))
    # Pan: "pan position -0.02 -> -0.52" (a change) or "pan -0.5" (a position, dry taken as centred).
    for m in re.finditer(rf"\bpan(?: position)?\s+({_NUM})\s*->\s*({_NUM})", text, re.I):
        value = _num(m.group(2)) - _num(m.group(1))
        add(m, "pan_change", value, _pan(value, evidence))
    for m in re.finditer(rf"\bpan\s*[:=]?\s*({_NUM})(?!\s*->)", text, re.I):
        value = _num(m.group(1))
        add(m, "pan_change", value, _pan(value, evidence))
    for m in re.finditer(r"\b(?:moves|pann?ed|panning)\s+(?:to the\s+)?(left|right)\b", text, re.I):
        sign = 1 if m.group(1).lower() == "right" else -1
        add(m, "pan_change", float("nan"), _direction(sign * _of_dry(text, m.start()), evidence, "pan_change"))
    # Width: "wider", "narrower".
    for m in re.finditer(r"\b(wider|narrower)\b", text, re.I):
        sign = 1 if m.group(1).lower() == "wider" else -1
        add(m, "side_to_mid_change_db", float("nan"), _direction(sign * _of_dry(text, m.start()), evidence, "side_to_mid_change_db"))
    # Brightness: "brighter", "darker": the high band against the mid band (a level change alone
    # makes nothing brighter); notable from 1.5 dB as the band gains.
    tilt = evidence.high_band_gain_db - evidence.mid_band_gain_db
    for m in re.finditer(r"\b(brighter|darker|duller)\b", text, re.I):
        sign = (1 if m.group(1).lower() == "brighter" else -1) * _of_dry(text, m.start())
        if not math.isfinite(tilt) or abs(tilt) < 1.5:
            verdict: tuple[Verdict, str] = ("unverifiable", f"high minus mid band {tilt:+.1f} dB, not notable")
        else:
            verdict = ("confirmed" if math.copysign(1, tilt) == sign else "contradicted",
                       f"high minus mid band {tilt:+.1f} dB")
        add(m, "high_band_gain_db", float("nan"), verdict)
    # Decay: "decaying 60 dB in about 2.1 s", "decay ... 2.25 s".
    for m in re.finditer(rf"\bdecay\w*\b[^.;\n]{{0,40}}?({_NUM})\s*s\b(?!\s*->)", text, re.I):
        value = _num(m.group(1))
        add(m, "wet_decay_seconds", value,
            _ratio(value, evidence.wet_decay_seconds, TOLERANCES["decay_factor"], "s"))
    for m in re.finditer(r"\bdecays?\s+(more slowly|faster)\b", text, re.I):
        sign = 1 if m.group(1).lower() == "more slowly" else -1
        add(m, "decay_change_seconds", float("nan"), _direction(sign * _of_dry(text, m.start()), evidence, "decay_change_seconds"))
    _prose_claims(text, evidence, add)
    # Harmonics: "0.8 % of the ... energy is new".
    for m in re.finditer(rf"({_NUM})\s*%[^.;\n]{{0,60}}?\bnew\b", text, re.I):
        value = _num(m.group(1))
        add(m, "added_harmonics_db", value, _harmonics(value, evidence))
    return sorted(out, key=lambda c: c.start)


_DRY_WORDS = re.compile(r"\b(?:dry|original|input|source|unprocessed)\b", re.I)
_WET_WORDS = re.compile(r"\b(?:reference|processed|wet|target|output|estimate|result|mix)\b", re.I)


def _of_dry(text: str, start: int) -> int:
    """-1 where the clause before ``start`` is about the dry clip ("the dry is louder": the
    reference is quieter), else +1. Looks back to the clause's start ("and the ..." starts one),
    at most 80 characters."""
    head = re.split(r"[.;:!?\n]|\b(?:but|while|than|whereas)\b|\band (?=the|its?\b)", text[max(0, start - 80):start])[-1]
    dry = [m.start() for m in _DRY_WORDS.finditer(head)]
    wet = [m.start() for m in _WET_WORDS.finditer(head)]
    return -1 if dry and (not wet or dry[-1] > wet[-1]) else 1


def _module_of(word: str) -> str:
    return next(m for pattern, m in _MODULE_OF_WORD if pattern.match(word))


def _trace(module: str, evidence) -> tuple[int, str]:
    """(+1 the module's trace is there, -1 the opposite change is, 0 nothing notable) and why."""
    field, sign = MODULE_TRACES[module]
    if not field:
        return 0, "a gain leaves no trace of its own (other modules change the level too)"
    if module == "reverb" and evidence.echo_detected:
        return 0, "an echo lengthens the decay too, so the decay cannot tell a reverb"
    if module in ("compressor", "limiter") and evidence.direction("added_harmonics_db") > 0:
        return 0, "saturation lowers the crest factor too, so it cannot tell a compressor or limiter"
    if (module == "distortion" and evidence.direction("added_harmonics_db") <= 0
            and evidence.direction("crest_factor_change_db") < 0):
        return 0, "saturation can hide from the harmonics measure (on noise, say) and the crest factor fell"
    if field == "band_tilt_db":
        tilt = max(abs(evidence.low_band_gain_db - evidence.mid_band_gain_db),
                   abs(evidence.high_band_gain_db - evidence.mid_band_gain_db))
        return (1 if tilt >= 1.5 else 0), f"largest band change against the mid band {tilt:.1f} dB"
    d = evidence.direction(field)
    value = getattr(evidence, field)
    if sign == 0:
        return abs(d), f"{field} {float(value):+.2f}"
    return d * sign, f"{field} {float(value):+.2f}"


def _prose_claims(text: str, evidence, add) -> None:
    """The free-prose claims (see the module docstring)."""
    def module_claim(m: re.Match, present: bool) -> None:
        module = _module_of(m.group("module"))
        found, why = _trace(module, evidence)
        if MODULE_TRACES[module][0] == "" or why.startswith(("an echo", "saturation")):
            verdict: tuple[Verdict, str] = ("unverifiable", why)
        elif present:
            verdict = (("confirmed" if found > 0 else "contradicted"), why) if found else (
                "unverifiable", f"no notable trace ({why}); the module may be subtle")
        else:
            verdict = ("contradicted", f"its trace is there: {why}") if found > 0 else ("confirmed", f"no trace: {why}")
        field = MODULE_TRACES[module][0] or "gain"
        add(m, field, float("nan"), verdict, "claim")

    absent = (rf"(?P<claim>\b(?:no|without(?: an?| any)?|not an?|lacks?(?: an?| any)?|(?:is|are)n't any|"
              rf"(?:do|does|did)(?:n't| not) (?:hear|see|need|detect|find) (?:any|an?)|nor an?)\s+"
              rf"(?:audible\s+|obvious\s+|sign of\s+|evidence of\s+|clear\s+|real\s+)?(?P<module>{_ANY_MODULE})\b)")
    for m in re.finditer(absent, text, re.I):
        module_claim(m, False)
    present = (rf"(?P<claim>\b(?:there(?:'s| is| are)|(?:it |this )?(?:has|uses|needs)|add(?:s|ing)?|apply(?:ing)?|"
               rf"includes?|with)\s+(?:an?\s+|some\s+|the\s+)?(?:\w+\s+)?(?P<module>{_ANY_MODULE})\b)")
    for m in re.finditer(present, text, re.I):
        if not re.match(r"(?:no|not|without)\b", m.group("claim"), re.I):
            module_claim(m, True)
    # louder / quieter, without a number (numbers are read above)
    for m in re.finditer(r"(?P<claim>\b(louder|quieter|softer)\b)", text, re.I):
        sign = 1 if m.group(2).lower() == "louder" else -1
        add(m, "loudness_change_lu", float("nan"), _direction(sign * _of_dry(text, m.start()), evidence, "loudness_change_lu"), "claim")
    # a longer or shorter decay, more or less reverberant
    for m in re.finditer(r"(?P<claim>\b(?:longer|shorter)\s+(?:decay|tails?|release|ring(?:ing)?)\b|"
                         r"\b(?:decay|tails?|ring(?:ing)?)\s+(?:is|are|sounds?|gets?)\s+(?:much\s+|a bit\s+|slightly\s+|"
                         r"clearly\s+)?(?:longer|shorter)\b|\bmore reverberant\b|\bdrier\b)", text, re.I):
        word = m.group("claim").lower()
        sign = -1 if "shorter" in word or word == "drier" else 1
        add(m, "decay_change_seconds", float("nan"), _direction(sign * _of_dry(text, m.start()), evidence, "decay_change_seconds"), "claim")
    # more or less compressed
    for m in re.finditer(r"(?P<claim>\b(?:more compressed|squashed|less dynamic|smaller crest factor|"
                         r"more dynamic|less compressed)\b)", text, re.I):
        sign = 1 if m.group("claim").lower() in ("more dynamic", "less compressed") else -1
        add(m, "crest_factor_change_db", float("nan"), _direction(sign * _of_dry(text, m.start()), evidence, "crest_factor_change_db"), "claim")


def coverage(checks: Sequence[ClaimCheck]) -> tuple[int, int]:
    """``(checked, found)``: how many of the claims found the Evidence could check (confirmed or
    contradicted), and how many were found."""
    return sum(c.verdict != "unverifiable" for c in checks), len(checks)


def _pan(value: float, evidence) -> tuple[Verdict, str]:
    measured = evidence.pan_change
    if not math.isfinite(measured):
        return "unverifiable", "not measured"
    ok = abs(value - measured) <= TOLERANCES["pan"]
    return ("confirmed" if ok else "contradicted"), f"measured {measured:+.2f} (+-{TOLERANCES['pan']})"


def check_claims(reasoning: str, evidence) -> list[ClaimCheck]:
    """Find the quantitative claims in ``reasoning`` and check each against ``evidence``.

    Parameters
    ----------
    reasoning : str
        A planner's chain-of-thought (any text).
    evidence : Evidence
        From :func:`llm2fx_lab.analysis.compare` of the same dry clip and reference.

    Returns
    -------
    list of ClaimCheck
        In order of appearance; overlapping matches are kept once (the first pattern wins).

    Raises
    ------
    TypeError
        If ``reasoning`` is not a string.

    Examples
    --------
    >>> import numpy as np
    >>> from llm2fx_lab.analysis import compare
    >>> x = np.random.default_rng(0).standard_normal((2, 44100)).astype(np.float32) * 0.1
    >>> [c.verdict for c in check_claims("it is 6 dB quieter", compare(x, 0.5 * x, 44100))]
    ['confirmed']
    """
    if not isinstance(reasoning, str):
        raise TypeError(f"reasoning must be a string, got {type(reasoning).__name__}")
    return _claims(reasoning, evidence)


def share_confirmed(checks: Sequence[ClaimCheck], *, of: str = "checkable") -> float:
    """Share of claims confirmed, in [0, 1] (NaN when there is nothing to count).

    ``of="checkable"`` (default) counts confirmed / (confirmed + contradicted);
    ``of="all"`` counts confirmed / all claims, unverifiable ones included.
    """
    if of not in ("checkable", "all"):
        raise ValueError(f"of must be 'checkable' or 'all', got {of!r}")
    pool = [c for c in checks if of == "all" or c.verdict != "unverifiable"]
    return sum(c.verdict == "confirmed" for c in pool) / len(pool) if pool else float("nan")
