"""Grid search: the sampler's grid, searched with exact renders, from an estimate.

The references of LP-Fx-style pairs are rendered by the same modules we render with, from
parameters drawn on the official sampler's grid (``../shared/reference``, and
:func:`llm2fx_lab.data.chains.param_grid`): the true chain is a point of that grid and its loss
is zero. Gradient descent from an estimate stops in local minima (``scripts/refine_gap.py``);
this stage instead moves on the grid itself:

1. :func:`snap_to_grid` puts every parameter on its nearest grid value;
2. :func:`coordinate_search` tries, for one parameter at a time, the grid values around the
   current one (and, for the compressor, threshold and ratio together: they trade off along a
   ridge that one-at-a-time moves cannot leave), all candidates rendered in one batch through
   the torch renderer from the cached output of the modules before the one that changes, and
   keeps the best; sweeps repeat until nothing changes or the time is up;
3. :func:`structure_search` changes the modules, one move at a time and the chain searched
   again after each: a module removed and the rest re-tuned (kept when the loss does not rise),
   an absent module inserted or put in place of another (kept when the loss falls by a tenth),
   neighbours that do not commute swapped;
4. :func:`prune` removes each module in turn and keeps the removal when the loss does not rise.

The loss is :func:`llm2fx_lab.planners.refine.total_loss` on the loudest ``crop_seconds`` with
the dry clip's pre-roll (:func:`~llm2fx_lab.planners.analysis_planner.loudest_span`), as in
refinement. Each stage is a function; :func:`grid_search` runs them in order under one time
budget and says what each changed, with the loss before and after.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.data.chains import param_grid
from llm2fx_lab.errors import ParameterError, replace_fields
from llm2fx_lab.fx.chain import Chain, ToolCall, as_chain, tool_call
from llm2fx_lab.fx.spec import MODULE_NAMES
from llm2fx_lab.fx.spec import module as module_spec
from llm2fx_lab.fx.torch_render import render_params, resolve_device
from llm2fx_lab.planners.analysis_planner import PREROLL_SECONDS, commutes, loudest_span, presence_priors


@dataclass(frozen=True)
class GridConfig:
    """Knobs of the grid search.

    Parameters
    ----------
    crop_seconds : float
        Length of the loudest stretch the loss is measured on.
    preroll_seconds : float
        Dry clip rendered before the crop (tails and compressor state).
    neighbours : int
        Grid steps tried on each side of a parameter's value per sweep.
    max_sweeps : int
        Coordinate sweeps at most (a sweep visits every parameter once).
    joint : tuple of (module, parameter, parameter)
        Parameter pairs searched together on the product of their neighbourhoods.
    batch_size : int
        Candidates rendered in one torch batch.
    pairs : bool
        When one-at-a-time moves stop helping, try every two parameters one step each.
    prune : bool
        Try removing each module after the search.
    structure : bool
        After the parameter search, try changing the modules (:func:`structure_search`):
        removing one and re-tuning the rest, inserting an absent one, swapping neighbours.
    insert_spread : mapping module -> parameter -> values
        Grid values an inserted module is tried with besides its measured settings (a coarse
        spread; the coordinate search refines the winner). Parameters not named keep the
        measured value (or the spec default).
    insert_gain : float
        An insertion is kept only when it lowers the distance by at least this share.
    retune_sweeps : int
        Coordinate sweeps that re-tune a chain after a structure change.
    budget_seconds : float
        Wall-clock budget of the whole search; when it runs out the best chain so far is kept.
    """

    crop_seconds: float = 0.5
    preroll_seconds: float = PREROLL_SECONDS
    resolutions: tuple[tuple[int, int], ...] = ((1024, 256), (256, 64))
    neighbours: int = 2
    max_sweeps: int = 30
    joint: tuple[tuple[str, str, str], ...] = (("compressor", "threshold_db", "ratio"),)
    batch_size: int = 16
    pairs: bool = True
    prune: bool = True
    structure: bool = True
    insert_spread: Mapping[str, Mapping[str, tuple[float, ...]]] = field(default_factory=lambda: MappingProxyType({
        "gain": {"gain_db": (-18.0, -12.0, -6.0, -2.0, 2.0, 6.0, 12.0, 18.0)},
        "distortion": {"drive_db": (2.0, 6.0, 10.0, 14.0, 18.0)},
        "panner": {"pan": (-0.8, -0.5, -0.2, 0.2, 0.5, 0.8)},
        "stereo_widener": {"width": (0.2, 0.5, 0.8, 1.2, 1.4)},
        "limiter": {"threshold_db": (-18.0, -12.0, -6.0, -2.0)},
        "compressor": {"threshold_db": (-35.0, -25.0, -15.0, -5.0), "ratio": (3.0, 8.0, 16.0)},
        "reverb": {"room_size": (0.2, 0.5, 0.8), "mix_ratio": (0.2, 0.5, 0.9)},
    }))
    insert_gain: float = 0.1
    retune_sweeps: int = 3
    budget_seconds: float = 8.0

    def __post_init__(self) -> None:
        for name in ("crop_seconds", "budget_seconds"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ParameterError(f"GridConfig.{name} must be a number > 0, got {value!r}")
        if not (isinstance(self.preroll_seconds, (int, float)) and math.isfinite(self.preroll_seconds)
                and self.preroll_seconds >= 0):
            raise ParameterError(f"GridConfig.preroll_seconds must be a finite number >= 0, got {self.preroll_seconds!r}")
        if not (isinstance(self.insert_gain, (int, float)) and 0 <= self.insert_gain < 1):
            raise ParameterError(f"GridConfig.insert_gain must be a number in [0, 1), got {self.insert_gain!r}")
        for name in ("neighbours", "max_sweeps", "batch_size", "retune_sweeps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"GridConfig.{name} must be a whole number >= 1, got {value!r}")
        for module_name, a, b in self.joint:
            spec = module_spec(module_name)  # raises for an unknown module, naming the allowed ones
            spec.param(a), spec.param(b)
        for module_name, spread in self.insert_spread.items():
            for name, values in spread.items():
                for v in values:  # raises naming the module, the parameter and its range
                    tool_call(module_name, {name: v})

    def replace(self, **changes: Any) -> "GridConfig":
        """A copy with ``changes``; :class:`ParameterError` naming the allowed fields for an unknown one."""
        return replace_fields(self, changes)


def grid_values(module_name: str, param_name: str) -> np.ndarray:
    """The sampler's grid of one parameter, at the precision the sampler writes (whole ms,
    otherwise 3 decimals), with the spec's lowest valid value where the grid starts below it."""
    spec = module_spec(module_name).param(param_name)
    values = param_grid(module_name, param_name)
    values = np.floor(values) if "ms" in param_name else np.round(values, 3)
    return np.unique(np.clip(values, spec.lowest_valid, spec.maximum))


