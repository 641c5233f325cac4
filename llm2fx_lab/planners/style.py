"""Style mode: make the dry track sound like a *different* recording.

Every other path compares the reference with the dry clip as if they held the same notes. When
the reference is another recording, those sample-by-sample comparisons compare two pieces, so
style mode matches distributions instead (:mod:`llm2fx_lab.analysis.style`): it renders
candidate chains on the dry clip and moves their parameters until the render's statistics sit
where :func:`style_targets` puts them, with CMA-ES (``cma``, the reference implementation)
under a time budget.

Each statistic's target lies between the dry clip's value and the reference's:
``dry + strength * (reference - dry)`` (:attr:`StyleConfig.strengths`). The default strengths
were measured (docs/decisions.md, "Style mode"): on 76 pairs of different recordings through
the same chain, the reference's own value predicted the target of a style transfer (the dry
clip through the reference's chain) best, or within a few percent of best, for **loudness**,
**crest factor**, **stereo width**, **balance** and **decay after onsets** (strength 1); for the
**spectral envelope** (tone) the best strength was 0.1 to 0.2 and a full match more than
doubled the error (two recordings differ in tone far more by what they play than by their EQ),
so the default takes a fifth of the gap between the octave-smoothed envelopes; **loudness
range** half of its gap. When the reference is the same kind of material as the dry clip
(another take, another part of the same song), ``strengths={"envelope_db": 1.0}`` matches its
tone fully. When the reference shows a distinct **echo** the dry clip does not, the chain gets
a delay at that time.

:class:`Styled` wraps any planner: its blind estimate of the reference (the reference against
its pseudo-dry) is one candidate, the searched style chain another, and the one whose render
sits closer to the targets is kept; the reasoning names every statistic, how far apart dry and
reference were and how far the render is after.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import scipy.signal

from llm2fx_lab.analysis.style import (
    BAND_FLOOR_DB,
    STYLE_SCALES,
    StyleStats,
    content_match,
    style_distance,
    style_stats,
)
from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.errors import Llm2FxError, ParameterError, PlannerError, replace_fields
from llm2fx_lab.events import (
    STYLE_SUFFIX,
    Event,
    Final,
    Response,
    StreamClock,
    Thinking,
    ToolCallEvent,
    wrapper_ending,
)
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.fx.render import equalizer_sos, render
from llm2fx_lab.fx.spec import module as module_spec
from llm2fx_lab.fx.spec import param as param_spec
from llm2fx_lab.threads import start_background

#: The modules a style chain may use, in the order they are chained (a mastering order: tone,
#: dynamics, space, image, level).
STYLE_ORDER = ("equalizer", "compressor", "reverb", "delay", "stereo_widener", "panner", "gain")
#: The parameters the search moves; the others of each module stay at :data:`FIXED_SETTINGS`
#: or the spec's defaults (fewer dimensions: the budget allows a few hundred renders). The
#: equalizer's three gains are not searched: they are fitted to the tone in closed form
#: (:func:`fit_equalizer_gains`), before the search and again after it.
SEARCHED: tuple[tuple[str, str], ...] = (
    ("compressor", "threshold_db"), ("compressor", "ratio"),
    ("reverb", "room_size"), ("reverb", "mix_ratio"),
    ("delay", "mix_ratio"),
    ("stereo_widener", "width"), ("panner", "pan"), ("gain", "gain_db"))
FIXED_SETTINGS: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "equalizer": MappingProxyType({"low_cutoff_freq": 200.0, "mid_cutoff_freq": 1000.0, "high_cutoff_freq": 6000.0}),
    "compressor": MappingProxyType({"attack_ms": 10.0, "release_ms": 100.0}),
    "reverb": MappingProxyType({"damping": 0.5, "width": 0.9}),
})
#: Settings at which a module does nothing (where the search starts and what pruning tries).
NEUTRAL: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "equalizer": MappingProxyType({"low_gain_db": 0.0, "mid_gain_db": 0.0, "high_gain_db": 0.0}),
    "compressor": MappingProxyType({"threshold_db": -20.0, "ratio": 1.0}),
    "reverb": MappingProxyType({"room_size": 0.5, "mix_ratio": 0.0}),
    "delay": MappingProxyType({"mix_ratio": 0.0}),
    "stereo_widener": MappingProxyType({"width": 1.0}),
    "panner": MappingProxyType({"pan": 0.0}),
    "gain": MappingProxyType({"gain_db": 0.0}),
})
#: How far each statistic's target moves from the dry clip's value to the reference's, by default
#: (measured: see the module docstring and docs/decisions.md).
DEFAULT_STRENGTHS: Mapping[str, float] = MappingProxyType({
    "envelope_db": 0.2, "loudness_lu": 1.0, "loudness_range_lu": 0.5, "crest_factor_db": 1.0,
    "width_db": 1.0, "balance_db": 1.0, "decay_seconds": 1.0})
#: How much each statistic's gap counts in the search's loss, by default: its scale step over how
#: far the target, set by the default strengths, was from the truth on those 76 pairs (loudness
#: 2.5 LU, loudness range 1.2 LU, crest factor 2.4 dB, width 7.9 dB, balance 0.65 dB, decay
#: 1.7 s, tone 4.0 dB), so a statistic whose target is often off by content (decay, width) pulls
#: less than one that is reliable (balance). With equal weights the mean MR-STFT ratio to the
#: target on 12 bundled pairs was 1.47; with weights of this kind 0.98 (docs/decisions.md).
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType({
    "envelope_db": 0.25, "loudness_lu": 0.4, "loudness_range_lu": 0.85, "crest_factor_db": 0.42,
    "width_db": 0.25, "balance_db": 1.54, "decay_seconds": 0.06})
#: Seconds between the search's progress notes.
PROGRESS_SECONDS = 3.0
#: Octave-wide smoothing of the envelope (1/3-octave bands each side) before it is matched.
SMOOTH_BANDS = 3


@dataclass(frozen=True)
class StyleConfig:
    """Knobs of style mode.

    Parameters
    ----------
    strengths : mapping
        For each statistic of :data:`~llm2fx_lab.analysis.style.STYLE_SCALES`, how far (0..1)
        its target moves from the dry clip's value to the reference's (0 keeps the dry clip's
        own; given keys replace the defaults, the others keep theirs).
    weights : mapping
        Weight of each statistic in the search's loss (gaps in scale steps, times the weight;
        given keys replace :data:`DEFAULT_WEIGHTS`).
    budget_seconds : float
        Wall time of the search.
    max_renders : int
        Most candidate renders of the search (whichever of the two limits comes first; with a
        time budget that is never reached, the same inputs and seed give the same chain).
    max_seconds : float
        Longest stretch of the dry clip rendered per candidate (the first ``max_seconds``).
    sigma : float
        CMA-ES's initial step, in the spec's normalised parameter space (0..1).
    prune_tolerance : float
        A module is dropped when leaving it out raises the loss by at most this much.
    seed : int
        CMA-ES's seed: the same inputs and seed give the same chain.
    """

    strengths: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    budget_seconds: float = 12.0
    max_renders: int = 1000
    max_seconds: float = 8.0
    sigma: float = 0.15
    prune_tolerance: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        for label, given, defaults, hi in (("strength", self.strengths, DEFAULT_STRENGTHS, 1.0),
                                           ("weight", self.weights, DEFAULT_WEIGHTS, 100.0)):
            if not isinstance(given, Mapping):
                raise ParameterError(f"style {label}s must be a mapping of statistic -> number, got {given!r}")
            unknown = sorted(set(given) - set(STYLE_SCALES))
            if unknown:
                raise ParameterError(f"unknown style statistic(s) {', '.join(unknown)}; allowed: "
                                     f"{', '.join(STYLE_SCALES)}")
            for k, v in given.items():
                if isinstance(v, bool) or not (isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v <= hi):
                    raise ParameterError(f"style {label} of {k} must be a number in [0, {hi:g}], got {v!r}")
            object.__setattr__(self, f"{label}s", MappingProxyType({**defaults, **{k: float(v) for k, v in given.items()}}))
        if isinstance(self.max_renders, bool) or not isinstance(self.max_renders, int) or self.max_renders < 1:
            raise ParameterError(f"StyleConfig.max_renders must be an integer >= 1, got {self.max_renders!r}")
        checks = (("budget_seconds", 0.5, 600.0), ("max_seconds", 1.0, 600.0),
                  ("sigma", 0.01, 1.0), ("prune_tolerance", 0.0, 100.0))
        for name, lo, hi in checks:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and lo <= value <= hi):
                raise ParameterError(f"StyleConfig.{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")

    def replace(self, **changes: Any) -> "StyleConfig":
        return replace_fields(self, changes)


# --- targets ---------------------------------------------------------------------------------

def _smooth(levels: np.ndarray) -> np.ndarray:
    """Octave-wide running mean of 1/3-octave levels (bands without content left out)."""
    x = np.where(levels > BAND_FLOOR_DB, levels, np.nan)
    out = np.full_like(x, np.nan)
    for i in range(x.size):
        window = x[max(0, i - SMOOTH_BANDS // 2): i + SMOOTH_BANDS // 2 + 1]
        if np.isfinite(window).any():
            out[i] = np.nanmean(window)
    return out


@dataclass(frozen=True)
class StyleTargets:
    """Where the render's statistics should sit (:func:`style_targets`), with how each was set."""

    values: Mapping[str, float]
    band_levels_db: tuple[float, ...]
    how: Mapping[str, str]
    echo_delay_seconds: float | None = None
    echo_feedback: float = 0.0


