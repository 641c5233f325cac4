"""Refinement: render -> measure -> refine, the loop the paper leaves as future work.

:func:`refine_stream` improves a chain against a (dry, reference) pair and streams its
reasoning ("reverb mix 0.62 -> 0.41, loss 3.4 -> 2.7"):

1. **gradient descent** on the continuous parameters (all but the delay's time and
   feedback, see :attr:`RefineConfig.frozen`) through the torch renderer
   (:func:`llm2fx_lab.fx.torch_render.render_params`) against the multi-resolution STFT
   loss (:func:`llm2fx_lab.analysis.mrstft.mrstft_loss`) plus a loudness and a stereo
   (side/mid) term. Parameters
   live in the normalised space of the spec: ``value = denormalize(lo + (1 - lo) sigmoid(z))``,
   so every step stays in range (``lo`` is the normalised lowest valid value);
2. **structure**: the order search of the AnalysisPlanner
   (:func:`~llm2fx_lab.planners.analysis_planner.search_order`) on the tuned parameters; then
   each module the presence trees are unsure about is toggled (removed, or added where it
   lowers the loss most at its measured settings), the chain tuned a few steps, and the change
   kept when the loss evidence outweighs the trees' prior
   (:attr:`RefineConfig.presence_loss_weight`); a changed chain is ordered and tuned again.

The loss is measured on a short crop (the loudest ``crop_seconds``) for speed; the dry clip
is rendered from up to ``preroll_seconds`` before the crop and the pre-roll cut off, since
the reference's crop holds tails and compressor state from before it
(:mod:`~llm2fx_lab.planners.analysis_planner.crop`).
The returned chain is never worse than the input under that loss: when the trees' prior has
outweighed loss rises that leave the chain above its start, the lowest-loss chain seen is kept.
:class:`Refined` wraps any planner with this loop. Every tuning knob is a field of
:class:`RefineConfig`.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generator, Iterator, Mapping

import numpy as np
import torch

from llm2fx_lab.analysis.mrstft import mrstft_loss, mrstft_spectra, torch_magnitudes
from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.errors import ParameterError, replace_fields
from llm2fx_lab.events import (
    REFINE_SUFFIX,
    SEARCH_SUFFIX,
    Event,
    Final,
    Response,
    StreamClock,
    Thinking,
    wrapper_ending,
)
from llm2fx_lab.fx.chain import Chain, as_chain, tool_call
from llm2fx_lab.fx.spec import LOG_OFFSET, MODULE_NAMES, ParamSpec
from llm2fx_lab.fx.spec import module as module_spec
from llm2fx_lab.fx.torch_render import render_params, resolve_device
from llm2fx_lab.planners.analysis_planner import (
    PREROLL_SECONDS,
    loudest_span,
    presence_priors,
    search_order,
    search_order_torch,
)
from llm2fx_lab.planners.grid_search import GridConfig, describe_changes, grid_search


@dataclass(frozen=True)
class RefineConfig:
    """Settings of refinement (:func:`refine_stream`, :class:`Refined`).

    The defaults are the values ``docs/benchmarks.md`` was measured with; how each was chosen
    is in ``docs/decisions.md``.

    Parameters
    ----------
    steps : int
        Gradient steps of the main descent; the structure search tunes each toggled chain
        ``min(toggle_steps, steps)`` steps, and a changed chain a third as many as ``steps``.
    budget_seconds : float
        Wall-clock budget; the loop stops early when it is spent.
    crop_seconds : float
        Length of the loudest crop the loss is measured on.
    preroll_seconds : float
        Seconds of the dry clip rendered before the crop and then cut off, so that tails and
        dynamics state entering the crop match the reference's; 0 renders the crop alone.
    lr : float
        Adam's learning rate on the parameters' latent (logit of the normalised value) scale.
    structure : bool
        Search the order and the presence of modules after the descent; False tunes the
        parameters only.
    frozen : frozenset of (module, parameter)
        Parameters the descent leaves alone: the delay time (the torch delay rounds it to
        samples, so it has no useful gradient) and the delay feedback (its descent on the crop
        moved fair estimates towards 0).
    loudness_weight : float
        Weight of the loudness term of the loss, per dB of rms level difference.
    stereo_weight : float
        Weight of the stereo term, per dB of side/mid difference.
    presence_loss_weight : float
        A toggled module stays present when ``logit(p) + presence_loss_weight *
        ln(loss without / loss with) > 0``, ``p`` being the presence trees' probability (0.5
        without shipped trees: then the loss alone decides).
    toggle_max_logit : float
        Modules the trees are this sure about (|logit| above it) are not toggled where the
        chain agrees with them.
    toggle_steps : int
        Gradient steps that tune a chain after a module is toggled.
    add_settings : mapping module -> parameters
        Settings a module gets when the structure search adds it and the pair's measurements
        give none (:class:`~llm2fx_lab.planners.analysis_planner.PresencePriors` gives them for
        every module but gain when the analysis models are shipped).
    grid : bool
        After the descent and the structure search, search the sampler's grid from the chain
        (:func:`~llm2fx_lab.planners.grid_search.grid_search`, with ``grid_config``, its own
        time budget); the ``+search`` planners set it.
    grid_config : GridConfig
    """

    steps: int = 25
    budget_seconds: float = 15.0
    crop_seconds: float = 1.5
    preroll_seconds: float = PREROLL_SECONDS
    lr: float = 0.15
    structure: bool = True
    frozen: frozenset[tuple[str, str]] = frozenset({("delay", "delay_seconds"), ("delay", "feedback")})
    loudness_weight: float = 0.02
    stereo_weight: float = 0.01
    presence_loss_weight: float = 10.0
    toggle_max_logit: float = math.log(19.0)
    toggle_steps: int = 8
    grid: bool = False
    grid_config: GridConfig = field(default_factory=GridConfig)
    add_settings: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: MappingProxyType({
        "gain": {"gain_db": 4.0},
        "equalizer": {},
        "compressor": {"threshold_db": -20.0, "ratio": 4.0, "attack_ms": 20.0, "release_ms": 200.0},
        "distortion": {"drive_db": 8.0},
        "reverb": {"room_size": 0.5, "damping": 0.5, "width": 0.5, "mix_ratio": 0.3},
        "delay": {"delay_seconds": 0.3, "feedback": 0.3, "mix_ratio": 0.3},
        "limiter": {"threshold_db": -10.0, "release_ms": 200.0},
        "panner": {"pan": 0.3},
        "stereo_widener": {"width": 1.3},
    }))

    def __post_init__(self) -> None:
        for name in ("steps", "toggle_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ParameterError(f"steps must be >= 0, got {value!r}" if name == "steps"
                                     else f"RefineConfig.{name} must be a whole number >= 0, got {value!r}")
        for name in ("budget_seconds", "crop_seconds", "lr"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ParameterError(f"RefineConfig.{name} must be a number > 0, got {value!r}")
        if not (isinstance(self.preroll_seconds, (int, float)) and math.isfinite(self.preroll_seconds)
                and self.preroll_seconds >= 0):
            raise ParameterError(f"preroll_seconds must be a finite number >= 0, got {self.preroll_seconds!r}")
        for name in ("loudness_weight", "stereo_weight", "presence_loss_weight", "toggle_max_logit"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ParameterError(f"RefineConfig.{name} must be a number >= 0, got {value!r}")
        missing = sorted(set(MODULE_NAMES) - set(self.add_settings))
        if missing:
            raise ParameterError(f"RefineConfig.add_settings needs settings for every module; missing {', '.join(missing)}")

    def replace(self, **changes: Any) -> "RefineConfig":
        """A copy with ``changes``; :class:`ParameterError` naming the allowed fields for an unknown one."""
        return replace_fields(self, changes)

def _level_db(x: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(x.pow(2).mean(dim=(1, 2)) + 1e-10)


def _side_to_mid_db(x: torch.Tensor) -> torch.Tensor:
    mid, side = (x[:, 0] + x[:, 1]) / 2, (x[:, 0] - x[:, 1]) / 2
    return 10 * torch.log10((side.pow(2).mean(-1) + 1e-10) / (mid.pow(2).mean(-1) + 1e-10))


class Target:
    """What the loss needs of the reference (``(batch, channels, samples)``), computed once."""

    def __init__(self, y: torch.Tensor) -> None:
        self.y = y
        self.magnitudes = torch_magnitudes(y)
        self.level_db = _level_db(y)
        self.side_to_mid_db = _side_to_mid_db(y)


def total_loss(estimate: torch.Tensor, target: torch.Tensor | Target,
               config: RefineConfig = RefineConfig()) -> torch.Tensor:
    """MR-STFT + loudness + stereo terms, per batch item: ``(batch,)``."""
    t = target if isinstance(target, Target) else Target(target)
    return (mrstft_loss(estimate, t.magnitudes)
            + config.loudness_weight * (_level_db(estimate) - t.level_db).abs()
            + config.stereo_weight * (_side_to_mid_db(estimate) - t.side_to_mid_db).clamp(-40, 40).abs())


# --- normalised parameterisation ----------------------------------------------------------

def _to_latent(p: ParamSpec, value: float) -> float:
    lo = p.normalize(p.lowest_valid)
    u = (p.normalize(value) - lo) / max(1 - lo, 1e-9)
    u = min(max(u, 0.02), 0.98)
    return math.log(u / (1 - u))


def _from_latent(p: ParamSpec, z: torch.Tensor) -> torch.Tensor:
    lo = p.normalize(p.lowest_valid)
    u = lo + (1 - lo) * torch.sigmoid(z)
    span = p.maximum - p.minimum
    if p.scale == "lin":
        return p.minimum + u * span
    return p.minimum + LOG_OFFSET * torch.expm1(u * math.log1p(span / LOG_OFFSET))


@dataclass
class RefineResult:
    chain: Chain
    loss_before: float
    loss_after: float
    notes: list[str]
    seconds: float


class _Problem:
    """The crop (with the dry clip's pre-roll before it, see
    :func:`~llm2fx_lab.planners.analysis_planner.loudest_span`), the target and the loss of a
    chain on it."""

    def __init__(self, dry: np.ndarray, reference: np.ndarray, sr: float, config: RefineConfig, device: Any):
        span = loudest_span(dry, reference, sr, config.crop_seconds, config.preroll_seconds)
        self.sr = sr
        self.span = span
        self.config = config
        self.device = resolve_device(device, warn_cpu_fallback=False)
        self.x = torch.from_numpy(np.ascontiguousarray(span.dry))[None].to(self.device)
        self.y = Target(torch.from_numpy(np.ascontiguousarray(span.reference))[None].to(self.device))

    def render(self, names: list[str], params: dict[str, dict[str, Any]]) -> torch.Tensor:
        """The chain's render of the crop (the pre-roll is rendered, then cut off)."""
        return self.span.tail(render_params(self.x, self.sr, names, params, device=self.device))

    def total(self, estimate: torch.Tensor) -> torch.Tensor:
        return total_loss(estimate, self.y, self.config)

    def loss(self, chain: Chain) -> float:
        chain = chain.active
        with torch.no_grad():
            est = self.render(list(chain.names), {c.name: c.params for c in chain})
            return float(self.total(est)[0])