def _snap_call(call: ToolCall) -> ToolCall:
    params = {}
    for name, value in call.params.items():
        spec = module_spec(call.name).param(name)
        grid = grid_values(call.name, name)
        units = np.array([spec.normalize(float(v)) for v in grid])
        params[name] = float(grid[int(np.argmin(np.abs(units - spec.normalize(float(value)))))])
    return tool_call(call.name, params)


def snap_to_grid(chain: Chain) -> Chain:
    """Every parameter on its nearest grid value (nearest in the spec's normalised units, so a
    log-scale parameter snaps in its own scale)."""
    return Chain(tuple(_snap_call(call) for call in chain.active))


class Problem:
    """The crop, the target and the batched loss of chains that differ in one module, rendered
    on ``device`` (a CUDA device renders the same batches; the search above it is the same)."""

    def __init__(self, dry: np.ndarray, reference: np.ndarray, sr: float, config: GridConfig,
                 device: Any = "cpu") -> None:
        self.span = loudest_span(dry, reference, sr, config.crop_seconds, config.preroll_seconds)
        self.sr = sr
        self.config = config
        self.device = resolve_device(device, warn_cpu_fallback=False)
        self.x = torch.from_numpy(np.ascontiguousarray(self.span.dry))[None].to(self.device)
        self.windows = {n: torch.hann_window(n, device=self.device) for n, _ in config.resolutions}
        self.target = self._log_magnitudes(
            torch.from_numpy(np.ascontiguousarray(self.span.reference))[None].to(self.device))
        self.renders = 0
        self.deadline = math.inf  # candidates not rendered by then get an infinite loss

    def _log_magnitudes(self, y: torch.Tensor) -> list[torch.Tensor]:
        flat = y.reshape(-1, y.shape[-1])
        return [torch.log(torch.stft(flat, n, hop, window=self.windows[n], return_complex=True).abs() + 1e-5)
                .reshape(y.shape[0], -1) for n, hop in self.config.resolutions]

    def distance(self, y: torch.Tensor, level_free: bool = False) -> torch.Tensor:
        """Mean absolute log-magnitude difference to the reference's crop over the
        resolutions, per batch item; ``level_free``: after the one level offset (the median
        log-magnitude difference) that matches them best, i.e. as if a gain closed the gap."""
        diffs = [m - t for m, t in zip(self._log_magnitudes(y), self.target)]
        if level_free:
            offset = torch.cat(diffs, -1).median(-1, keepdim=True).values
            diffs = [d - offset for d in diffs]
        return sum(d.abs().mean(-1) for d in diffs) / len(diffs)

    def level_gap_db(self, chain: Chain) -> float:
        """The gain (dB) that best closes the level gap between ``chain``'s render of the crop
        and the reference (the offset :meth:`distance` removes when ``level_free``)."""
        with torch.no_grad():
            y = self.prefix(list(chain.calls))[-1]
        diffs = [t - m for m, t in zip(self._log_magnitudes(self.span.tail(y)), self.target)]
        return float(torch.cat(diffs, -1).median()) * 20 / math.log(10)

    def prefix(self, calls: list[ToolCall], outs: list[torch.Tensor] | None = None,
               changed: int = 0) -> list[torch.Tensor]:
        """``out[k]``: the crop rendered through the first ``k`` calls (``out[0]`` is dry). Given
        the ``outs`` of a chain whose calls before ``changed`` are the same, only the rest is
        rendered again."""
        outs = [self.x] if outs is None else outs[:changed + 1]
        with torch.no_grad():
            for call in calls[len(outs) - 1:]:
                outs.append(render_params(outs[-1], self.sr, [call.name], {call.name: call.params},
                                          device=self.device, scan_audio=False))
        return outs

    def losses(self, start: torch.Tensor, calls: list[list[ToolCall]], level_free: bool = False) -> np.ndarray:
        """Loss of each candidate tail ``calls[i]`` rendered from ``start`` (batch 1); tails with
        the same modules render together, ``batch_size`` at a time. Past :attr:`deadline` the
        remaining candidates are not rendered (infinite loss)."""
        out = np.full(len(calls), np.inf)
        shapes: dict[tuple[str, ...], list[int]] = {}
        for i, tail in enumerate(calls):
            shapes.setdefault(tuple(c.name for c in tail), []).append(i)
        size = self.config.batch_size
        for names, members in shapes.items():
            for at in range(0, len(members), size):
                if time.monotonic() >= self.deadline:
                    return out
                group = members[at:at + size]
                params = {name: {p: torch.tensor([calls[i][j].params[p] for i in group], dtype=torch.float32)
                                 for p in calls[group[0]][j].params} for j, name in enumerate(names)}
                with torch.no_grad():
                    x = start.expand(len(group), -1, -1)
                    y = (render_params(x, self.sr, list(names), params, device=self.device, scan_audio=False)
                         if names else x)
                    out[group] = self.distance(self.span.tail(y), level_free).cpu().numpy()
                self.renders += len(group)
        return out

    def loss(self, chain: Chain) -> float:
        return float(self.losses(self.x, [list(chain.calls)])[0])


