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

The patterns are deliberately simple: they read the sentences of :class:`Evidence`, the
:class:`~llm2fx_lab.planners.analysis_planner.AnalysisPlanner` and the training data's reasoning,
not arbitrary prose. A claim they miss is not checked; no claim is invented.
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
}

_NUM = r"[-+\u2212]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
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


def _claims(text: str, evidence) -> list[ClaimCheck]:
    out: list[ClaimCheck] = []
    taken: list[tuple[int, int]] = []

    def add(m: re.Match, field: str, claimed: float, verdict_reason: tuple[Verdict, str], group: int = 0) -> None:
        s, e = m.span(group)
        if any(s < b and a < e for a, b in taken):
            return
        taken.append((s, e))
        measured = getattr(evidence, field, float("nan")) if hasattr(evidence, field) else float("nan")
        out.append(ClaimCheck(m.group(group), field, claimed, float(measured), *verdict_reason, s, e))

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
        if not 0.04 <= seconds <= 1.0:
            add(m, "echo_delay_seconds", seconds, ("unverifiable", "outside the 40 ms - 1 s echo search"))
        elif not evidence.echo_detected:
            add(m, "echo_delay_seconds", seconds, ("contradicted", "no echo was found between 40 ms and 1 s"))
        else:
            measured = evidence.echo_delay_seconds
            tol = max(TOLERANCES["echo_seconds"], TOLERANCES["echo_relative"] * measured)
            ok = abs(seconds - measured) <= tol
            add(m, "echo_delay_seconds", seconds,
                ("confirmed" if ok else "contradicted", f"measured {1000 * measured:.0f} ms (+-{1000 * tol:.0f} ms)"))
    # Pan: "pan position -0.02 -> -0.52" (a change) or "pan -0.5" (a position, dry taken as centred).
    for m in re.finditer(rf"\bpan(?: position)?\s+({_NUM})\s*->\s*({_NUM})", text, re.I):
        value = _num(m.group(2)) - _num(m.group(1))
        add(m, "pan_change", value, _pan(value, evidence))
    for m in re.finditer(rf"\bpan\s*[:=]?\s*({_NUM})(?!\s*->)", text, re.I):
        value = _num(m.group(1))
        add(m, "pan_change", value, _pan(value, evidence))
    for m in re.finditer(r"\b(?:moves|pann?ed|panning)\s+(?:to the\s+)?(left|right)\b", text, re.I):
        sign = 1 if m.group(1).lower() == "right" else -1
        add(m, "pan_change", float("nan"), _direction(sign, evidence, "pan_change"))
    # Width: "wider", "narrower".
    for m in re.finditer(r"\b(wider|narrower)\b", text, re.I):
        sign = 1 if m.group(1).lower() == "wider" else -1
        add(m, "side_to_mid_change_db", float("nan"), _direction(sign, evidence, "side_to_mid_change_db"))
    # Brightness: "brighter", "darker": the high band against the mid band (a level change alone
    # makes nothing brighter); notable from 1.5 dB as the band gains.
    tilt = evidence.high_band_gain_db - evidence.mid_band_gain_db
    for m in re.finditer(r"\b(brighter|darker|duller)\b", text, re.I):
        sign = 1 if m.group(1).lower() == "brighter" else -1
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
        add(m, "decay_change_seconds", float("nan"), _direction(sign, evidence, "decay_change_seconds"))
    # Harmonics: "0.8 % of the ... energy is new".
    for m in re.finditer(rf"({_NUM})\s*%[^.;\n]{{0,60}}?\bnew\b", text, re.I):
        value = _num(m.group(1))
        measured = 100 * 10 ** (evidence.added_harmonics_db / 10)
        if value < 0.1 and measured < 0.1:
            add(m, "added_harmonics_db", value, ("confirmed", f"measured {measured:.2g} % (both negligible)"))
        else:
            add(m, "added_harmonics_db", value,
                _ratio(value, measured, TOLERANCES["harmonics_factor"], "%"))
    return sorted(out, key=lambda c: c.start)


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
