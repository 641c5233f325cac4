"""Order: the learned pairwise order, then a search by rendering the crop.

The order of the data is random, so no fixed order helps. Pairwise order trees
(``models/order.json``, "a before b" for module pairs whose order they predicted on held-out
pairs) give ``log P(a before b)`` (:func:`order_log_probabilities`), and the order with the
largest sum is taken (:func:`best_order`). Once the gain is placed (:func:`best_gain_position`),
:func:`search_order` (pedalboard, CPU) or :func:`search_order_torch` (batched, a GPU) moves
modules on the loudest crop of the pair, rendered with the estimated parameters, while that
lowers the MR-STFT distance to the reference. Orders that differ only by swapping modules
that :func:`commutes` says are interchangeable sound the same and are rendered once.
"""

from __future__ import annotations

import math
from itertools import combinations, permutations
from typing import Any

import numpy as np

from llm2fx_lab.analysis.mrstft import mrstft_distance, mrstft_loss, torch_magnitudes
from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.fx.render import apply_module, render, render_stages
from llm2fx_lab.planners.analysis_planner.config import AnalysisConfig
from llm2fx_lab.planners.analysis_planner.crop import Span

#: The order a chain starts from before pairwise order decisions.
STUDIO_ORDER = ("equalizer", "compressor", "distortion", "gain", "panner", "stereo_widener",
                "delay", "reverb", "limiter")


#: Modules whose relative order does not matter (all linear and channel-wise identical).
LINEAR_MONO = {"gain", "equalizer", "delay"}


def commutes(a: str, b: str) -> bool:
    """True when swapping adjacent modules ``a`` and ``b`` cannot change the output.

    Gain, equalizer and delay are linear time-invariant and act on both channels alike, so
    they commute with each other, with the panner and widener (which mix channels with
    constant gains) and with the reverb (a linear time-invariant two-channel system: swapping
    it with any of them changed the output by about 1e-6 of its peak, float rounding);
    everything else is checked by rendering.
    """
    pair = {a, b}
    if pair <= LINEAR_MONO | {"reverb"}:
        return True
    if pair <= LINEAR_MONO | {"panner"} or pair <= LINEAR_MONO | {"stereo_widener"}:
        return True
    return False


def order_log_probabilities(names: list[str], x: np.ndarray, models: dict | None) -> dict[tuple[str, str], float]:
    """``(a, b) -> log P(a before b)`` for every ordered pair of ``names`` the order trees know."""
    out: dict[tuple[str, str], float] = {}
    for a, b in combinations(names, 2):
        key, flip = ((a, b), False) if (a, b) in (models or {}) else ((b, a), True)
        if models is None or key not in models:
            continue
        p = float(np.clip(models[key][0].probability(x), 1e-3, 1 - 1e-3))
        p = 1 - p if flip else p
        out[(a, b)], out[(b, a)] = math.log(p), math.log(1 - p)
    return out


def best_order(names: list[str], logp: dict[tuple[str, str], float],
               config: AnalysisConfig = AnalysisConfig()) -> list[str]:
    """The order of ``names`` with the largest summed ``log P(a before b)`` over its pairs.

    Pairs without a learned probability count ``log 0.5`` either way, so on ties the given
    order is kept. Every permutation is tried up to ``config.exhaustive_order_max`` modules;
    beyond, single modules are moved while that helps.
    """
    n = len(names)
    if n < 2 or not logp:
        return list(names)
    lp = np.full((n, n), math.log(0.5))
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if (a, b) in logp:
                lp[i, j] = logp[(a, b)]
    if n <= config.exhaustive_order_max:
        perms = np.asarray(list(permutations(range(n))))
        score = np.zeros(len(perms))
        for i, j in combinations(range(n), 2):
            score += lp[perms[:, i], perms[:, j]]
        best = perms[int(np.argmax(score > score.max() - 1e-9))]  # the first best: the given order on ties
        return [names[k] for k in best]

    def total(o: list[int]) -> float:
        return float(sum(lp[o[i], o[j]] for i, j in combinations(range(n), 2)))

    # local search: move one module to another place while that raises the sum
    order, best = list(range(n)), total(list(range(n)))
    improved = True
    while improved:
        improved = False
        for k in range(n):
            for pos in range(n):
                trial = order[:k] + order[k + 1:]
                trial.insert(pos, order[k])
                score = total(trial)
                if score > best + 1e-9:
                    order, best, improved = trial, score, True
                    break
            if improved:
                break
    return [names[k] for k in order]