def _neighbourhood(module_name: str, param_name: str, value: float, n: int) -> list[float]:
    grid = grid_values(module_name, param_name)
    i = int(np.argmin(np.abs(grid - value)))
    return [float(v) for v in grid[max(0, i - n):i + n + 1]]


def _moves(call: ToolCall, config: GridConfig) -> list[dict[str, float]]:
    """Candidate settings of one module: each parameter's neighbourhood alone, and the joint
    pairs on the product of theirs."""
    joint = [(a, b) for m, a, b in config.joint if m == call.name]
    paired = {p for pair in joint for p in pair}
    out = []
    for name, value in call.params.items():
        if name in paired:
            continue
        for v in _neighbourhood(call.name, name, value, config.neighbours):
            if v != value:
                out.append({**call.params, name: v})
    for a, b in joint:
        for va, vb in itertools.product(_neighbourhood(call.name, a, call.params[a], config.neighbours),
                                        _neighbourhood(call.name, b, call.params[b], config.neighbours)):
            if (va, vb) != (call.params[a], call.params[b]):
                out.append({**call.params, a: va, b: vb})
    return out


def _step(module_name: str, param_name: str, value: float, steps: int) -> float | None:
    """The grid value ``steps`` away from ``value`` (None past either end)."""
    grid = grid_values(module_name, param_name)
    i = int(np.argmin(np.abs(grid - value))) + steps
    return float(grid[i]) if 0 <= i < len(grid) else None