#: The :class:`StyleStats` field behind each statistic but the envelope.
STAT_FIELDS: Mapping[str, str] = MappingProxyType({
    "loudness_lu": "loudness_lufs", "loudness_range_lu": "loudness_range_lu", "crest_factor_db": "crest_factor_db",
    "width_db": "width_db", "balance_db": "balance_db", "decay_seconds": "decay_seconds"})


def _how(strength: float) -> str:
    if strength >= 1.0:
        return "the reference's"
    if strength <= 0.0:
        return "the dry clip's own"
    return f"{strength:.0%} of the way from the dry clip's to the reference's"


def style_targets(dry: StyleStats, reference: StyleStats, config: StyleConfig) -> StyleTargets:
    """The statistics a render of the dry clip should have: each ``dry + strength * (reference -
    dry)`` (:attr:`StyleConfig.strengths`); the envelope's gap is taken after octave smoothing
    and without its level (loudness is matched on its own)."""
    k = config.strengths
    values: dict[str, float] = {}
    for name, attr in STAT_FIELDS.items():
        d, r = float(getattr(dry, attr)), float(getattr(reference, attr))
        values[name] = d + k[name] * (r - d) if math.isfinite(d) and math.isfinite(r) else d
    a = np.asarray(dry.band_levels_db)
    smooth_dry, smooth_ref = _smooth(a), _smooth(np.asarray(reference.band_levels_db))
    both = np.isfinite(smooth_dry) & np.isfinite(smooth_ref)
    shift = np.where(both, smooth_ref - smooth_dry, 0.0)
    if both.any():  # tone only: the level is matched as loudness
        shift[both] -= np.median(shift[both])
    bands = tuple(float(v) for v in a + k["envelope_db"] * shift)
    how = {name: _how(k[name]) for name in STYLE_SCALES}
    echo = reference.echo_detected and not dry.echo_detected
    return StyleTargets(MappingProxyType(values), bands, MappingProxyType(how),
                        reference.echo_delay_seconds if echo else None, reference.echo_feedback if echo else 0.0)