def learned_order(names: list[str], features: np.ndarray, models: dict | None,
                  config: AnalysisConfig = AnalysisConfig()) -> tuple[list[str], set[tuple[str, str]], str]:
    """``names`` ordered by the order trees for the pair's ``features``, the ordered pairs
    ``(a, b)`` the trees put a before b with probability ``config.confident_order`` or more,
    and a sentence naming those decisions; the given order, no pairs and no sentence without
    trees or with fewer than two modules."""
    logp = order_log_probabilities(names, features, models) if models and len(names) >= 2 else {}
    if not logp:
        return list(names), set(), ""
    confident = {pair for pair, lp in logp.items() if lp >= math.log(config.confident_order)}
    ordered = best_order(names, logp, config)
    decided = [(a, b) for a, b in combinations(ordered, 2) if (a, b) in confident]
    note = ("Learned order (trees on the pair features, for module pairs whose order they "
            "predicted on held-out pairs): "
            + ("; ".join(f"{a} before {b} with probability {math.exp(logp[(a, b)]):.2f} (held-out "
                         f"accuracy {_order_accuracy(models, a, b):.2f})" for a, b in decided)
               or "no pair is clear")
            + f" -> {' -> '.join(ordered)}.")
    return ordered, confident, note


def best_gain_position(names: list[str], logp: dict[tuple[str, str], float]) -> list[str]:
    """``names`` with gain inserted where the learned order likes it best (else :func:`default_gain_position`)."""
    default = default_gain_position(names)
    k0 = default.index("gain")

    def score(k: int) -> float:
        return (sum(logp.get((n, "gain"), math.log(0.5)) for n in names[:k])
                + sum(logp.get(("gain", n), math.log(0.5)) for n in names[k:]))

    best_k = max(range(len(names) + 1), key=lambda k: (score(k) - 1e-9 * (k != k0), -abs(k - k0)))
    return names[:best_k] + ["gain"] + names[best_k:]


def default_gain_position(names: list[str]) -> list[str]:
    """Gain goes after the linear pre-stage, before the first nonlinear module."""
    for i, n in enumerate(names):
        if n in ("compressor", "distortion", "limiter"):
            return names[:i] + ["gain"] + names[i:]
    return names + ["gain"]


def _order_accuracy(models: dict, a: str, b: str) -> float:
    entry = models.get((a, b)) or models.get((b, a))
    return float(entry[1]) if entry else float("nan")


def search_order(names: list[str], calls: dict[str, Any], span: Span, target: list, sample_rate: float,
                 config: AnalysisConfig = AnalysisConfig()) -> tuple[list[str], list[str]]:
    """Search module orders by the MR-STFT distance of the rendered crop to the reference.

    Up to ``config.order_search_exhaustive_max`` modules every order is rendered (depth first,
    so orders sharing a prefix share its render, and orders that differ only by swapping
    adjacent modules that :func:`commutes` says are interchangeable are rendered once);
    longer chains get a local search: each pass tries moving every module to every other
    position and keeps a move that lowers the distance. A new order must beat the given one
    by more than ``config.order_search_min_gain``, so inaudible differences keep the order of
    the trees. ``target`` is :func:`~llm2fx_lab.analysis.mrstft.mrstft_spectra` of the
    reference's crop.

    Returns
    -------
    (list of str, list of str)
        The order and the reasoning lines.
    """
    given = list(names)
    rank = {name: k for k, name in enumerate(given)}
    if len(given) <= config.order_search_exhaustive_max:
        found: list[tuple[float, list[str]]] = []

        def visit(prefix: list[str], x: np.ndarray) -> None:
            rest = [n for n in given if n not in prefix]
            if not rest:
                found.append((mrstft_distance(span.tail(x), target), prefix))
                return
            for name in rest:
                if not _repeats_an_order(prefix, name, rank):
                    visit(prefix + [name], apply_module(x, sample_rate, calls[name]))

        visit([], span.dry)
        start = found[0][0]  # the given order is visited first and never pruned
        best, order = min(found, key=lambda t: t[0])
        how = f"all {len(found)} distinct orders rendered"
    else:
        order, start, best, how = _local_order_search(given, calls, span, target, sample_rate, config)
    return _order_verdict(given, order, start, best, how, config)


def _repeats_an_order(prefix: list[str], name: str, rank: dict[str, int]) -> bool:
    """True when ``prefix + [name]`` renders like an order visited before: its last two
    modules commute and stand against the given order (``rank``)."""
    return bool(prefix) and commutes(prefix[-1], name) and rank[prefix[-1]] > rank[name]


def _distinct_orders(given: list[str]) -> list[list[str]]:
    """Every order of ``given`` that can sound different (see :func:`_repeats_an_order`),
    the given order first, in :func:`search_order`'s depth-first sequence."""
    rank = {name: k for k, name in enumerate(given)}
    out: list[list[str]] = []

    def visit(prefix: list[str]) -> None:
        rest = [n for n in given if n not in prefix]
        if not rest:
            out.append(prefix)
        for name in rest:
            if not _repeats_an_order(prefix, name, rank):
                visit(prefix + [name])

    visit([])
    return out


def _move(order: list[str], i: int, j: int) -> list[str] | None:
    """``order`` with its ``i``-th module moved to position ``j``, or None where that crosses
    only interchangeable modules (or ``i == j``): the same output."""
    moved = order[i]
    crossed = order[i + 1:j + 1] if j > i else order[j:i]
    if i == j or all(commutes(moved, other) for other in crossed):
        return None
    trial = order[:i] + order[i + 1:]
    trial.insert(j, moved)
    return trial


