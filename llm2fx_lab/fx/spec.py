"""The toolset, defined once: 9 modules, 26 parameters.

Everything else in llm2fx-lab (JSON tool schemas, normalisation, validation, sliders,
prompts, plain-English descriptions) is derived from :data:`TOOLSET` below.

Sources (see ``shared/reference/llm2fx-tools.md``):

- names, ranges, sampler steps and scales: the paper's public code,
  ``llm2fx-tools/llm4mp/common_utils/fx_utils/ndsp_utils/`` (``constants.py``) and
  ``preprocessing/fx_processor/fx_sampling_ndsp.py``;
- the argument order, JSON types and the finer "schema" steps the model is shown:
  ``ndsp_utils/tool_calling_fn.py``;
- the official tool order: the official tool list (equalizer, compressor, stereo_widener,
  gain, panner, distortion, reverb, delay, limiter).

Defaults are ours: the official code has none that are both valid and neutral (it uses
ratio 0 and Q 0, which the formulas reject). We pick a neutral value where one exists
(gain 0 dB, ratio 1, width 1, all EQ gains 0 dB, delay mix 0) and otherwise the least
intrusive valid value; ``docs/toolset.md`` lists them.

Some official minima are invalid for the formulas that render them (a Q of 0 divides by
zero in the RBJ formulas; a 0 Hz cutoff has no shelf). Those parameters carry a
``valid_minimum``: strict validation rejects values below it with a message that says why,
lenient validation clamps to it and records the repair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Mapping

from llm2fx_lab.errors import ParameterError, ToolCallError, quoted

Scale = Literal["lin", "log"]

#: Offset (in the parameter's unit) of the shifted-log normalisation used for log-scale
#: parameters whose minimum is 0 ms: ``u = log(1 + (v - min) / LOG_OFFSET) /
#: log(1 + (max - min) / LOG_OFFSET)``. It maps the official range exactly onto [0, 1],
#: is exactly invertible, and spends half the slider on roughly the first 5 % of the range.
LOG_OFFSET = 1.0


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of one module.

    Attributes
    ----------
    module, name : str
        Official tool and argument names, e.g. ``"compressor"``, ``"attack_ms"``.
    unit : str
        Unit for display: ``"dB"``, ``"ms"``, ``"s"``, ``"Hz"``, ``":1"`` or ``""``.
    minimum, maximum : float
        The official range, inclusive.
    step : float
        Step of the official chain sampler.
    schema_step : float
        The (finer) step the official tool schema describes to the model.
    scale : {"lin", "log"}
        How sliders and normalisation treat the range.
    default : float
        Value used when a tool call omits this argument.
    json_type : {"integer", "number"}
        The JSON type of the official schema (``int`` or ``float`` in its signature).
    description : str
        One plain-English sentence, used by prompts, notebooks and the CLI.
    valid_minimum : float or None
        The smallest value the renderer's formula accepts, where it is above ``minimum``.
    """

    module: str
    name: str
    unit: str
    minimum: float
    maximum: float
    step: float
    schema_step: float
    scale: Scale
    default: float
    json_type: Literal["integer", "number"]
    description: str
    valid_minimum: float | None = None

    @property
    def qualified_name(self) -> str:
        """``module.name``, as used in error messages."""
        return f"{self.module}.{self.name}"

    @property
    def label(self) -> str:
        """Short human label without the unit suffix: ``attack_ms`` -> ``attack``, ``low_q_factor`` -> ``low Q``."""
        text = self.name
        for suffix in ("_db", "_ms", "_seconds", "_ratio", "_factor", "_freq"):
            if text.endswith(suffix) and text != suffix.lstrip("_"):
                text = text[: -len(suffix)]
                break
        return text.replace("_", " ").replace(" q", " Q")

    def format_value(self, value: float) -> str:
        """``-20 dB``, ``4:1``, ``0.3``: a value with its unit for display."""
        if self.unit == ":1":
            return f"{value:g}:1"
        return f"{value:g} {self.unit}" if self.unit else f"{value:g}"

    @property
    def decimals(self) -> int:
        """Decimal places a planner's value carries: one finer than the step the official
        schema shows the model (``gain_db`` step 1 -> 1 decimal, ``pan`` step 0.1 -> 2, a
        cutoff step of 10 Hz -> whole Hz), so
        that no float noise reaches a tool call (``11.7``, never ``11.68000000000002``) and
        rounding moves a value by at most a twentieth of that step."""
        return max(0, 1 - math.floor(math.log10(self.schema_step) + 1e-9))

    def at_precision(self, value: float) -> float:
        """``value`` rounded to :attr:`decimals`, kept inside the valid range; the spec's own
        default is kept as it is (the EQ's Q of 0.707 is a Butterworth shelf, not 0.71)."""
        if float(value) == self.default:
            return float(value)
        return min(max(round(float(value), self.decimals), self.lowest_valid), self.maximum)

    @property
    def lowest_valid(self) -> float:
        """The lowest value that renders: ``valid_minimum`` if set, else ``minimum``."""
        return self.minimum if self.valid_minimum is None else self.valid_minimum

    def normalize(self, value: float) -> float:
        """Map a value in ``[minimum, maximum]`` to ``[0, 1]`` (log-shaped where ``scale`` is log).

        Values outside the range map outside ``[0, 1]``; validate first if that matters.

        Examples
        --------
        >>> from llm2fx_lab.fx.spec import param
        >>> param("gain", "gain_db").normalize(0.0)
        0.5
        """
        span = self.maximum - self.minimum
        if self.scale == "lin":
            return (value - self.minimum) / span
        return math.log1p((value - self.minimum) / LOG_OFFSET) / math.log1p(span / LOG_OFFSET)

    def denormalize(self, unit_value: float) -> float:
        """Inverse of :meth:`normalize`: map ``[0, 1]`` back to the parameter's unit."""
        span = self.maximum - self.minimum
        if self.scale == "lin":
            return self.minimum + unit_value * span
        return self.minimum + LOG_OFFSET * math.expm1(unit_value * math.log1p(span / LOG_OFFSET))

    def describe_range(self) -> str:
        """``[-20, 20] dB`` style text."""
        unit = f" {self.unit}" if self.unit and self.unit != ":1" else ""
        return f"[{_fmt(self.minimum)}, {_fmt(self.maximum)}]{unit}"