def target_gaps(stats: StyleStats, targets: StyleTargets) -> dict[str, float]:
    """The gap of each statistic of ``stats`` to ``targets`` (in the statistic's unit)."""
    mine = {name: float(getattr(stats, attr)) for name, attr in STAT_FIELDS.items()}
    gaps = {k: abs(v - targets.values[k]) if math.isfinite(v) and math.isfinite(targets.values[k]) else 0.0
            for k, v in mine.items()}
    goal = dataclasses.replace(stats, band_levels_db=targets.band_levels_db)
    gaps["envelope_db"] = style_distance(stats, goal).gaps["envelope_db"]
    return gaps


def style_loss(stats: StyleStats, targets: StyleTargets, config: StyleConfig) -> float:
    """The search's loss: weighted gaps to the targets, in :data:`STYLE_SCALES` steps."""
    return float(sum(config.weights[k] * g / STYLE_SCALES[k] for k, g in target_gaps(stats, targets).items()))


# --- selection -------------------------------------------------------------------------------

#: Gaps (dry clip to target) from which a module is tried: tone (mean dB per band), crest factor
#: (dB), decay (s), width (dB), balance (dB). Below them the statistic is as good as matched.
SELECT_TONE_DB = 1.0
SELECT_CREST_DB = 1.0
SELECT_DECAY_SECONDS = 0.1
SELECT_WIDTH_DB = 1.0
SELECT_BALANCE_DB = 1.0
#: A clip whose side is this far below its mid (dB) is mono: a widener has nothing to scale.
MONO_WIDTH_DB = -30.0