def _pair_moves(calls: list[ToolCall]) -> list[tuple[int, list[ToolCall]]]:
    """Every two parameters moved one grid step each, both directions: (first module changed,
    the chain's calls from there)."""
    coords = [(k, name) for k, call in enumerate(calls) for name in call.params]
    out = []
    for (ka, a), (kb, b) in itertools.combinations(coords, 2):
        for da, db in itertools.product((-1, 1), (-1, 1)):
            va = _step(calls[ka].name, a, calls[ka].params[a], da)
            vb = _step(calls[kb].name, b, calls[kb].params[b], db)
            if va is None or vb is None:
                continue
            moved = list(calls)
            moved[ka] = tool_call(calls[ka].name, {**moved[ka].params, a: va})
            moved[kb] = tool_call(calls[kb].name, {**moved[kb].params, b: vb})
            out.append((ka, moved[ka:]))
    return out


def coordinate_search(problem: Problem, chain: Chain, loss: float, deadline: float,
                      pairs: bool = True, max_sweeps: int | None = None) -> tuple[Chain, float, int]:
    """Move one module's settings at a time to the best of their grid neighbourhood; when a
    sweep changes nothing, try every two parameters one step each (ridges, e.g. a gain and an
    EQ gain trading level); repeat until neither helps, ``max_sweeps`` (the config's without
    it) or the deadline. Returns (chain, loss, sweeps)."""
    calls = list(chain.calls)
    best = loss
    sweeps = 0
    limit = problem.config.max_sweeps if max_sweeps is None else max_sweeps
    while sweeps < limit and time.monotonic() < deadline:
        sweeps += 1
        changed = False
        prefix = problem.prefix(calls)
        for k, call in enumerate(calls):
            if time.monotonic() >= deadline:
                break
            options = _moves(call, problem.config)
            if not options:
                continue
            tails = [[tool_call(call.name, o)] + calls[k + 1:] for o in options]
            losses = problem.losses(prefix[k], tails)
            i = int(np.argmin(losses))
            if losses[i] < best - 1e-6:
                best = float(losses[i])
                calls[k] = tails[i][0]
                changed = True
                prefix = problem.prefix(calls, prefix, k)
        if changed or not pairs or time.monotonic() >= deadline:
            if not changed:
                break
            continue
        moves = _pair_moves(calls)
        by_start: dict[int, list[list[ToolCall]]] = {}
        for k, tail in moves:
            by_start.setdefault(k, []).append(tail)
        winner, winner_loss = None, best
        for k, tails in by_start.items():
            if time.monotonic() >= deadline:
                break
            losses = problem.losses(prefix[k], tails)
            i = int(np.argmin(losses))
            if losses[i] < winner_loss - 1e-6:
                winner, winner_loss = calls[:k] + tails[i], float(losses[i])
        if winner is None:
            break
        calls, best = winner, winner_loss
    return Chain(tuple(calls)), best, sweeps


#: A distance this small is a match: the search renders the crop in float32, and the true chain
#: measures about 1e-5 against its own reference.
EXACT_DISTANCE = 1e-4


def insert_settings(name: str, measured: Mapping[str, float] | None, config: GridConfig) -> list[dict[str, float]]:
    """The settings module ``name`` is tried with when it is inserted: its ``measured``
    settings (the spec's defaults where none), then those with each combination of
    ``config.insert_spread``'s values, all on the grid, without repeats."""
    base = {**module_spec(name).defaults(), **(measured or {})}
    spread = config.insert_spread.get(name, {})
    out: list[dict[str, float]] = []
    for values in [()] + list(itertools.product(*spread.values())):
        params = _snap_call(tool_call(name, {**base, **dict(zip(spread, values))}, mode="lenient")).params
        if params not in out:
            out.append(params)
    return out