def _order_verdict(given: list[str], order: list[str], start: float, best: float, how: str,
                   config: AnalysisConfig) -> tuple[list[str], list[str]]:
    if best < start - config.order_search_min_gain:
        return order, [f"Order search on the crop ({how}): {' -> '.join(order)} lowers the MR-STFT distance "
                       f"{start:.3f} -> {best:.3f}; taken."]
    return given, [f"Order search on the crop ({how}): no order beats this one (MR-STFT {start:.3f}); kept."]


def search_order_torch(names: list[str], calls: dict[str, Any], span: Span, sample_rate: float,
                       device: Any, config: AnalysisConfig = AnalysisConfig()) -> tuple[list[str], list[str]]:
    """:func:`search_order` with the batched torch renderer, for a GPU.

    The same candidates and the same MR-STFT distance
    (:func:`~llm2fx_lab.analysis.mrstft.mrstft_loss`), rendered many orders per call
    (:func:`~llm2fx_lab.fx.torch_render.render_torch`, ``config.order_search_batch`` at a
    time) instead of one by one through pedalboard on the CPU. Up to
    ``config.order_search_exhaustive_max`` modules every distinct order is rendered; longer
    chains get a beam search: each round renders all single-module moves of the
    ``config.order_search_beam`` best orders found so far at once and keeps the best of them,
    for up to ``config.order_search_rounds`` rounds or until no move beats the kept orders (the
    CPU search takes the first move that helps, one render at a time; with rendering cheap on
    a GPU the beam search ends at orders closer to the truth, docs/decisions.md). The torch
    renderer matches pedalboard within the parity tests' tolerances, not bit for bit, so a near
    tie may go the other way than on the CPU.

    Returns
    -------
    (list of str, list of str)
        The order and the reasoning lines.
    """
    # torch only here: the planner on the CPU (pedalboard's search) never imports it
    import torch

    from llm2fx_lab.fx.torch_render import render_torch, resolve_device

    dev = resolve_device(device)
    x = torch.from_numpy(np.ascontiguousarray(span.dry, dtype=np.float32))[None].to(dev)
    target = torch_magnitudes(torch.from_numpy(np.ascontiguousarray(span.reference, dtype=np.float32))[None].to(dev))

    def distances(orders: list[list[str]]) -> list[float]:
        out: list[float] = []
        with torch.no_grad():
            for k in range(0, len(orders), config.order_search_batch):
                part = orders[k:k + config.order_search_batch]
                y = render_torch(x.expand(len(part), -1, -1), sample_rate,
                                 [Chain(tuple(calls[m] for m in o)) for o in part], device=dev)
                out += mrstft_loss(span.tail(y), target).tolist()
        return out

    given = list(names)
    if len(given) <= config.order_search_exhaustive_max:
        orders = _distinct_orders(given)
        values = distances(orders)
        k = int(np.argmin(values))
        start, best, order = values[0], values[k], orders[k]
        how = f"all {len(orders)} distinct orders rendered in batches on {dev.type}"
    else:
        start = distances([given])[0]
        beam, seen, rounds = [(start, given)], {tuple(given)}, 0
        for rounds in range(1, config.order_search_rounds + 1):
            trials = []
            for _, kept in beam:
                for i in range(len(kept)):
                    for j in range(len(kept)):
                        trial = _move(kept, i, j)
                        if trial is not None and tuple(trial) not in seen:
                            seen.add(tuple(trial))
                            trials.append(trial)
            grown = sorted(beam + list(zip(distances(trials), trials)), key=lambda t: t[0])[:config.order_search_beam]
            if [o for _, o in grown] == [o for _, o in beam]:
                break  # no move of any kept order beats the kept ones
            beam = grown
        best, order = beam[0]
        how = (f"single-module moves of the {config.order_search_beam} best orders rendered at once on {dev.type}, "
               f"{rounds} round{'s' if rounds > 1 else ''}")
    return _order_verdict(given, order, start, best, how, config)


def _local_order_search(order: list[str], calls: dict[str, Any], span: Span, target: list, sample_rate: float,
                        config: AnalysisConfig) -> tuple[list[str], float, float, str]:
    """Move single modules while that lowers the distance (see :func:`search_order`).

    Returns the order, the given order's distance, the order's distance and a description.
    """
    def stages_of(names: list[str]) -> list[np.ndarray]:
        return [x for _, x in render_stages(span.dry, sample_rate, Chain(tuple(calls[n] for n in names)))]

    order, stages, n, used = list(order), stages_of(order), len(order), 0
    start = best = mrstft_distance(span.tail(stages[-1]), target)
    for _ in range(max(int(config.order_search_passes), 0)):
        used += 1
        improved = False
        for i in range(n):
            for j in range(n):
                trial = _move(order, i, j)  # of the current order: a taken move changes the rest
                if trial is None:
                    continue
                first = min(i, j)
                value = mrstft_distance(span.tail(render(stages[first], sample_rate,
                                               Chain(tuple(calls[m] for m in trial[first:])))), target)
                if value < best - config.order_search_min_gain:
                    order, best, improved = trial, value, True
                    stages = stages_of(order)
        if not improved:
            break
    return order, start, best, f"every module tried at every position, {used} pass{'es' if used > 1 else ''}"