def _descend(problem: _Problem, chain: Chain, steps: int, lr: float, deadline: float) -> Chain:
    chain = chain.active
    if not len(chain) or steps <= 0:
        return chain
    latents: dict[tuple[str, str], torch.Tensor] = {}
    for call in chain:
        for p in module_spec(call.name).params:
            if (call.name, p.name) not in problem.config.frozen:
                latents[(call.name, p.name)] = torch.tensor([_to_latent(p, call[p.name])], device=problem.device,
                                                            requires_grad=True)
    if not latents:
        return chain
    opt = torch.optim.Adam(list(latents.values()), lr=lr)
    names = list(chain.names)

    def current() -> dict[str, dict[str, Any]]:
        params: dict[str, dict[str, Any]] = {}
        for call in chain:
            spec = module_spec(call.name)
            params[call.name] = {p.name: (_from_latent(p, latents[(call.name, p.name)])
                                          if (call.name, p.name) in latents else call[p.name]) for p in spec.params}
        return params

    best_chain, best = chain, math.inf
    for _ in range(steps + 1):
        if time.perf_counter() > deadline:
            break
        opt.zero_grad()
        params = current()
        loss = problem.total(problem.render(names, params))[0]
        if not torch.isfinite(loss):
            break
        value = float(loss.detach())
        if value < best:
            # the loss of the parameters just rendered: keep them (snapped into range)
            best = value
            best_chain = Chain(tuple(tool_call(n, {k: float(v.detach()) if torch.is_tensor(v) else float(v)
                                                 for k, v in params[n].items()}, mode="lenient")
                                     for n in names))
        loss.backward()
        opt.step()
    return best_chain