@dataclass(frozen=True)
class ModuleSpec:
    """One module (tool): its official name, parameters in official argument order, and text."""

    name: str
    params: tuple[ParamSpec, ...]
    description: str
    renderer: Literal["pedalboard", "numpy"]

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> ParamSpec:
        """The :class:`ParamSpec` called ``name``; :class:`ParameterError` if there is none."""
        for p in self.params:
            if p.name == name:
                return p

        raise ParameterError(
            f"{self.name} has no parameter {quoted(name)}; allowed: {', '.join(self.param_names)}"
        )

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}


def _fmt(x: float) -> str:
    return f"{x:g}"


def _p(module, name, unit, lo, hi, step, schema_step, scale, default, json_type, text, valid_min=None):
    return ParamSpec(module, name, unit, float(lo), float(hi), float(step), float(schema_step),
                     scale, float(default), json_type, text, None if valid_min is None else float(valid_min))


def _eq_params() -> tuple[ParamSpec, ...]:
    out = []
    bands = (
        ("low", "low shelf", (0, 400, 20, 10, 100.0), (0, 6, 0.5, 0.5, 0.707, 0.1)),
        ("mid", "peaking (bell) band", (250, 6000, 250, 100, 1000.0), (0.1, 6, 0.5, 0.5, 0.707, None)),
        ("high", "high shelf", (4000, 20000, 1000, 500, 8000.0), (0, 6, 0.5, 0.5, 0.707, 0.1)),
    )
    for band, kind, (flo, fhi, fstep, fsstep, fdef), (qlo, qhi, qstep, qsstep, qdef, qvalid) in bands:
        out.append(_p("equalizer", f"{band}_gain_db", "dB", -20, 20, 2, 1, "lin", 0.0, "integer",
                      f"Boost (positive) or cut (negative) of the {kind}."))
        freq_word = "Centre" if band == "mid" else "Corner"
        out.append(_p("equalizer", f"{band}_cutoff_freq", "Hz", flo, fhi, fstep, fsstep, "lin", fdef,
                      "integer", f"{freq_word} frequency of the {kind}.",
                      1.0 if flo == 0 else None))
        out.append(_p("equalizer", f"{band}_q_factor", "", qlo, qhi, qstep, qsstep, "lin", qdef, "number",
                      f"Quality factor of the {kind}: higher is narrower (steeper for a shelf).",
                      qvalid))
    return tuple(out)