def select_modules(dry: StyleStats, targets: StyleTargets) -> list[tuple[str, str]]:
    """The modules the search tries, in :data:`STYLE_ORDER`, each with the gap that asks for it.

    Only modules that can close a gap the targets show are searched (fewer dimensions: each
    module the search holds at neutral still costs it renders); ``gain`` is always tried last,
    as every other module moves the level."""
    v = targets.values
    out: list[tuple[str, str]] = []
    tone = target_gaps(dry, targets)["envelope_db"]
    if tone > SELECT_TONE_DB:
        out.append(("equalizer", f"the tone is {tone:.1f} dB per band from its target"))
    if dry.crest_factor_db - v["crest_factor_db"] > SELECT_CREST_DB:
        out.append(("compressor", f"the crest factor should fall {dry.crest_factor_db - v['crest_factor_db']:.1f} dB"))
    wider = v["width_db"] - dry.width_db
    if v["decay_seconds"] - dry.decay_seconds > SELECT_DECAY_SECONDS or (
            wider > SELECT_WIDTH_DB and dry.width_db <= MONO_WIDTH_DB):
        out.append(("reverb", f"the decay should grow {v['decay_seconds'] - dry.decay_seconds:+.2f} s"
                    + (f" and the (mono) image widen {wider:.1f} dB" if wider > SELECT_WIDTH_DB
                       and dry.width_db <= MONO_WIDTH_DB else "")))
    if targets.echo_delay_seconds is not None:
        out.append(("delay", f"the reference echoes at {1000 * targets.echo_delay_seconds:.0f} ms"))
    if abs(wider) > SELECT_WIDTH_DB and dry.width_db > MONO_WIDTH_DB:
        out.append(("stereo_widener", f"the width should change {wider:+.1f} dB"))
    if abs(v["balance_db"] - dry.balance_db) > SELECT_BALANCE_DB:
        out.append(("panner", f"the balance should move {v['balance_db'] - dry.balance_db:+.1f} dB"))
    out.append(("gain", f"the loudness should change {v['loudness_lu'] - dry.loudness_lufs:+.1f} LU"))
    return out


# --- the search ------------------------------------------------------------------------------

def _chain_of(z: np.ndarray, modules: tuple[str, ...], targets: StyleTargets,
              eq_gains: Mapping[str, float] = MappingProxyType({})) -> Chain:
    settings = {m: {**module_spec(m).defaults(), **FIXED_SETTINGS.get(m, {}), **NEUTRAL[m]} for m in modules}
    if "equalizer" in settings:
        settings["equalizer"].update(eq_gains)
    if "delay" in settings and targets.echo_delay_seconds is not None:  # the measured echo, within the spec
        for name, value in (("delay_seconds", targets.echo_delay_seconds), ("feedback", targets.echo_feedback)):
            spec = param_spec("delay", name)
            settings["delay"][name] = float(np.clip(value, spec.minimum, spec.maximum))
    for (m, p), v in zip(_searched(modules), np.clip(z, 0.0, 1.0)):
        settings[m][p] = param_spec(m, p).denormalize(float(v))
    return Chain(tuple(tool_call(m, settings[m]) for m in modules)).at_precision()


def _searched(modules: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(m, p) for m, p in SEARCHED if m in modules]


def _band_response_db(sr: float, centres: np.ndarray, **gains: float) -> np.ndarray:
    """The style equalizer's response (dB) at ``centres`` with the given gains (others fixed)."""
    settings = {**module_spec("equalizer").defaults(), **FIXED_SETTINGS["equalizer"], **NEUTRAL["equalizer"], **gains}
    _, h = scipy.signal.sosfreqz(equalizer_sos(sr, **settings), worN=np.minimum(centres, 0.49 * sr), fs=sr)
    return 20.0 * np.log10(np.maximum(np.abs(h), 1e-9))


