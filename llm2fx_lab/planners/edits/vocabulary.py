"""The words the edit grammar knows, built from the toolset spec plus a few plain synonyms.

Module and parameter names come from :mod:`llm2fx_lab.fx.spec` (the official name, the name
with spaces, the parameter's label); only the plain words people use for them are listed here
(:data:`MODULE_WORDS`, :data:`PARAM_WORDS`). A word may name several parameters ("mix" is the
reverb's and the delay's): the grammar then uses the module named in the request, the one of
the request before, the modules in the chain, and the value's unit, in that order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from llm2fx_lab.fx.spec import MODULE_NAMES, ParamSpec, module

#: Plain words for each module (ours; the spec's names are added by :func:`module_phrases`).
MODULE_WORDS: dict[str, tuple[str, ...]] = {
    "equalizer": ("eq", "equaliser", "equalisation", "equalization", "tone control"),
    "compressor": ("compression", "comp", "dynamics"),
    "stereo_widener": ("widener", "stereo width", "stereo image", "stereo widening", "widening", "imager"),
    "gain": ("volume", "output level"),
    "panner": ("pan", "panning"),
    "distortion": ("drive", "overdrive", "saturation", "fuzz", "grit", "dirt"),
    "reverb": ("reverberation", "verb", "room", "space", "ambience", "ambiance", "hall"),
    "delay": ("echo", "echoes", "slapback"),
    "limiter": ("limiting", "brickwall"),
}

#: Plain words for parameters (ours; each parameter's name and label are added from the spec).
PARAM_WORDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("equalizer", "low_gain_db"): ("bass", "lows", "low end", "low shelf", "bottom end"),
    ("equalizer", "mid_gain_db"): ("mids", "middle", "midrange", "mid range"),
    ("equalizer", "high_gain_db"): ("treble", "highs", "high end", "top end", "air", "high shelf"),
    ("equalizer", "low_cutoff_freq"): ("low frequency", "low freq", "bass frequency"),
    ("equalizer", "mid_cutoff_freq"): ("mid frequency", "mid freq", "mid centre", "mid center"),
    ("equalizer", "high_cutoff_freq"): ("high frequency", "high freq", "treble frequency"),
    ("compressor", "threshold_db"): ("thresh",),
    ("reverb", "room_size"): ("size", "room", "decay", "tail"),
    ("reverb", "mix_ratio"): ("wet", "amount", "level"),
    ("delay", "delay_seconds"): ("time", "delay time", "echo time"),
    ("delay", "feedback"): ("repeats", "regeneration"),
    ("delay", "mix_ratio"): ("wet", "amount", "level"),
    ("distortion", "drive_db"): ("amount",),
    ("gain", "gain_db"): ("volume", "level"),
    ("panner", "pan"): ("position", "balance"),
    ("stereo_widener", "width"): ("amount", "stereo width"),
    ("limiter", "threshold_db"): ("ceiling", "thresh"),
}

#: The parameter a module-level nudge ("more reverb") or a bare value ("reverb 0.3") moves.
MAIN_PARAM: dict[str, str] = {
    "reverb": "mix_ratio", "delay": "mix_ratio", "distortion": "drive_db", "compressor": "ratio",
    "gain": "gain_db", "stereo_widener": "width", "panner": "pan", "limiter": "threshold_db",
}

#: One nudge ("more X", "brighter") in the parameter's unit; others move 15 % of their range.
NUDGE_STEP: dict[tuple[str, str], float] = {
    ("equalizer", "low_gain_db"): 4.0, ("equalizer", "mid_gain_db"): 4.0, ("equalizer", "high_gain_db"): 4.0,
    ("compressor", "ratio"): 3.0, ("compressor", "threshold_db"): 5.0,
    ("gain", "gain_db"): 3.0, ("distortion", "drive_db"): 4.0, ("stereo_widener", "width"): 0.3,
    ("panner", "pan"): 0.3, ("reverb", "mix_ratio"): 0.15, ("reverb", "room_size"): 0.2,
    ("delay", "mix_ratio"): 0.15, ("delay", "feedback"): 0.1, ("delay", "delay_seconds"): 0.1,
    ("limiter", "threshold_db"): 3.0,
}

#: "More" of these modules lowers their main parameter (more limiting = a lower threshold).
INVERTED: frozenset[str] = frozenset({"limiter"})

#: Settings of a module the grammar adds: the spec's defaults, except where a default is heard
#: (the spec's reverb mix is 0.5): an added module is neutral until the request sets it.
NEUTRAL: dict[str, dict[str, float]] = {"reverb": {"mix_ratio": 0.0}, "delay": {"mix_ratio": 0.0}}

#: Where a module sits when it is added without a position: the studio order the analysis
#: planner starts from (tone and dynamics first, then image, then space).
ADD_ORDER: tuple[str, ...] = ("equalizer", "compressor", "distortion", "gain", "panner", "stereo_widener",
                              "delay", "reverb", "limiter")

#: Nudging one of these modules' main parameter down to its neutral point removes the module
#: ("less reverb" at mix 0): the module then does nothing.
REMOVE_AT: dict[str, float] = {"reverb": 0.0, "delay": 0.0, "distortion": 0.0, "compressor": 1.0}

#: Modules whose absence means none of their effect: reducing one that is not in the chain is
#: refused ("less reverb" without a reverb) instead of adding it.
NONE_WHEN_ABSENT: frozenset[str] = frozenset(REMOVE_AT) | {"limiter"}

#: Where a parameter word names several parameters and nothing in the request or the chain
#: tells them apart, the one people usually mean ("threshold" is the compressor's).
PREFERRED: tuple[tuple[str, str], ...] = (("compressor", "threshold_db"), ("compressor", "release_ms"),
                                          ("stereo_widener", "width"))

#: Units people type, as (factor to the spec's unit, the spec unit they convert to).
UNITS: dict[str, tuple[float, str]] = {
    "db": (1.0, "dB"), "decibel": (1.0, "dB"), "decibels": (1.0, "dB"),
    "ms": (1e-3, "s"), "msec": (1e-3, "s"), "millisecond": (1e-3, "s"), "milliseconds": (1e-3, "s"),
    "s": (1.0, "s"), "sec": (1.0, "s"), "secs": (1.0, "s"), "second": (1.0, "s"), "seconds": (1.0, "s"),
    "hz": (1.0, "Hz"), "khz": (1e3, "Hz"), "k": (1e3, "Hz"),
    "%": (0.01, ""), "percent": (0.01, ""), "per cent": (0.01, ""), ":1": (1.0, ":1"),
}


@dataclass(frozen=True)
class Phrase:
    """A phrase of the grammar and what it names: a module, or a module's parameter."""

    text: str
    module: str
    param: str | None = None