def _logit(p: float) -> float:
    p = min(max(p, 1e-3), 1 - 1e-3)
    return math.log(p / (1 - p))


def _toggled(problem: _Problem, chain: Chain, name: str, candidates: dict[str, dict[str, float]]) -> Chain:
    """``chain`` without ``name``, or with it added where it lowers the loss most (gain closing
    the level gap the chain leaves on the crop; any other module at its measured settings)."""
    if name in chain:
        return chain.without(name)
    if name == "gain":
        with torch.no_grad():
            est = problem.render(list(chain.names), {c.name: c.params for c in chain})
        gap_db = float((problem.y.level_db - _level_db(est))[0])
        params = {"gain_db": float(np.clip(gap_db, -20.0, 20.0))}
    else:
        params = candidates.get(name, problem.config.add_settings[name])
    call = tool_call(name, params, mode="lenient")
    trials = [Chain(chain.calls[:k] + (call,) + chain.calls[k:]) for k in range(len(chain) + 1)]
    return min(trials, key=problem.loss)


def _search_order(problem: _Problem, chain: Chain, sr: float) -> tuple[Chain, list[str]]:
    """:func:`~llm2fx_lab.planners.analysis_planner.search_order` on the refinement's crop (on a
    GPU, :func:`~llm2fx_lab.planners.analysis_planner.search_order_torch` there)."""
    if len(chain) < 2:
        return chain, []
    calls = {c.name: c for c in chain}
    if problem.device.type == "cpu":
        names, notes = search_order(list(chain.names), calls, problem.span, mrstft_spectra(problem.span.reference),
                                    sr)
    else:
        names, notes = search_order_torch(list(chain.names), calls, problem.span, sr, problem.device)
    return Chain(tuple(calls[n] for n in names)), notes