def fit_equalizer_gains(stats: StyleStats, targets: StyleTargets, sr: float,
                        start: Mapping[str, float] = MappingProxyType({})) -> dict[str, float]:
    """Least-squares gains of the style equalizer's three bands that move the envelope of
    ``stats`` to the target's shape (level left out), added to ``start`` (the gains that made
    ``stats``, if any), within the spec's range."""
    names = tuple(NEUTRAL["equalizer"])
    base = {n: float(start.get(n, 0.0)) for n in names}
    centres = np.asarray(stats.band_centres_hz)
    levels, goal = np.asarray(stats.band_levels_db), np.asarray(targets.band_levels_db)
    ok = (levels > BAND_FLOOR_DB) & np.isfinite(goal) & (centres < 0.45 * sr)
    if ok.sum() < len(names) + 1:
        return base
    want = goal[ok] - levels[ok]
    # the shelves and the peak are nearly linear in their gain (in dB): fit per-dB shapes and a level
    shapes = np.stack([_band_response_db(sr, centres[ok], **{n: 10.0}) / 10.0 for n in names], axis=1)
    design = np.concatenate([shapes, np.ones((int(ok.sum()), 1))], axis=1)
    solution = np.linalg.lstsq(design, want, rcond=None)[0]
    return {n: float(np.clip(base[n] + g, param_spec("equalizer", n).minimum, param_spec("equalizer", n).maximum))
            for n, g in zip(names, solution)}


def _start(modules: tuple[str, ...], dry: StyleStats, targets: StyleTargets) -> np.ndarray:
    """Where the search starts: neutral settings and the gain that closes the loudness gap."""
    z = []
    for m, p in _searched(modules):
        value = NEUTRAL[m][p]
        if (m, p) == ("gain", "gain_db"):  # the level gap closed by gain alone, as a start
            value = float(np.clip(targets.values["loudness_lu"] - dry.loudness_lufs, -20.0, 20.0))
        z.append(param_spec(m, p).normalize(value))
    return np.asarray(z, dtype=float)


@dataclass(frozen=True)
class StyleResult:
    """The chosen chain, its loss and gaps, and what the search did."""

    chain: Chain
    loss: float
    start_loss: float
    gaps_before: Mapping[str, float]
    gaps_after: Mapping[str, float]
    targets: StyleTargets
    renders: int
    seconds: float


class _Scorer:
    """Renders candidates on the dry clip and scores them against the targets (counting renders)."""

    def __init__(self, dry: np.ndarray, sr: float, targets: StyleTargets, config: StyleConfig) -> None:
        self.dry = dry[:, : int(config.max_seconds * sr)]
        self.sr, self.targets, self.config = sr, targets, config
        self.renders = 0

    def stats(self, chain: Chain) -> StyleStats:
        self.renders += 1
        wet = render(self.dry, self.sr, chain) if len(chain) else self.dry
        if not np.any(np.abs(wet) > 1e-6):  # a chain that silences the clip is never a style
            raise Llm2FxError("silent render")
        return style_stats(wet, self.sr, "render")

    def loss(self, chain: Chain) -> float:
        try:
            return style_loss(self.stats(chain), self.targets, self.config)
        except Llm2FxError:
            return math.inf