_MODULES: tuple[ModuleSpec, ...] = (
    ModuleSpec(
        "equalizer", _eq_params(),
        "Three-band parametric EQ (RBJ low shelf -> peaking band -> high shelf): shapes the "
        "tonal balance by boosting or cutting bass, a middle band and treble.",
        "numpy",
    ),
    ModuleSpec(
        "compressor",
        (
            _p("compressor", "threshold_db", "dB", -40, -5, 5, 1, "lin", -20.0, "integer",
               "Level above which the compressor starts to reduce gain."),
            _p("compressor", "ratio", ":1", 1, 20, 1, 1, "lin", 1.0, "integer",
               "How strongly level above the threshold is reduced (1 = no compression)."),
            _p("compressor", "attack_ms", "ms", 0, 500, 5, 1, "log", 10.0, "integer",
               "How fast gain reduction starts once the level crosses the threshold."),
            _p("compressor", "release_ms", "ms", 0, 1000, 50, 25, "log", 100.0, "integer",
               "How fast gain reduction recovers once the level falls below the threshold."),
        ),
        "Compressor: reduces the dynamic range by turning down level above a threshold, "
        "making quiet and loud parts closer and adding punch or sustain.",
        "pedalboard",
    ),
    ModuleSpec(
        "stereo_widener",
        (_p("stereo_widener", "width", "", 0, 1.5, 0.1, 0.1, "lin", 1.0, "number",
            "Scale of the side (L-R) signal: 0 = mono, 1 = unchanged, above 1 = wider."),),
        "Stereo widener (mid/side): narrows or widens the stereo image by scaling the "
        "difference between left and right.",
        "numpy",
    ),
    ModuleSpec(
        "gain",
        (_p("gain", "gain_db", "dB", -20, 20, 2, 1, "lin", 0.0, "integer",
            "Level change in decibels (+6.02 dB doubles the amplitude)."),),
        "Gain: makes the whole signal louder or quieter by a fixed amount.",
        "pedalboard",
    ),
    ModuleSpec(
        "panner",
        (_p("panner", "pan", "", -1, 1, 0.1, 0.1, "lin", 0.0, "number",
            "Position from -1 (hard left) through 0 (centre, both sides -3 dB) to 1 (hard right)."),),
        "Panner (constant power): moves the sound between the left and right speakers.",
        "numpy",
    ),
    ModuleSpec(
        "distortion",
        (_p("distortion", "drive_db", "dB", 0, 20, 2, 1, "lin", 0.0, "integer",
            "Gain before the tanh waveshaper: more drive, more harmonics and saturation."),),
        "Distortion: drives the signal into a tanh saturator, adding harmonics, grit and "
        "loudness while rounding off peaks.",
        "pedalboard",
    ),
    ModuleSpec(
        "reverb",
        (
            _p("reverb", "room_size", "", 0, 0.9, 0.1, 0.1, "lin", 0.5, "number",
               "Size of the simulated room: larger rooms ring longer."),
            _p("reverb", "damping", "", 0, 0.9, 0.1, 0.1, "lin", 0.5, "number",
               "High-frequency absorption of the room: more damping, darker tail."),
            _p("reverb", "width", "", 0, 0.9, 0.1, 0.1, "lin", 0.9, "number",
               "Stereo width of the reverberant sound."),
            _p("reverb", "mix_ratio", "", 0, 1, 0.1, 0.1, "lin", 0.5, "number",
               "Balance of reverberant (wet) against direct (dry) sound."),
        ),
        "Reverb (Freeverb, as in JUCE): adds the sound of a room, giving space, depth and "
        "a decaying tail.",
        "pedalboard",
    ),
    ModuleSpec(
        "delay",
        (
            _p("delay", "delay_seconds", "s", 0, 0.7, 0.05, 0.05, "lin", 0.5, "number",
               "Time between the sound and its echo."),
            _p("delay", "feedback", "", 0, 0.6, 0.05, 0.05, "lin", 0.0, "number",
               "Share of each echo fed back to make the next one (more repeats)."),
            _p("delay", "mix_ratio", "", 0, 1, 0.1, 0.1, "lin", 0.0, "number",
               "Balance of echoes (wet) against the direct sound (dry)."),
        ),
        "Delay: adds echoes, repeats of the sound after a fixed time.",
        "pedalboard",
    ),
    ModuleSpec(
        "limiter",
        (
            _p("limiter", "threshold_db", "dB", -20, -1, 1, 1, "lin", -1.0, "integer",
               "Ceiling the limiter holds peaks under (it also adds make-up gain)."),
            _p("limiter", "release_ms", "ms", 0, 1000, 50, 25, "log", 100.0, "integer",
               "How fast the limiter lets go after a peak."),
        ),
        "Limiter: a fast, strong compressor that stops peaks from exceeding a ceiling and "
        "makes the signal denser and louder.",
        "pedalboard",
    ),
)

#: The toolset in the official order, keyed by module name.
TOOLSET: Mapping[str, ModuleSpec] = {m.name: m for m in _MODULES}

#: Module names in the official order.
MODULE_NAMES: tuple[str, ...] = tuple(TOOLSET)

#: Every parameter, in official module then argument order.
ALL_PARAMS: tuple[ParamSpec, ...] = tuple(p for m in _MODULES for p in m.params)


def module(name: str) -> ModuleSpec:
    """The :class:`ModuleSpec` called ``name``; :class:`ToolCallError` naming the allowed ones."""
    try:
        return TOOLSET[name]
    except (KeyError, TypeError):
        raise ToolCallError(
            f"unknown module {quoted(name)}; allowed: {', '.join(MODULE_NAMES)}"
        ) from None


def param(module_name: str, param_name: str) -> ParamSpec:
    """The :class:`ParamSpec` of ``module_name.param_name``."""
    return module(module_name).param(param_name)