def _insert_positions(calls: list[ToolCall], name: str) -> list[int]:
    """Where inserting ``name`` (before ``calls[k]``) can sound different: of the positions
    separated only by modules it commutes with, the first."""
    return [k for k in range(len(calls) + 1) if k == 0 or not commutes(name, calls[k - 1].name)]


def _where(calls: list[ToolCall], k: int) -> str:
    return "first" if k == 0 else f"after the {calls[k - 1].name}"


def _settings_text(call: ToolCall) -> str:
    spec = module_spec(call.name)
    return ", ".join(f"{spec.param(p).label} {spec.param(p).format_value(v)}" for p, v in call.params.items())


def _removal(problem: Problem, calls: list[ToolCall], loss: float, deadline: float,
             tries: int) -> tuple[list[ToolCall], float, str] | None:
    """The least useful modules (whose removal raises the distance least) taken out in turn,
    ``tries`` at most, the rest re-tuned; the first that matches as closely as before."""
    if len(calls) < 2:
        return None
    options = [calls[:k] + calls[k + 1:] for k in range(len(calls))]
    raw = problem.losses(problem.x, options)
    for k in np.argsort(raw)[:tries]:
        if not np.isfinite(raw[k]) or time.monotonic() >= deadline:
            break
        tuned, value, _ = coordinate_search(problem, Chain(tuple(options[k])), float(raw[k]), deadline, pairs=False,
                                            max_sweeps=problem.config.retune_sweeps)
        if value <= loss + 1e-6:
            return list(tuned.calls), value, (f"Without the {calls[k].name}, the other settings re-tuned, the match is "
                                              f"as close: distance {loss:.3f} -> {value:.3f}; removed.")
    return None


def _releveled(problem: Problem, calls: list[ToolCall]) -> list[ToolCall]:
    """``calls`` with their gain module (if any) moved by the level gap the chain leaves, on
    the grid: a module inserted where the other settings had made up for its absence changes
    the level they were tuned to."""
    at = [k for k, c in enumerate(calls) if c.name == "gain"]
    if not at:
        return calls
    k = at[0]
    gap_db = problem.level_gap_db(Chain(tuple(calls)))
    spec = module_spec("gain").param("gain_db")
    value = min(max(calls[k].params["gain_db"] + gap_db, spec.lowest_valid), spec.maximum)
    return calls[:k] + [_snap_call(tool_call("gain", {"gain_db": value}))] + calls[k + 1:]


def _insertion(problem: Problem, calls: list[ToolCall], prefix: list[torch.Tensor], loss: float, deadline: float,
               measured: Mapping[str, Mapping[str, float]]) -> tuple[list[ToolCall], float, str] | None:
    """Each absent module at each position where it can sound different, and in place of each
    present module, with :func:`insert_settings`. Candidates are ranked by their distance up to
    the level (``level_free``: the settings around them were tuned without the module; a gain
    is ranked by the plain distance, level being what it sets); the best is re-levelled
    (:func:`_releveled`), re-tuned, and kept when it lowers the distance by the config's
    ``insert_gain``."""
    cfg = problem.config
    present = {c.name for c in calls}
    current = {False: loss, True: float(problem.losses(problem.x, [calls], level_free=True)[0])}
    options: dict[tuple[int, bool], list[tuple[bool, list[ToolCall]]]] = {}
    for name in MODULE_NAMES:
        if name in present:
            continue
        level_free = name != "gain" and "gain" in present
        for params in insert_settings(name, measured.get(name), cfg):
            call = tool_call(name, params)
            for k in _insert_positions(calls, name):
                options.setdefault((k, level_free), []).append((False, [call] + calls[k:]))
            for k in range(len(calls)):
                options.setdefault((k, level_free), []).append((True, [call] + calls[k + 1:]))
    best, best_share = None, 1 - cfg.insert_gain
    for (k, level_free), group in options.items():
        losses = problem.losses(prefix[k], [tail for _, tail in group], level_free)
        i = int(np.argmin(losses))
        share = float(losses[i]) / max(current[level_free], 1e-12)
        if share < best_share:
            best, best_share = (k, *group[i]), share
    if best is None:
        return None
    k, replaces, tail = best
    trial = _releveled(problem, calls[:k] + tail)
    tuned, value, _ = coordinate_search(problem, Chain(tuple(trial)), problem.loss(Chain(tuple(trial))), deadline,
                                        pairs=False, max_sweeps=cfg.retune_sweeps)
    if value >= loss * (1 - cfg.insert_gain):
        return None
    added = tuned.calls[k]
    where = f"in place of the {calls[k].name}" if replaces else _where(calls, k)
    return list(tuned.calls), value, (f"A {added.name} {where} ({_settings_text(added)} after re-tuning): "
                                      f"distance {loss:.3f} -> {value:.3f}.")