def search_style(dry: np.ndarray, sr: float, targets: StyleTargets, dry_stats: StyleStats, config: StyleConfig,
                 starts: Mapping[str, Chain] = MappingProxyType({}), stop: threading.Event | None = None,
                 say: Callable[[str], None] = lambda text: None,
                 modules: tuple[str, ...] | None = None) -> StyleResult:
    """CMA-ES over the parameters of ``modules`` (default: :func:`select_modules`) from
    :func:`_start`, then the best of that and ``starts`` (e.g. a planner's blind estimate),
    then pruning of modules that do not help."""
    import cma

    t0 = time.perf_counter()
    deadline = t0 + config.budget_seconds
    scorer = _Scorer(dry, sr, targets, config)
    if modules is None:
        modules = tuple(m for m, _ in select_modules(dry_stats, targets))
    empty = Chain(())
    start_loss = scorer.loss(empty)
    best_chain, best = empty, start_loss
    for label, chain in starts.items():
        value = scorer.loss(chain)
        say(f"{label} ({' -> '.join(chain.names) or 'empty'}): style loss {value:.2f} (the dry clip as it is: "
            f"{start_loss:.2f}).")
        if value < best:
            best_chain, best = chain, value
    eq: dict[str, float] = {}
    if "equalizer" in modules:
        eq = fit_equalizer_gains(dry_stats, targets, sr)
        say("Equalizer fitted to the tone (least squares over the 1/3-octave bands): "
            + ", ".join(f"{k} {v:+.1f} dB" for k, v in eq.items()) + ".")
    z0 = _start(modules, dry_stats, targets)
    found = _chain_of(z0, modules, targets, eq)
    searched = scorer.loss(found)
    next_note = time.perf_counter() + PROGRESS_SECONDS
    if z0.size:
        es = cma.CMAEvolutionStrategy(z0, config.sigma, {"bounds": [0.0, 1.0], "seed": config.seed + 1,
                                                         "verbose": -9, "maxfevals": 10 ** 6})
        while (not es.stop() and time.perf_counter() < deadline and scorer.renders < config.max_renders
               and not (stop is not None and stop.is_set())):
            zs = es.ask()
            losses = [scorer.loss(_chain_of(z, modules, targets, eq))
                      if time.perf_counter() < deadline and scorer.renders < config.max_renders else math.inf
                      for z in zs]
            if not np.isfinite(losses).any():
                break
            es.tell(zs, [v if math.isfinite(v) else 1e6 for v in losses])
            i = int(np.argmin(losses))
            if losses[i] < searched:
                searched, found = losses[i], _chain_of(zs[i], modules, targets, eq)
            if time.perf_counter() >= next_note:  # a long search says how far it is
                next_note += PROGRESS_SECONDS
                say(f"... {scorer.renders} renders, style loss {searched:.2f} so far.")
        say(f"CMA-ES over {len(_searched(modules))} parameters of {' -> '.join(m for m in modules if m != 'equalizer')}"
            f": {scorer.renders} renders, style loss {start_loss:.2f} -> {searched:.2f}.")
    if eq and math.isfinite(searched):  # the other modules moved the tone: fit the equalizer once more
        refit = fit_equalizer_gains(scorer.stats(found), targets, sr, eq)
        chain = Chain(tuple(tool_call("equalizer", {**c.params, **refit}) if c.name == "equalizer" else c
                            for c in found)).at_precision()
        value = scorer.loss(chain)
        if value < searched:
            say(f"Equalizer fitted again after the search: style loss {searched:.2f} -> {value:.2f}.")
            searched, found = value, chain
    if searched < best:
        best_chain, best = found, searched
    best_chain, best = _prune(scorer, best_chain, best, config, say)
    gaps_before = target_gaps(dry_stats, targets)
    after = scorer.stats(best_chain) if len(best_chain) else dry_stats
    return StyleResult(best_chain, best, start_loss, MappingProxyType(gaps_before),
                       MappingProxyType(target_gaps(after, targets)), targets, scorer.renders,
                       time.perf_counter() - t0)


def _prune(scorer: _Scorer, chain: Chain, loss: float, config: StyleConfig,
           say: Callable[[str], None]) -> tuple[Chain, float]:
    """Drop each module in turn (the last first) when the loss rises by at most the tolerance."""
    for i in reversed(range(len(chain))):
        shorter = Chain(chain.calls[:i] + chain.calls[i + 1:])
        value = scorer.loss(shorter)
        if value <= loss + config.prune_tolerance:
            say(f"Left out the {chain.calls[i].name}: style loss {loss:.2f} -> {value:.2f} without it.")
            chain, loss = shorter, value
    return chain, loss


# --- reasoning and the planner wrapper -------------------------------------------------------

#: How each statistic is named and shown in the reasoning: (label, unit, decimals).
_SHOWN = {"loudness_lu": ("loudness", "LUFS", 1), "crest_factor_db": ("crest factor", "dB", 1),
          "loudness_range_lu": ("loudness range", "LU", 1), "width_db": ("width (side/mid)", "dB", 1),
          "balance_db": ("balance (L/R)", "dB", 1), "decay_seconds": ("decay after onsets", "s", 2),
          "envelope_db": ("tone (1/3-octave envelope)", "dB", 1)}