def _spaced(name: str) -> str:
    return name.replace("_", " ")


@lru_cache(maxsize=1)
def module_phrases() -> tuple[Phrase, ...]:
    """Every module phrase: the official name, the name with spaces, :data:`MODULE_WORDS`."""
    out = []
    for name in MODULE_NAMES:
        for text in dict.fromkeys((name, _spaced(name)) + MODULE_WORDS.get(name, ())):
            out.append(Phrase(text.lower(), name))
    return tuple(out)


@lru_cache(maxsize=1)
def param_phrases() -> tuple[Phrase, ...]:
    """Every parameter phrase: its name, the name with spaces, its label, :data:`PARAM_WORDS`."""
    out = []
    for name in MODULE_NAMES:
        for p in module(name).params:
            words = (p.name, _spaced(p.name), p.label) + PARAM_WORDS.get((name, p.name), ())
            for text in dict.fromkeys(words):
                out.append(Phrase(text.lower(), name, p.name))
    return tuple(out)


def _pattern(phrases: tuple[Phrase, ...]) -> re.Pattern[str]:
    texts = sorted({p.text for p in phrases}, key=len, reverse=True)  # longest first: "low gain" before "gain"
    return re.compile(r"(?<![\w.])(" + "|".join(re.escape(t) for t in texts) + r")(?![\w])")


@lru_cache(maxsize=1)
def module_pattern() -> re.Pattern[str]:
    return _pattern(module_phrases())


@lru_cache(maxsize=1)
def param_pattern() -> re.Pattern[str]:
    return _pattern(param_phrases())


def modules_named(text: str) -> tuple[str, ...]:
    """The modules a module phrase names (one)."""
    return tuple(dict.fromkeys(p.module for p in module_phrases() if p.text == text))


def params_named(text: str) -> tuple[tuple[str, str], ...]:
    """The ``(module, parameter)`` pairs a parameter phrase names (one or several)."""
    return tuple(dict.fromkeys((p.module, p.param) for p in param_phrases() if p.text == text))  # type: ignore[misc]


def nudge_step(p: ParamSpec) -> float:
    """One nudge of ``p`` in its unit (:data:`NUDGE_STEP`, else 15 % of its range)."""
    return NUDGE_STEP.get((p.module, p.name), round(0.15 * (p.maximum - p.minimum), 3))


def neutral_settings(name: str) -> dict[str, float]:
    """The settings of a module the grammar adds (:data:`NEUTRAL` over the spec's defaults)."""
    return {**{p.name: p.default for p in module(name).params}, **NEUTRAL.get(name, {})}