def _swap(problem: Problem, calls: list[ToolCall], prefix: list[torch.Tensor],
          loss: float) -> tuple[list[ToolCall], float, str] | None:
    """Neighbours that do not commute swapped; the best when it lowers the distance."""
    best, best_loss = None, loss - 1e-6
    for k in range(len(calls) - 1):
        if commutes(calls[k].name, calls[k + 1].name):
            continue
        tail = [calls[k + 1], calls[k]] + calls[k + 2:]
        value = float(problem.losses(prefix[k], [tail])[0])
        if value < best_loss:
            best, best_loss = (k, tail), value
    if best is None:
        return None
    k, tail = best
    return calls[:k] + tail, best_loss, (f"The {tail[0].name} before the {tail[1].name} matches better: distance "
                                         f"{loss:.3f} -> {best_loss:.3f}.")


def structure_search(problem: Problem, chain: Chain, loss: float, deadline: float,
                     measured: Mapping[str, Mapping[str, float]] | None = None,
                     removal_tries: int = 2) -> tuple[Chain, float, list[str]]:
    """Change the modules while that lowers the distance, one move per round:

    - removal first (a spurious module makes absent ones look useful as compensation): the
      least useful modules taken out in turn and the rest re-tuned, kept when the distance does
      not rise (the simpler chain explains the pair as well);
    - else insertion: each absent module at each position where it can sound different, or in
      place of a present one, with its ``measured`` settings and the config's spread, the best
      re-tuned, kept when it lowers the distance by ``insert_gain``;
    - else a swap of neighbours that do not commute, kept when the distance falls.

    After each kept move the whole chain is searched again (:func:`coordinate_search`). Rounds
    repeat until no move is kept or the deadline. Returns (chain, loss, one sentence per move).
    """
    measured = measured or {}
    calls = list(chain.calls)
    notes: list[str] = []
    while time.monotonic() < deadline:
        move = _removal(problem, calls, loss, deadline, removal_tries)
        # at a distance of (nearly) zero nothing can be added or reordered for the better
        if not move and loss > EXACT_DISTANCE and time.monotonic() < deadline:
            prefix = problem.prefix(calls)  # shared by the insertions and the swaps
            move = (_insertion(problem, calls, prefix, loss, deadline, measured)
                    or (time.monotonic() < deadline and _swap(problem, calls, prefix, loss)))
        if not move:
            break
        calls, loss, note = move
        notes.append(note)
        found, loss, _ = coordinate_search(problem, Chain(tuple(calls)), loss, deadline)
        calls = list(found.calls)
    return Chain(tuple(calls)), loss, notes


def prune(problem: Problem, chain: Chain, loss: float, tolerance: float = 0.0) -> tuple[Chain, float, list[str]]:
    """Remove modules whose removal does not raise the loss by more than ``tolerance``, the
    least useful first. Returns (chain, loss, names removed)."""
    calls = list(chain.calls)
    removed: list[str] = []
    while len(calls) > 1:
        options = [calls[:k] + calls[k + 1:] for k in range(len(calls))]
        losses = problem.losses(problem.x, options)
        k = int(np.argmin(losses))
        if losses[k] > loss + tolerance:
            break
        removed.append(calls[k].name)
        calls, loss = options[k], float(losses[k])
    return Chain(tuple(calls)), loss, removed


@dataclass
class GridResult:
    """What :func:`grid_search` found: the chain, its loss before and after (the search's
    spectral distance on the crop), one plain sentence per stage, how many candidate chains were
    rendered, the time taken, and whether the budget ran out (the best chain so far is kept)."""

    chain: Chain
    loss_before: float
    loss_after: float
    notes: list[str]
    renders: int
    seconds: float
    out_of_time: bool