def compare_sentence(dry: StyleStats, reference: StyleStats) -> str:
    """The statistics of both clips side by side, one clause each."""
    parts = []
    for key, (label, unit, dec) in _SHOWN.items():
        if key == "envelope_db":
            parts.append(f"their tone differs by {style_distance(dry, reference).gaps['envelope_db']:.1f} dB "
                         "per 1/3-octave band on average")
            continue
        mine, theirs = getattr(dry, STAT_FIELDS[key]), getattr(reference, STAT_FIELDS[key])
        parts.append(f"{label} {mine:.{dec}f} {unit} against {theirs:.{dec}f} {unit}")
    echo = (f"the reference has an echo at {1000 * reference.echo_delay_seconds:.0f} ms"
            if reference.echo_detected else "the reference shows no distinct echo")
    return "Dry clip against reference: " + "; ".join(parts) + f"; {echo}."


def gaps_sentence(result: StyleResult, config: StyleConfig) -> str:
    """How far the dry clip and the chosen render sit from each target."""
    parts = []
    for key, (label, unit, dec) in _SHOWN.items():
        unit = "LU" if key == "loudness_lu" else unit
        parts.append(f"{label} {result.gaps_before[key]:.{dec}f} -> {result.gaps_after[key]:.{dec}f} {unit}")
    return ("Gaps to the targets, dry clip -> render: " + "; ".join(parts)
            + f" (style loss {result.start_loss:.2f} -> {result.loss:.2f}).")


def _settings(call: Any) -> str:
    """The settings style mode chose (the searched ones, the equalizer's gains, the delay's echo)."""
    spec = module_spec(call.name)
    chosen = {p for m, p in SEARCHED if m == call.name} | set(NEUTRAL["equalizer"] if call.name == "equalizer" else ())
    return ", ".join(f"{p.name} {p.format_value(call.params[p.name])}" for p in spec.params
                     if p.name in chosen or call.name == "delay")


def style_stream(dry: Any, reference: Any, sample_rate: float, config: StyleConfig | None = None,
                 starts: Mapping[str, Chain] = MappingProxyType({}),
                 stop: threading.Event | None = None) -> Iterator[Thinking | StyleResult]:
    """Style mode's reasoning as :class:`Thinking` events, the :class:`StyleResult` last."""
    cfg = config or StyleConfig()
    stop = stop or threading.Event()  # also what the interpreter's exit sets
    sr = check_sample_rate(sample_rate)
    x, y = as_stereo_float32(dry, "dry"), as_stereo_float32(reference, "reference")
    dry_stats, ref_stats = style_stats(x, sr, "dry"), style_stats(y, sr, "reference")
    targets = style_targets(dry_stats, ref_stats, cfg)
    yield Thinking("Style mode: the reference is taken as a different recording, so its sound is matched, "
                   "not its notes.\n", "selection")
    yield Thinking(compare_sentence(dry_stats, ref_stats) + "\n", "selection")
    yield Thinking("Targets: " + "; ".join(f"{_SHOWN[k][0]} {targets.how[k]}" for k in _SHOWN) + "."
                   + (f" The reference's echo at {1000 * targets.echo_delay_seconds:.0f} ms gives a delay."
                      if targets.echo_delay_seconds is not None else "") + "\n", "selection")
    selected = select_modules(dry_stats, targets)
    yield Thinking("Modules to try: " + "; ".join(f"{m} ({why})" for m, why in selected) + ".\n", "selection")
    yield Thinking("They are chained in a mastering order (tone, dynamics, space, image, level): "
                   + " -> ".join(m for m, _ in selected) + ".\n", "order")
    # the search runs beside the stream, so its notes are read as they are made
    notes: queue.Queue[str | None] = queue.Queue()
    outcome: dict[str, Any] = {}

    def search() -> None:
        try:
            outcome["result"] = search_style(x, sr, targets, dry_stats, cfg, starts, stop, notes.put,
                                             tuple(m for m, _ in selected))
        except BaseException as exc:  # noqa: BLE001 - raised again in the stream's thread
            outcome["error"] = exc
        finally:
            notes.put(None)

    worker = start_background(search, name="style-search", stop=stop.set)
    while (text := notes.get()) is not None:
        yield Thinking(text + "\n", "refinement")
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    result: StyleResult = outcome["result"]
    if len(result.chain):
        yield Thinking("Style chain: " + "; ".join(f"{c.name}: {_settings(c)}" for c in result.chain) + ".\n",
                       "parameters")
    else:
        yield Thinking("No chain brought the dry clip closer to the targets; it is kept as it is.\n", "parameters")
    yield Thinking(gaps_sentence(result, cfg) + f" {result.renders} renders in {result.seconds:.1f} s.\n",
                   "refinement")
    yield result