class _State:
    """The chain being refined, its loss, and the lowest-loss chain seen."""

    def __init__(self, chain: Chain, loss: float) -> None:
        self.chain, self.loss = chain, loss
        self.lowest = (chain, loss)

    def take(self, chain: Chain, loss: float) -> None:
        self.chain, self.loss = chain, loss
        if loss < self.lowest[1]:
            self.lowest = (chain, loss)


def _structure_search(problem: _Problem, dry: np.ndarray, reference: np.ndarray, sr: float, state: _State,
                      steps: int, lr: float, deadline: float, stop: threading.Event | None,
                      say: Any) -> Iterator[Thinking]:
    """Order search, then module toggles weighed against the trees' prior (see
    :attr:`RefineConfig.presence_loss_weight`): the chain's modules first (least likely first),
    then the missing ones (likeliest first), each against the chain as the earlier toggles left
    it; then, if the modules changed, order search and tuning again."""
    cfg = problem.config

    def halted() -> bool:
        return time.perf_counter() > deadline or (stop is not None and stop.is_set())

    def reorder() -> Iterator[Thinking]:
        ordered, notes = _search_order(problem, state.chain, sr)
        for text in notes:
            yield say(text)
        if ordered.names != state.chain.names:
            state.take(ordered, problem.loss(ordered))

    if halted():
        return
    yield from reorder()
    priors = presence_priors(dry, reference, sr)
    logits = {m: _logit(priors.probability.get(m, 0.5)) for m in MODULE_NAMES}
    # a module the trees are sure about is still checked when the chain disagrees with them
    # (e.g. a model planner's chain)
    # removals first, least likely first: a spurious module (say a loud distortion) would
    # otherwise make missing ones look useful as compensation; then additions, likeliest first
    checked = [m for m in MODULE_NAMES
               if abs(logits[m]) <= cfg.toggle_max_logit or (m in state.chain) != (logits[m] > 0)]
    doubtful = (sorted((m for m in checked if m in state.chain), key=lambda m: logits[m])
                + sorted((m for m in checked if m not in state.chain), key=lambda m: -logits[m]))
    sure = [m for m in MODULE_NAMES if m not in checked]
    tune_steps = min(cfg.toggle_steps, steps)
    yield say("Presence check by rendering"
              + (f" (the trees are sure about {', '.join(sure)}, and the chain agrees)" if sure else "")
              + f": each of {', '.join(doubtful) or 'none'} is toggled and the chain tuned "
              f"{tune_steps} steps; a module stays present when the trees' log-odds plus "
              f"{cfg.presence_loss_weight:g} x ln(loss without / loss with) is positive.")
    changed = False
    for name in doubtful:
        if halted():
            yield say("The time budget is spent; the remaining modules keep their presence.")
            break
        present = name in state.chain
        trial = _descend(problem, _toggled(problem, state.chain, name, priors.candidates), tune_steps, lr, deadline)
        value = problem.loss(trial)
        with_loss, without_loss = (state.loss, value) if present else (value, state.loss)
        evidence = cfg.presence_loss_weight * math.log(max(without_loss, 1e-9) / max(with_loss, 1e-9))
        keep = logits[name] + evidence > 0
        verdict = ("kept" if keep else "removed") if present else ("added" if keep else "not added")
        yield say(f"{name} (trees {priors.probability.get(name, 0.5):.2f}, log-odds {logits[name]:+.2f}): loss "
                  f"with {with_loss:.3f}, without {without_loss:.3f}, evidence {evidence:+.2f}; {verdict}.")
        if keep != present:
            state.take(trial, value)
            changed = True
    if changed and not halted():
        yield from reorder()
        tuned = _descend(problem, state.chain, max(steps // 3, 1), lr, deadline)
        value = problem.loss(tuned)
        if value < state.loss:
            yield say(f"Tuning the new chain: loss {state.loss:.3f} -> {value:.3f}.")
            state.take(tuned, value)


def refine_stream(chain: Any, dry: Any, reference: Any, sample_rate: float, config: RefineConfig | None = None,
                  device: Any = "auto", stop: threading.Event | None = None,
                  **settings: Any) -> Generator[Thinking, None, RefineResult]:
    """Refine ``chain`` and stream "refinement" thinking; the generator returns a :class:`RefineResult`.

    Parameters
    ----------
    chain : Chain or tool-call data
    dry, reference : array_like, shape (channels, samples)
    sample_rate : float
        In Hz.
    config : RefineConfig, optional
        Every tuning knob; the defaults without it.
    device : str
        ``"auto"`` (CUDA when available, else the CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    stop : threading.Event, optional
        When set, the structure search ends early (the chain so far is returned).
    **settings
        Single :class:`RefineConfig` fields over ``config``, e.g. ``steps=50``.

    Raises
    ------
    ParameterError
        An unknown or out-of-range setting.
    BackendError
        An unknown device, or CUDA asked for where there is none.
    """
    cfg = (config or RefineConfig()).replace(**settings)
    steps, lr = cfg.steps, cfg.lr
    t0 = time.perf_counter()
    deadline = t0 + float(cfg.budget_seconds)
    sr = check_sample_rate(sample_rate)
    chain = as_chain(chain, "lenient")
    dry, reference = as_stereo_float32(dry, "dry"), as_stereo_float32(reference, "reference")
    problem = _Problem(dry, reference, sr, cfg, device)
    start = problem.loss(chain)
    notes: list[str] = []

    def say(text: str) -> Thinking:
        notes.append(text)
        return Thinking(text + "\n", "refinement")

    pre = problem.span.preroll_samples / sr
    yield say(f"Refinement on a {cfg.crop_seconds:g} s crop" + (f" after {pre:.1f} s of pre-roll" if pre else "")
              + f" ({problem.device.type}): "
              f"loss (MR-STFT + loudness + stereo) {start:.3f}.")
    state = _State(chain.active, start)
    tuned = _descend(problem, state.chain, steps, lr, deadline)
    value = problem.loss(tuned)
    if value < start:
        changes = describe_changes(state.chain, tuned, min_change=0.03)
        yield say(f"Gradient descent ({steps} steps): loss {start:.3f} -> {value:.3f}"
                  + (f"; {', '.join(changes)}." if changes else "."))
        state.take(tuned, value)
    else:
        yield say("Gradient descent found no lower loss; parameters kept.")
    if cfg.structure:
        yield from _structure_search(problem, dry, reference, sr, state, steps, lr, deadline, stop, say)
    best_chain, best = state.chain, state.loss
    if best > start:
        # the trees' prior outweighed a small loss rise; never return a chain worse than the input
        best_chain, best = state.lowest
        yield say(f"The structure changes leave the loss above the start ({state.loss:.3f} > {start:.3f}); "
                  f"the lowest-loss chain seen ({' -> '.join(best_chain.names) or 'empty'}) is kept.")
    yield say(f"Refined loss {start:.3f} -> {best:.3f} in {time.perf_counter() - t0:.1f} s.")
    if cfg.grid and not (stop is not None and stop.is_set()):
        searched = grid_search(best_chain, dry, reference, sr, cfg.grid_config, device=problem.device)
        for note in searched.notes:
            yield say(f"Grid search: {note}")
        if searched.chain != best_chain:
            best_chain, best = searched.chain, problem.loss(searched.chain)
    return RefineResult(best_chain, start, best, notes, time.perf_counter() - t0)


def refine(chain: Any, dry: Any, reference: Any, sample_rate: float, **options: Any) -> RefineResult:
    """Run :func:`refine_stream` to its end (see there for the options)."""
    gen = refine_stream(chain, dry, reference, sample_rate, **options)
    while True:
        try:
            next(gen)
        except StopIteration as done:
            return done.value


class Refined:
    """Wrap a planner: its stream, then refinement of its chain (needs the dry clip).

    The inner planner's events pass through except its :class:`Final`; refinement thinking
    follows, then the refined chain's tool calls are sent again from index 0 (a consumer
    treats a repeated index as a replacement), then one :class:`Final`.

    Parameters
    ----------
    planner : Planner
    config : RefineConfig, optional
    device : str
        Where refinement runs (see :func:`refine_stream`).
    **settings
        Single :class:`RefineConfig` fields over ``config``; checked here, before any work.
    """

    def __init__(self, planner: Any, config: RefineConfig | None = None, device: Any = "auto",
                 **settings: Any) -> None:
        self.planner = planner
        self.config = (config or RefineConfig()).replace(**settings)
        self.device = device
        self.name = f"{planner.name}{SEARCH_SUFFIX if self.config.grid else REFINE_SUFFIX}"

    def plan(self, dry: np.ndarray | None, reference: np.ndarray, sample_rate: float,
             instruction: str | None = None, stop: threading.Event | None = None) -> Iterator[Event]:
        clock = StreamClock()
        inner: Final | None = None
        for event in self.planner.plan(dry, reference, sample_rate, instruction=instruction, stop=stop):
            if isinstance(event, Final):
                inner = event
            elif not isinstance(event, Response):
                yield clock.mark(event)
        assert inner is not None
        chain, texts = inner.chain, [inner.reasoning]
        if dry is None:
            text = "Refinement needs the dry clip; skipped in blind mode.\n"
            texts.append(text)
            yield clock.mark(Thinking(text, "refinement"))
        elif not inner.stopped:
            gen = refine_stream(chain, dry, reference, sample_rate, self.config, self.device, stop)
            while True:
                try:
                    event = next(gen)
                except StopIteration as done:
                    chain = done.value.chain
                    break
                texts.append(event.text)
                yield clock.mark(event)
        response = (f"Refined chain: {' -> '.join(chain.names)}." if len(chain)
                    else "After refinement the chain is empty.")
        # a chain refinement did not touch (blind mode, a stopped planner) is not sent again
        yield from wrapper_ending(clock, chain, "".join(texts), response, inner, self.name,
                                  resend=dry is not None and not inner.stopped)