def describe_changes(before: Chain, after: Chain, min_change: float = 0.0) -> list[str]:
    """``["distortion drive 8 dB -> 10 dB", ...]``: the values of modules in both chains that
    moved by at least ``min_change`` in the spec's normalised units, at the toolset's precision
    with their units (``release 388 ms -> 1000 ms``, not ``1e+03``)."""
    out = []
    for call in after:
        if call.name not in before.names:
            continue
        old = before[call.name]
        for k, v in call.params.items():
            p = module_spec(call.name).param(k)
            if v != old[k] and abs(p.normalize(v) - p.normalize(old[k])) >= min_change:
                out.append(f"{call.name} {p.label} {p.format_value(p.at_precision(old[k]))} -> "
                           f"{p.format_value(p.at_precision(v))}")
    return out


def grid_search(chain: Any, dry: Any, reference: Any, sample_rate: float, config: GridConfig | None = None,
                measured: Mapping[str, Mapping[str, float]] | None = None, device: Any = "cpu",
                **settings: Any) -> GridResult:
    """Snap ``chain`` to the sampler's grid, search it coordinate by coordinate, change its
    modules where that matches better, prune.

    Parameters
    ----------
    chain : Chain or tool-call data
        The start (bypassed modules are left out).
    dry, reference : array_like, shape (channels, samples)
    sample_rate : float
        In Hz.
    config : GridConfig, optional
    measured : mapping module -> parameters, optional
        Settings a module is first tried with when the structure search inserts it; without
        it, the pair's measurements (:func:`~llm2fx_lab.planners.analysis_planner.presence_priors`).
    device : str
        Where candidates render: ``"cpu"`` (default), ``"auto"``, ``"cuda"`` or ``"cuda:N"``.
    **settings
        Single :class:`GridConfig` fields over ``config``.

    Raises
    ------
    AudioError
        Empty, NaN or otherwise unusable audio.
    ParameterError, ToolCallError
        A bad setting or chain (the message names what is allowed).
    BackendError
        An unknown device, or CUDA asked for where there is none.
    """
    config = (config or GridConfig()).replace(**settings)
    t0 = time.monotonic()
    deadline = t0 + config.budget_seconds
    sr = check_sample_rate(sample_rate)
    start = as_chain(chain, "strict").active
    dry, reference = as_stereo_float32(dry, "dry"), as_stereo_float32(reference, "reference")
    problem = Problem(dry, reference, sr, config, device)
    before = problem.loss(start)
    notes = []
    snapped = snap_to_grid(start)
    snapped_loss = problem.loss(snapped)
    problem.deadline = deadline
    notes.append(f"Every value moved to the nearest value the sampler draws from: distance {before:.3f} -> "
                 f"{snapped_loss:.3f}.")
    found, loss, sweeps = coordinate_search(problem, snapped, snapped_loss, deadline, config.pairs)
    changes = ", ".join(describe_changes(snapped, found))
    notes.append(f"Trying the neighbouring grid values of each setting, and of every two settings together "
                 f"({sweeps} round(s)): distance {snapped_loss:.3f} -> {loss:.3f}" + (f"; {changes}." if changes else "."))
    if config.structure and time.monotonic() < deadline:
        if measured is None:
            measured = presence_priors(dry, reference, sr).candidates
        changed, new_loss, moves = structure_search(problem, found, loss, deadline, measured)
        if moves:
            notes.append(f"Changing the modules ({len(moves)} move(s)): " + " ".join(moves))
            found, loss = changed, new_loss
    if config.prune and len(found) > 1 and time.monotonic() < deadline:
        pruned, new_loss, removed = prune(problem, found, loss)
        if removed:
            notes.append(f"Without {', '.join(removed)} the reference is matched as well (distance {loss:.3f} -> "
                         f"{new_loss:.3f}): removed.")
            found, loss = pruned, new_loss
    if loss > before:  # never worse than the start under this loss
        found, loss = start, before
        notes.append("The grid gave no closer match than the start; the start is kept.")
    out_of_time = time.monotonic() >= deadline
    if out_of_time:
        notes.append(f"The {config.budget_seconds:g} s budget ran out; this is the best chain found so far.")
    return GridResult(found, before, loss, notes, problem.renders, time.monotonic() - t0, out_of_time)


__all__ = ["EXACT_DISTANCE", "GridConfig", "GridResult", "coordinate_search", "describe_changes", "grid_search",
           "grid_values", "insert_settings", "prune", "snap_to_grid", "structure_search"]