class Styled:
    """Wrap any planner in style mode (``get_planner(name, style=True)``, ``llm2fx estimate
    --style``, the studio's switch).

    The planner's own estimate is asked for in blind mode (the reference against its
    pseudo-dry: how it would undo the reference's chain without the dry clip, which is what
    a same-recording planner can say about another recording) and joins the search as a
    candidate; its events stream as usual, then style mode's. Needs the dry clip.
    """

    #: :func:`~llm2fx_lab.planners.edits.plan_turn` does not offer style mode to a planner in it.
    style_mode = True

    def __init__(self, planner: Any, config: StyleConfig | None = None, **settings: Any) -> None:
        self.planner = planner
        self.config = (config or StyleConfig()).replace(**settings)
        self.name = f"{planner.name}{STYLE_SUFFIX}"

    def plan(self, dry: np.ndarray | None, reference: np.ndarray, sample_rate: float,
             instruction: str | None = None, stop: threading.Event | None = None) -> Iterator[Event]:
        if dry is None:
            raise PlannerError("style mode needs your dry track as well as the reference: it makes the dry track "
                               "sound like the reference (without a dry track, use the planner's blind mode)")
        clock = StreamClock()
        inner: Final | None = None
        texts: list[str] = []
        try:
            for event in self.planner.plan(None, reference, sample_rate, instruction=instruction, stop=stop):
                if isinstance(event, Final):
                    inner = event
                elif not isinstance(event, (Response, ToolCallEvent)):
                    yield clock.mark(event)
        except Llm2FxError as exc:  # a planner without a blind mode: style mode searches alone
            text = f"The {self.planner.name} planner gave no blind estimate ({exc}); style mode searches alone.\n"
            texts.append(text)
            yield clock.mark(Thinking(text, "selection"))
            inner = Final(Chain(()), "", "", clock.timings(), planner=self.planner.name)
        if inner is None:
            raise PlannerError(f"planner {self.planner.name!r} ended its stream without a Final event")
        texts.insert(0, inner.reasoning)
        starts = {f"The {self.planner.name} planner's blind estimate": inner.chain} if len(inner.chain) else {}
        result: StyleResult | None = None
        if not inner.stopped:
            for item in style_stream(dry, reference, sample_rate, self.config, starts, stop):
                if isinstance(item, StyleResult):
                    result = item
                else:
                    texts.append(item.text)
                    yield clock.mark(item)
        chain = result.chain if result is not None else inner.chain
        response = (f"Style chain: {' -> '.join(chain.names)}." if len(chain)
                    else "Style mode: no chain brought the dry track closer to the reference's sound.")
        yield from wrapper_ending(clock, chain, "".join(texts), response, inner, self.name)


def with_content_check(stream: Iterator[Event], dry: Any, reference: Any, sample_rate: float) -> Iterator[Event]:
    """A planner's stream, preceded (and its reasoning prefixed) by a note when the dry clip and
    the reference do not seem to hold the same recording (:func:`~llm2fx_lab.analysis.style.content_match`),
    which offers style mode. Pairs the check cannot measure pass through unchanged."""
    try:
        match = content_match(dry, reference, sample_rate)
    except Llm2FxError:
        match = None
    if match is None or match.same_content:
        yield from stream
        return
    note = match.sentence() + "\n"
    yield Thinking(note, "selection")
    for event in stream:
        yield dataclasses.replace(event, reasoning=note + event.reasoning) if isinstance(event, Final) else event
