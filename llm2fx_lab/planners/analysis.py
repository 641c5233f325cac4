"""AnalysisPlanner: measure, then decide with closed forms and small tree models; deterministic.

Steps (each streamed as reasoning that quotes the measured numbers):

1. **selection**: :func:`~llm2fx_lab.planners.pair_features.pair_features` measures the
   pair; each module is kept when its presence tree (``models/presence.json``, trained on
   the pair features and the closed-form estimates) says so, or, without trees or on a
   coherent (nearly linear) pair, when its evidence passes a threshold
   (:data:`~llm2fx_lab.planners.estimators.THRESHOLDS`).
2. **order**: the module order of the data is random, so no fixed order helps; pairwise
   order trees (``models/order.json``, "a before b" for module pairs whose order they
   predicted on held-out pairs) give ``log P(a before b)``, and the order with the largest
   sum is taken (every permutation up to :data:`EXHAUSTIVE_ORDER_MAX` modules). Once the
   gain is placed, :func:`search_order` moves modules on a short crop of the pair
   (rendered with the estimated parameters) while that lowers the MR-STFT distance to the
   reference.
3. **parameters**: closed forms (pan and width from the 2x2 channel matrix, EQ bands fitted
   to the mid transfer function, echo delay/feedback/mix from the impulse response, reverb
   mix and room from its late energy and decay), replaced per parameter by a regressor
   (``models/params.json``) where that had the lower held-out error; the gain closes the
   loudness gap left by the other modules, measured by rendering them.

Grounding: numbers that :func:`llm2fx_lab.analysis.claims.check_claims` reads as clip
measurements (band levels, decay time, echo delay, new-harmonics share) are the pair's
:class:`~llm2fx_lab.analysis.Evidence` values; impulse-response quantities are worded as such
("the impulse response's late tail falls ..."), an impulse-response peak is called an echo
only when it passes Evidence's distinct-peak test, and module settings are named as settings
("pan setting 0.4"). A memoryless saturator found sample by sample
(:func:`~llm2fx_lab.planners.estimators.estimate_waveshaping`) selects a distortion and
vetoes a reverb (unless the clip's decay time grows notably) and a limiter.

Blind mode (``dry=None``): without the dry clip only the reference itself can be described;
if ``llm2fx_lab.audio.fxnorm`` is available its pseudo-dry is used as the dry clip.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from itertools import combinations, permutations
from typing import Any, Iterator

import numpy as np

from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.errors import ParameterError
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.fx.render import apply_module, render, render_stages
from llm2fx_lab.fx.spec import MODULE_NAMES
from llm2fx_lab.fx.spec import module as module_spec
from llm2fx_lab.planners import estimators as E
from llm2fx_lab.planners.events import (Event, Final, Response, StreamClock, Thinking, ToolCallEvent)
from llm2fx_lab.planners.pair_features import PairFeatures, pair_features
from llm2fx_lab.planners.trees import (load_order_models, load_param_models, load_presence_models,
                                      load_presence_stack)

#: The order a chain starts from before pairwise order decisions.
STUDIO_ORDER = ("equalizer", "compressor", "distortion", "gain", "panner", "stereo_widener",
                "delay", "reverb", "limiter")
#: Coherence of the mid transfer above which presence comes from the measured rules, not the
#: trees; None: always the trees (held-out presence accuracy 0.804 for the trees alone against
#: 0.792 with the rules on coherent pairs, 10,000 train rows; scripts/train_analysis_planner.py
#: prints both).
CLEAN_COHERENCE: float | None = None
#: Relative residual of the channel-matrix fit below which pan and width keep their closed forms.
EXACT_STEREO_RESIDUAL = 1e-3
#: Modules whose relative order does not matter (all linear and channel-wise identical).
_LINEAR_MONO = {"gain", "equalizer", "delay"}
#: Drop a limiter when sample-level waveshaping already explains the lower crest factor.
DROP_LIMITER_WHEN_SHAPED = True
#: Let sample-level waveshaping add a distortion and veto a reverb/limiter over the trees.
SHAPED_OVERRIDES = True
#: Gain is added when its presence probability says so and the level the other modules leave
#: unexplained is at least GAIN_TREE_MIN_DB, or when that level alone is at least GAIN_OVERRIDE_DB
#: (None: never). On 90 development pairs (make_test_pairs(10, seed=999)) gain presence was right
#: in 64.4 % of pairs with 0.5 dB / 6 dB and 66.7 % with 0 / 4.5 dB (67.8 % with the probability
#: alone). The override keeps an obvious level change found when the second presence stage,
#: expecting a short chain, doubts it (-6 dB alone on a clip: probability 0.46).
GAIN_TREE_MIN_DB = 0.0
GAIN_OVERRIDE_DB: float | None = 4.5
#: Seconds of dry clip rendered before each crop (:func:`loudest_span`): the reference was
#: rendered from the whole clip, so its crop holds reverb and echo tails and compressor state
#: from before it. Rendering the crop alone scored the *true* chain a median MR-STFT of 0.41
#: (mean 0.51) against its own reference on 1.5 s crops of 90 development pairs
#: (make_test_pairs(10, seed=999)); with 0.5 / 1 / 2 / 3 s before it, 0.019 / 0.001 / 0.000
#: / 0.000 (mean 0.135 / 0.037 / 0.009 / 0.003).
PREROLL_SECONDS = 2.0


def commutes(a: str, b: str) -> bool:
    """True when swapping adjacent modules ``a`` and ``b`` cannot change the output.

    Gain, equalizer and delay are linear time-invariant and act on both channels alike, so
    they commute with each other and with the panner and widener (which mix channels with
    constant gains); everything else is checked by rendering.
    """
    pair = {a, b}
    if pair <= _LINEAR_MONO:
        return True
    if pair <= _LINEAR_MONO | {"panner"} or pair <= _LINEAR_MONO | {"stereo_widener"}:
        return True
    return False


def _loss(estimate: np.ndarray, target_spectra: list) -> float:
    from llm2fx_lab.data.mrstft import mrstft_distance

    return mrstft_distance(estimate, target_spectra)


class AnalysisPlanner:
    """Deterministic planner from measurements and closed forms (see the module docstring).

    Parameters
    ----------
    max_seconds : float
        Longest stretch of the clips that is measured.
    crop_seconds : float
        Length of the crop rendered for order and gain decisions.
    order_search : bool
        Search module orders by rendering the crop (:func:`search_order`; about 1-3 s on
        2 CPU cores for chains of 5-9 modules).
    order_model : bool
        Order the modules by the learned pairwise order trees (``models/order.json``).
    device : None, "auto", "cpu", "cuda" or "cuda:N"
        Where the order search renders. None or ``"cpu"``: pedalboard on the CPU
        (:func:`search_order`). A CUDA device: the batched torch renderer there
        (:func:`search_order_torch`); ``"auto"`` picks CUDA when available, else the CPU.
        The measurements and trees run on the CPU either way.

    Raises
    ------
    BackendError
        An unknown device, or CUDA asked for where there is none.
    """

    name = "analysis"

    def __init__(self, max_seconds: float = 10.0, crop_seconds: float = 2.0, order_search: bool = True,
                 order_model: bool = True, device: Any = None) -> None:
        self.max_seconds = float(max_seconds)
        self.crop_seconds = float(crop_seconds)
        self.order_search = bool(order_search)
        self.order_model = bool(order_model)
        self.device = None
        if device is not None:
            from llm2fx_lab.planners.refine import refine_device

            resolved = refine_device(device)
            self.device = None if resolved.type == "cpu" else resolved

    # --- the stream ---------------------------------------------------------------------
    def plan(self, dry: np.ndarray | None, reference: np.ndarray, sample_rate: float,
             instruction: str | None = None, stop: threading.Event | None = None,
             chain: Chain | None = None) -> Iterator[Event]:
        """Stream reasoning, tool calls, a response and a :class:`Final` (see :mod:`.events`).

        With ``chain`` (the user's current chain, e.g. after hand edits) and an
        ``instruction``, this is a conversation turn: the instruction edits *that* chain
        (:func:`~llm2fx_lab.planners.edits.apply_instruction`) instead of a fresh estimate,
        so nothing the user changed is lost.
        """
        clock = StreamClock()
        sr = check_sample_rate(sample_rate)
        ref = as_stereo_float32(reference, "reference")
        texts: list[str] = []
        if chain is not None and instruction:
            from llm2fx_lab.fx.chain import as_chain

            base = as_chain(chain)
            yield clock.mark(Thinking(f"Editing the current chain ({' -> '.join(base.names) or 'empty'}) "
                                      f"as asked: {instruction!r}.\n", "refinement"))
            texts.append(f"Editing the current chain as asked: {instruction!r}.\n")
            yield from self._finish(clock, base, texts, instruction, False, step="refinement", emit_calls=True)
            return
        chain = Chain()
        stopped = False

        def think(text: str, step: str) -> Event:
            texts.append(text)
            return clock.mark(Thinking(text, step))  # type: ignore[arg-type]

        blind_note = None
        if dry is None:
            dry, blind_note = _pseudo_dry(ref, sr)
            if dry is None:
                yield think(blind_note + "\n", "selection")
                chain, notes = _blind_chain(ref, sr)
                for step, text in notes:
                    yield think(text + "\n", step)
                for i, call in enumerate(chain):
                    yield clock.mark(ToolCallEvent(call, i))
                yield from self._finish(clock, chain, texts, instruction, False)
                return
            yield think(blind_note + "\n", "selection")

        x = as_stereo_float32(dry, "dry")
        f, features, fits = measure_pair(x, ref, sr, self.max_seconds)
        decisions = decide(f, sr, measured=(features, fits))
        for text in decisions.notes["selection"]:
            yield think(text + "\n", "selection")
            if stop is not None and stop.is_set():
                stopped = True
                break
        if not stopped:
            names = [m for m in STUDIO_ORDER if m in decisions.params and m != "gain"]
            span = loudest_span(x, ref, sr, self.crop_seconds)
            from llm2fx_lab.data.mrstft import mrstft_spectra

            target = mrstft_spectra(span.reference)
            names, order_notes = self._order(names, decisions)
            for text in order_notes:
                yield think(text + "\n", "order")
            gain_db, gain_note = _close_gain(names, decisions, span, sr)
            yield think(gain_note + "\n", "parameters")
            wants_gain = (abs(gain_db) >= E.THRESHOLDS["gain_db"] if decisions.gain_probability is None
                          else (decisions.gain_probability >= 0.5 and abs(gain_db) >= GAIN_TREE_MIN_DB)
                          or (GAIN_OVERRIDE_DB is not None and abs(gain_db) >= GAIN_OVERRIDE_DB))
            if wants_gain:
                decisions.params["gain"] = {"gain_db": float(np.clip(np.round(gain_db), -20, 20))}
                models = load_order_models() if self.order_model else None
                logp = order_log_probabilities(names + ["gain"], decisions.features, models) if models else {}
                names = best_gain_position(names, logp) if logp else _insert_gain(names)
                if logp:
                    yield think(f"Gain goes at position {names.index('gain') + 1} of {len(names)}, where the "
                                "learned order places it best.\n", "order")
            if self.order_search and len(names) >= 2:
                calls_by_name = {n: tool_call(n, decisions.params[n], mode="lenient") for n in names}
                names, search_notes = (search_order(names, calls_by_name, span, target, sr) if self.device is None
                                       else search_order_torch(names, calls_by_name, span, sr, self.device))
                for text in search_notes:
                    yield think(text + "\n", "order")
            for text in decisions.notes["parameters"]:
                yield think(text + "\n", "parameters")
            calls = []
            for i, name in enumerate(names):
                call = tool_call(name, decisions.params[name], mode="lenient")
                calls.append(call)
                yield clock.mark(ToolCallEvent(call, i))
            chain = Chain(tuple(calls))
        yield from self._finish(clock, chain, texts, instruction, stopped)

    def _finish(self, clock: StreamClock, chain: Chain, texts: list[str], instruction: str | None,
                stopped: bool, step: str = "parameters", emit_calls: bool = False) -> Iterator[Event]:
        if instruction:
            from llm2fx_lab.planners.edits import apply_instruction

            chain, edit_notes = apply_instruction(chain, instruction)
            for text in edit_notes:
                texts.append(text + "\n")
                yield clock.mark(Thinking(text + "\n", step))  # type: ignore[arg-type]
        if emit_calls:
            for i, call in enumerate(chain):
                yield clock.mark(ToolCallEvent(call, i))
        verb = "Edited" if emit_calls else "Estimated"
        response = (f"{verb} chain: {' -> '.join(chain.names)}." if len(chain)
                    else "No processing was detected; the chain is empty.")
        yield clock.mark(Response(response))
        yield Final(chain, "".join(texts), response, clock.timings(), chain.repairs, stopped, self.name)

    def _order(self, names: list[str], d: "Decisions") -> tuple[list[str], list[str]]:
        notes = [f"Start from the studio order: {' -> '.join(names) or 'nothing'}."]
        models = load_order_models() if self.order_model else None
        logp = order_log_probabilities(names, d.features, models) if models and len(names) >= 2 else {}
        confident = {pair for pair, lp in logp.items() if lp >= math.log(CONFIDENT_ORDER)}
        if logp:
            names = best_order(names, logp)
            decided = [(a, b) for a, b in combinations(names, 2) if (a, b) in confident]
            notes.append("Learned order (trees on the pair features, for module pairs whose order they "
                         "predicted on held-out pairs): "
                         + ("; ".join(f"{a} before {b} with probability {math.exp(logp[(a, b)]):.2f} (held-out "
                                      f"accuracy {_order_accuracy(models, a, b):.2f})" for a, b in decided)
                            or "no pair is clear")
                         + f" -> {' -> '.join(names)}.")
        if "panner" in names and "stereo_widener" in names and ("panner", "stereo_widener") not in confident \
                and ("stereo_widener", "panner") not in confident:
            want_pan_first = bool(d.stereo["panner_first"])
            i, j = names.index("panner"), names.index("stereo_widener")
            if (i < j) != want_pan_first:
                names[i], names[j] = names[j], names[i]
            notes.append(f"The channel matrix fits better with the {'panner' if want_pan_first else 'widener'} "
                         f"first (residual {d.stereo['residual']:.3f} vs {d.stereo['other_residual']:.3f}).")
        return names, notes


#: Probability from which the reasoning names a learned order decision as clear.
CONFIDENT_ORDER = 0.7
#: Passes of the local MR-STFT order search (:func:`search_order`); a pass tries every move once.
ORDER_SEARCH_PASSES = 3
#: Longest chain whose orders :func:`search_order` renders all (5! = 120 before pruning).
ORDER_SEARCH_EXHAUSTIVE_MAX = 5
#: A move must lower the MR-STFT distance by more than this to be kept (ties keep the order
#: the trees chose: moves across commuting modules change nothing audible).
ORDER_SEARCH_MIN_GAIN = 1e-4
#: Longest chain ordered by trying every permutation (7! = 5040); longer ones by local search.
EXHAUSTIVE_ORDER_MAX = 7


def search_order(names: list[str], calls: dict[str, Any], span: "Span", target: list, sample_rate: float,
                 passes: int = ORDER_SEARCH_PASSES) -> tuple[list[str], list[str]]:
    """Search module orders by the MR-STFT distance of the rendered crop to the reference.

    Up to :data:`ORDER_SEARCH_EXHAUSTIVE_MAX` modules every order is rendered (depth first,
    so orders sharing a prefix share its render, and orders that differ only by swapping
    adjacent modules that :func:`commutes` says are interchangeable are rendered once);
    longer chains get a local search: each pass tries moving every module to every other
    position and keeps a move that lowers the distance. A new order must beat the given one
    by more than :data:`ORDER_SEARCH_MIN_GAIN`, so inaudible differences keep the order of
    the trees. With the true parameters, this kind of search ordered 48 development pairs
    (chain lengths 2-9) with Spearman 0.72, against 0.01 for their random start; with the
    planner's own parameters (MAE about 0.15) most of that is lost: on 135 development pairs
    (make_test_pairs(30, seed=4321), the first 15 per length; 2026-11-26) the planner's
    Spearman went from 0.199 with the earlier adjacent-swap test to 0.215, and its MRS from
    1.364 to 1.172, at 1.8 s per pair instead of 0.3 s on 2 CPU cores.

    Returns
    -------
    (list of str, list of str)
        The order and the reasoning lines.
    """
    given = list(names)
    rank = {name: k for k, name in enumerate(given)}
    if len(given) <= ORDER_SEARCH_EXHAUSTIVE_MAX:
        found: list[tuple[float, list[str]]] = []

        def visit(prefix: list[str], x: np.ndarray) -> None:
            rest = [n for n in given if n not in prefix]
            if not rest:
                found.append((_loss(span.tail(x), target), prefix))
                return
            for name in rest:
                if not _repeats_an_order(prefix, name, rank):
                    visit(prefix + [name], apply_module(x, sample_rate, calls[name]))

        visit([], span.dry)
        start = found[0][0]  # the given order is visited first and never pruned
        best, order = min(found, key=lambda t: t[0])
        how = f"all {len(found)} distinct orders rendered"
    else:
        order, start, best, how = _local_order_search(given, calls, span, target, sample_rate, passes)
    return _order_verdict(given, order, start, best, how)


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


def _order_verdict(given: list[str], order: list[str], start: float, best: float,
                   how: str) -> tuple[list[str], list[str]]:
    if best < start - ORDER_SEARCH_MIN_GAIN:
        return order, [f"Order search on the crop ({how}): {' -> '.join(order)} lowers the MR-STFT distance "
                       f"{start:.3f} -> {best:.3f}; taken."]
    return given, [f"Order search on the crop ({how}): no order beats this one (MR-STFT {start:.3f}); kept."]


#: Orders rendered per call of the torch renderer in :func:`search_order_torch` (its memory
#: grows with this times the crop's samples: 64 orders of a 4 s stereo crop hold about 90 MB
#: per stage).
ORDER_SEARCH_BATCH = 64
#: Rounds of :func:`search_order_torch`'s beam search; each renders every single-module move
#: of the :data:`ORDER_SEARCH_BEAM` best orders found so far at once.
ORDER_SEARCH_ROUNDS = 6
#: Orders :func:`search_order_torch` keeps between rounds (4 reached the same mean distance as 2
#: on the 12 shuffled chains of its docstring, with about twice the renders).
ORDER_SEARCH_BEAM = 2


def search_order_torch(names: list[str], calls: dict[str, Any], span: "Span", sample_rate: float,
                       device: Any) -> tuple[list[str], list[str]]:
    """:func:`search_order` with the batched torch renderer, for a GPU.

    The same candidates and the same MR-STFT distance (auraloss's definition, computed in
    torch), rendered many orders per call (:func:`~llm2fx_lab.fx.torch_render.render_torch`,
    :data:`ORDER_SEARCH_BATCH` at a time) instead of one by one through pedalboard on the CPU.
    Up to :data:`ORDER_SEARCH_EXHAUSTIVE_MAX` modules every distinct order is rendered; longer
    chains get a beam search: each round renders all single-module moves of the
    :data:`ORDER_SEARCH_BEAM` best orders found so far at once and keeps the best of them, for
    up to :data:`ORDER_SEARCH_ROUNDS` rounds or until no move beats the kept orders (the CPU
    search takes the first move that helps, one render at a time). On 12 shuffled chains of
    7-9 modules with their true parameters (the refine benchmark's pairs, 2 shuffles each;
    /work/exp/cmp_search2.py, 2026-11-27) it ended at a mean MR-STFT distance of 0.126 and
    Spearman 0.80 to the true order, the CPU search at 0.197 and 0.71. The torch renderer
    matches pedalboard within the parity tests' tolerances, not bit for bit, so a near tie
    may go the other way than on the CPU.

    Returns
    -------
    (list of str, list of str)
        The order and the reasoning lines.
    """
    import torch

    from llm2fx_lab.fx.torch_render import render_torch, resolve_device
    from llm2fx_lab.planners.refine import Target, mrstft_loss

    dev = resolve_device(device)
    x = torch.from_numpy(np.ascontiguousarray(span.dry, dtype=np.float32))[None].to(dev)
    target = Target(torch.from_numpy(np.ascontiguousarray(span.reference, dtype=np.float32))[None].to(dev))

    def distances(orders: list[list[str]]) -> list[float]:
        out: list[float] = []
        with torch.no_grad():
            for k in range(0, len(orders), ORDER_SEARCH_BATCH):
                part = orders[k:k + ORDER_SEARCH_BATCH]
                y = render_torch(x.expand(len(part), -1, -1), sample_rate,
                                 [Chain(tuple(calls[m] for m in o)) for o in part], device=dev)
                out += mrstft_loss(span.tail(y), target.magnitudes).tolist()
        return out

    given = list(names)
    if len(given) <= ORDER_SEARCH_EXHAUSTIVE_MAX:
        orders = _distinct_orders(given)
        values = distances(orders)
        k = int(np.argmin(values))
        start, best, order = values[0], values[k], orders[k]
        how = f"all {len(orders)} distinct orders rendered in batches on {dev.type}"
    else:
        start = distances([given])[0]
        beam, seen, rounds = [(start, given)], {tuple(given)}, 0
        for rounds in range(1, ORDER_SEARCH_ROUNDS + 1):
            trials = []
            for _, kept in beam:
                for i in range(len(kept)):
                    for j in range(len(kept)):
                        trial = _move(kept, i, j)
                        if trial is not None and tuple(trial) not in seen:
                            seen.add(tuple(trial))
                            trials.append(trial)
            grown = sorted(beam + list(zip(distances(trials), trials)), key=lambda t: t[0])[:ORDER_SEARCH_BEAM]
            if [o for _, o in grown] == [o for _, o in beam]:
                break  # no move of any kept order beats the kept ones
            beam = grown
        best, order = beam[0]
        how = (f"single-module moves of the {ORDER_SEARCH_BEAM} best orders rendered at once on {dev.type}, "
               f"{rounds} round{'s' if rounds > 1 else ''}")
    return _order_verdict(given, order, start, best, how)


def _local_order_search(order: list[str], calls: dict[str, Any], span: "Span", target: list, sample_rate: float,
                        passes: int) -> tuple[list[str], float, float, str]:
    """Move single modules while that lowers the distance (see :func:`search_order`).

    Returns the order, the given order's distance, the order's distance and a description.
    """
    def stages_of(names: list[str]) -> list[np.ndarray]:
        return [x for _, x in render_stages(span.dry, sample_rate, Chain(tuple(calls[n] for n in names)))]

    order, stages, n, used = list(order), stages_of(order), len(order), 0
    start = best = _loss(span.tail(stages[-1]), target)
    for _ in range(max(int(passes), 0)):
        used += 1
        improved = False
        for i in range(n):
            for j in range(n):
                trial = _move(order, i, j)  # of the current order: a taken move changes the rest
                if trial is None:
                    continue
                first = min(i, j)
                value = _loss(span.tail(render(stages[first], sample_rate,
                                               Chain(tuple(calls[m] for m in trial[first:])))), target)
                if value < best - ORDER_SEARCH_MIN_GAIN:
                    order, best, improved = trial, value, True
                    stages = stages_of(order)
        if not improved:
            break
    return order, start, best, f"every module tried at every position, {used} pass{'es' if used > 1 else ''}"


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


def best_order(names: list[str], logp: dict[tuple[str, str], float]) -> list[str]:
    """The order of ``names`` with the largest summed ``log P(a before b)`` over its pairs.

    Pairs without a learned probability count ``log 0.5`` either way, so on ties the given
    order is kept. Every permutation is tried up to :data:`EXHAUSTIVE_ORDER_MAX` modules;
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
    if n <= EXHAUSTIVE_ORDER_MAX:
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


def best_gain_position(names: list[str], logp: dict[tuple[str, str], float]) -> list[str]:
    """``names`` with gain inserted where the learned order likes it best (else :func:`_insert_gain`)."""
    default = _insert_gain(names)
    k0 = default.index("gain")

    def score(k: int) -> float:
        return (sum(logp.get((n, "gain"), math.log(0.5)) for n in names[:k])
                + sum(logp.get(("gain", n), math.log(0.5)) for n in names[k:]))

    best_k = max(range(len(names) + 1), key=lambda k: (score(k) - 1e-9 * (k != k0), -abs(k - k0)))
    return names[:best_k] + ["gain"] + names[best_k:]


def _order_accuracy(models: dict, a: str, b: str) -> float:
    entry = models.get((a, b)) or models.get((b, a))
    return float(entry[1]) if entry else float("nan")


class Decisions:
    """Per-module parameters of the modules judged present, with the notes that justify them."""

    def __init__(self) -> None:
        self.params: dict[str, dict[str, float]] = {}
        self.notes: dict[str, list[str]] = {"selection": [], "parameters": []}
        self.stereo: dict[str, Any] = {}
        self.gain_probability: float | None = None
        #: the learned models' input (:func:`~llm2fx_lab.planners.estimators.model_features`)
        self.features: np.ndarray = np.zeros(0)
        #: per module, the parameters taken from regressors: (their held-out MAE, the closed form's)
        self.learned: dict[str, dict[str, tuple[float, float]]] = {}


def closed_forms(f: PairFeatures, sample_rate: float, fits: dict[str, Any]
                 ) -> tuple[dict[str, dict[str, float]], dict[str, bool], bool, list[str]]:
    """Closed-form parameters and rule-based presence of every module except gain.

    Returns ``(estimates, rule presence, waveshaping found, selection notes)``; ``fits`` are
    the fits of :func:`~llm2fx_lab.planners.estimators.derived_features`.
    """
    sel: list[str] = []
    est: dict[str, dict[str, float]] = {}
    rule: dict[str, bool] = {}
    st = fits["stereo"]
    sel.append(f"Balance: pan position {f.dry_pan:+.2f} -> {f.ref_pan:+.2f}; side/mid "
               f"{f.dry_side_to_mid_db:.1f} -> {f.ref_side_to_mid_db:.1f} dB; the channel matrix fits "
               f"a panner setting of {st['pan']:+.2f} and width {st['width']:.2f}.")
    est["panner"] = {"pan": st["pan"]}
    rule["panner"] = abs(st["pan"]) >= E.THRESHOLDS["pan"]
    est["stereo_widener"] = {"width": st["width"]}
    rule["stereo_widener"] = st["width_visible"] and abs(st["width"] - 1) >= E.THRESHOLDS["width"]
    if not st["width_visible"]:
        sel.append("The dry clip is mono: a widener before any panning cannot be seen.")

    eq, eq_dev, eq_resid = fits["eq"]
    lo, mid, hi = f.eq_db[6], f.eq_db[27], f.eq_db[48]
    sel.append(f"Tone: the mid transfer function is {lo:+.1f} dB at 63 Hz, {mid:+.1f} dB at 1.6 kHz, "
               f"{hi:+.1f} dB at 12.7 kHz re its median; the fitted EQ deviates up to {eq_dev:.1f} dB "
               f"(coherence {f.coherence:.2f})."
               + (f" Band levels: low band {f.evidence.low_band_gain_db:+.1f} dB, mid band "
                  f"{f.evidence.mid_band_gain_db:+.1f} dB, high band {f.evidence.high_band_gain_db:+.1f} dB."
                  if f.evidence is not None else ""))
    est["equalizer"] = eq or {}
    rule["equalizer"] = bool(eq) and eq_dev >= E.THRESHOLDS["eq_db"]
    delay_present, est["delay"], note = E.estimate_delay(f)
    rule["delay"] = delay_present
    sel.append(f"Echo: {note}.")
    rule["reverb"], est["reverb"], note = E.estimate_reverb(f, sample_rate, delay_present)
    sel.append(f"Space: {note}.")
    rule["distortion"], est["distortion"], note = E.estimate_distortion(f)
    sel.append(f"Harmonics: {note}.")
    shaped, drive, note = E.estimate_waveshaping(f)
    if note:
        sel.append(f"Waveshaping: {note}.")
    if shaped:
        rule["distortion"], est["distortion"] = True, {"drive_db": drive}
    dyn, dyn_params, note = E.estimate_dynamics(f)
    sel.append(f"Dynamics: {note}; the residual against the linear prediction changes "
               f"{f.dyn_residual_slope:+.2f} dB per dB.")
    est["compressor"], est["limiter"] = E.dynamics_params(f)
    if dyn:
        est[dyn] = dyn_params
    rule["compressor"], rule["limiter"] = dyn == "compressor", dyn == "limiter"
    return est, rule, shaped, sel


#: How many pairs' measurements :func:`measure_pair` keeps.
MEASURED_PAIRS_KEPT = 2
_measured: dict[tuple, tuple[PairFeatures, np.ndarray, dict[str, Any]]] = {}
_measured_lock = threading.Lock()


def _digest(a: np.ndarray) -> tuple:
    import hashlib

    a = np.ascontiguousarray(a)
    return a.shape, str(a.dtype), hashlib.blake2b(a.view(np.uint8).reshape(-1), digest_size=16).digest()


def clear_measurements() -> None:
    """Forget the pairs :func:`measure_pair` keeps (e.g. between a timed warm-up and a timed run)."""
    with _measured_lock:
        _measured.clear()


def measure_pair(dry: np.ndarray, reference: np.ndarray, sample_rate: float,
                 max_seconds: float = 10.0) -> tuple[PairFeatures, np.ndarray, dict[str, Any]]:
    """The pair's measurements: :func:`~llm2fx_lab.planners.pair_features.pair_features`, then
    :func:`~llm2fx_lab.planners.estimators.model_features` (the trees' inputs and the fits).

    The last :data:`MEASURED_PAIRS_KEPT` pairs are kept, keyed by the clips' contents, so that
    refinement's presence check (:func:`presence_priors`) does not measure again the pair the
    planner just measured: per pair, 0.24 s -> 0.01 s on 2 CPU cores (6 of the refine benchmark's
    pairs, /work/exp/cache_gain.py, 2026-11-27); on the H200 host of docs/benchmarks.md the
    measuring took 0.8-1.0 s of presence_priors' time in a profile (not re-timed with the cache).
    Callers get copies of the fits.
    """
    import copy

    key = (_digest(dry), _digest(reference), float(sample_rate), float(max_seconds))
    with _measured_lock:
        kept = _measured.get(key)
    if kept is None:
        f = pair_features(dry, reference, sample_rate, max_seconds)
        x, fits = E.model_features(f, sample_rate)
        kept = (f, x, fits)
        with _measured_lock:
            _measured[key] = kept
            while len(_measured) > MEASURED_PAIRS_KEPT:
                del _measured[next(iter(_measured))]
    f, x, fits = kept
    return f, x.copy(), copy.deepcopy(fits)


def decide(f: PairFeatures, sample_rate: float, use_trees: bool = True,
           measured: tuple[np.ndarray, dict[str, Any]] | None = None) -> Decisions:
    """Presence and parameters of every module except gain (closed later) from the features.

    Presence comes from the shipped gradient-boosted trees (``models/presence.json``) when
    present, else from the thresholds of :data:`~llm2fx_lab.planners.estimators.THRESHOLDS`;
    each parameter from its closed form, or from its learned regressor
    (``models/params.json``) where that beat the closed form on held-out pairs.
    ``measured``: ``f``'s :func:`~llm2fx_lab.planners.estimators.model_features` where the
    caller has them (:func:`measure_pair`).
    """
    d = Decisions()
    sel, par = d.notes["selection"], d.notes["parameters"]
    x, fits = measured if measured is not None else E.model_features(f, sample_rate)
    d.features = x
    est, rule, shaped, notes = closed_forms(f, sample_rate, fits)
    sel.extend(notes)
    d.stereo = fits["stereo"]
    eq_resid = fits["eq"][2]

    own, stacked = tree_probabilities(x) if use_trees else (None, None)
    probs: dict[str, float] = {}
    if own is not None:
        probs = own
        head = "Presence from the trained trees: "
        if stacked is not None:
            sel.append("Each module's own tree: " + ", ".join(f"{m} {probs[m]:.2f}" for m in MODULE_NAMES
                                                              if m in probs)
                       + f" (about {sum(probs.values()):.1f} modules expected).")
            probs = stacked
            head = "Presence, weighing every module's tree and the expected chain length together: "
        if CLEAN_COHERENCE is not None and f.coherence >= CLEAN_COHERENCE:
            # a nearly linear, well explained pair (short chains): the measurements speak directly
            present = {m for m in est if rule[m]}
            sel.append(f"The pair is coherent ({f.coherence:.2f}): presence from the measurements, "
                       "the trees only advise.")
        else:
            present = {m for m in est if probs.get(m, float(rule[m])) >= 0.5}
        d.gain_probability = probs.get("gain")
        sel.append(head + ", ".join(
            f"{m} {probs[m]:.2f}" for m in MODULE_NAMES if m in probs) + ".")
    else:
        present = {m for m in est if rule[m]}
    if shaped and SHAPED_OVERRIDES:
        # a memoryless saturator explains the pair sample by sample: its artefacts in the impulse
        # response are not a room, unless the clip's sounds measurably decay more slowly
        present.add("distortion")
        slower = f.evidence is not None and f.evidence.direction("decay_change_seconds") > 0
        if "reverb" in present and not slower:
            present.discard("reverb")
            sel.append("Reverb is not proposed: the waveshaping explains the pair and the clip's "
                       "decay time does not grow notably.")
        if "limiter" in present and DROP_LIMITER_WHEN_SHAPED:
            present.discard("limiter")
            sel.append("Limiter is not proposed: saturation alone lowers the crest factor this much.")
    learned = load_param_models() if use_trees else None
    exact = _exact_params(fits, shaped)
    for m in MODULE_NAMES:
        if m in present and est.get(m) is not None:
            d.params[m], d.learned[m] = learned_params(m, est[m], x, learned, exact)
    sel.append("Selected: " + (", ".join(m for m in MODULE_NAMES if m in d.params) or "nothing")
               + " (gain is decided after the others are rendered).")
    for m in MODULE_NAMES:
        if m in d.params and d.params[m]:
            par.append(f"{m}: " + ", ".join(f"{_PARAM_WORDS.get(k, k)} {v:.3g}" for k, v in d.params[m].items())
                       + _why(m, f, eq_resid, d.learned.get(m, {})))
    return d


def _exact_params(fits: dict[str, Any], shaped: bool) -> frozenset[str]:
    """Parameters (``"module.param"``) whose closed form is exact: where a closed form's own fit
    explains the pair, a regressor (trained for the median over all pairs) would only pull it
    towards the middle."""
    exact = set()
    if fits["stereo"]["residual"] < EXACT_STEREO_RESIDUAL:
        exact |= {"panner.pan", "stereo_widener.width"}
    if shaped:
        exact.add("distortion.drive_db")
    return frozenset(exact)


def tree_probabilities(x: np.ndarray) -> tuple[dict[str, float] | None, dict[str, float] | None]:
    """Presence probabilities of the shipped trees for the model features ``x``
    (:func:`~llm2fx_lab.planners.estimators.model_features`): ``(each module's own tree, after
    the second stage)``; ``None`` where the trees (or the second stage) are not shipped."""
    models = load_presence_models()
    if models is None:
        return None, None
    own = {m: models[m].probability(x) for m in MODULE_NAMES if m in models}
    stack = load_presence_stack()
    if stack is None or not all(m in own for m in stack.modules):
        return own, None
    return own, {**own, **stack.probabilities(own)}


@dataclass
class PresencePriors:
    """What the pair's measurements say about every module, for a structure search.

    ``probability``: the presence trees' probability per module (after the second stage;
    empty without shipped trees); ``candidates``: the settings a module gets when it is
    added (its closed form, or its regressor where that is shipped, as the planner would set
    it; gain is left out, its level is closed by rendering).
    """

    probability: dict[str, float]
    candidates: dict[str, dict[str, float]]


def presence_priors(dry: np.ndarray, reference: np.ndarray, sample_rate: float,
                    max_seconds: float = 10.0) -> PresencePriors:
    """Measure the pair as :func:`decide` does and return :class:`PresencePriors`."""
    sr = check_sample_rate(sample_rate)
    f, x, fits = measure_pair(as_stereo_float32(dry, "dry"), as_stereo_float32(reference, "reference"), sr,
                              max_seconds)
    est, _, shaped, _ = closed_forms(f, sr, fits)
    own, stacked = tree_probabilities(x)
    learned = load_param_models()
    exact = _exact_params(fits, shaped)
    candidates = {m: learned_params(m, est[m], x, learned, exact)[0] for m in MODULE_NAMES
                  if m != "gain" and est.get(m) is not None}
    return PresencePriors(dict(stacked or own or {}), candidates)


def learned_params(module_name: str, closed: dict[str, float], x: np.ndarray, learned: dict[str, Any] | None,
                   exact: frozenset[str] = frozenset()) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """The module's parameters: each from its regressor when one is shipped, else its closed form.

    Returns the parameters and, per learned parameter, ``(held-out MAE of the regressor, of
    the closed form)`` for the reasoning. A parameter without a closed form (e.g. attack time)
    starts from the spec default. Parameters in ``exact`` (``"module.param"``) keep their closed
    form: its own fit says it explains the pair.
    """
    spec = module_spec(module_name)
    params = dict(closed)
    scores: dict[str, tuple[float, float]] = {}
    for p in spec.param_names:
        key = f"{module_name}.{p}"
        if learned is None or key not in learned or key in exact:
            continue
        model, score = learned[key]
        ps = spec.param(p)
        value = ps.minimum + float(np.clip(model.predict(x), 0.0, 1.0)) * (ps.maximum - ps.minimum)
        params[p] = float(min(max(value, ps.lowest_valid), ps.maximum))
        closed_mae = score.get("closed_mae")
        scores[p] = (float(score["tree_mae"]), float("nan") if closed_mae is None else float(closed_mae))
    if learned is not None and any(f"{module_name}.{p}" in learned for p in spec.param_names):
        params = {p: params[p] for p in spec.param_names if p in params}
    return params, scores


#: How a parameter is named in the reasoning where its bare name would read as a measurement
#: ("pan 0.4" is a panner setting, not the measured balance).
_PARAM_WORDS = {"pan": "pan setting"}


def _why(module_name: str, f: PairFeatures, eq_resid: float,
         learned: dict[str, tuple[float, float]] | None = None) -> str:
    if learned:
        closed = [p for p in module_spec(module_name).param_names if p not in learned]
        words = {p: _PARAM_WORDS.get(p, p) for p in module_spec(module_name).param_names}
        scores = ", ".join(f"{t:.2f} for {words[p]}" + (f" ({c:.2f} closed form)" if math.isfinite(c) else "")
                           for p, (t, c) in learned.items())
        return (f" ({', '.join(words[p] for p in learned)} from trees on the pair features; held-out mean error "
                f"in units of the range: {scores}"
                + (f"; {', '.join(words[p] for p in closed)} from the closed form" if closed else "") + ").")
    return {
        "equalizer": f" (RBJ bands fitted to the transfer function, residual {eq_resid:.1f} dB).",
        "panner": " (from the 2x2 channel matrix).",
        "stereo_widener": " (from the 2x2 channel matrix).",
        "delay": f" (from the impulse-response peak at {1000 * f.echo_delay_seconds:.0f} ms; mix = level/(1 + level) "
                 f"with level {f.echo_level:.2f}; feedback = second/first repeat).",
        "reverb": f" (room from the impulse response's {f.ir_decay_seconds:.2f} s tail slope, mix from "
                  f"{f.ir_late_db:.1f} dB late energy).",
        "distortion": f" (from {f.harmonics_db:.1f} dB of new harmonics).",
        "compressor": f" (frame slope {f.dyn_slope:.2f}, crest {f.crest_change_db:+.1f} dB).",
        "limiter": f" (crest {f.crest_change_db:+.1f} dB, reference peak {f.ref_peak_dbfs:.1f} dBFS).",
    }.get(module_name, ".")


@dataclass(frozen=True)
class Span:
    """The stretch of a pair that render-based decisions are measured on.

    ``dry`` starts ``preroll_samples`` before the crop, so that rendering it gives the
    reverb and echo tails and the compressor state that enter the crop in the reference
    (rendered from the whole clip); :meth:`tail` keeps the rendered crop.
    """

    dry: np.ndarray
    reference: np.ndarray
    preroll_samples: int

    def tail(self, rendered: Any) -> Any:
        """The crop of a render of :attr:`dry` (NumPy array or torch tensor, samples last)."""
        return rendered[..., self.preroll_samples:self.preroll_samples + self.reference.shape[-1]]


def loudest_span(x: np.ndarray, y: np.ndarray, sr: float, seconds: float,
                 preroll_seconds: float | None = None) -> Span:
    """The loudest ``seconds`` of the pair (by dry energy), with up to ``preroll_seconds``
    (default :data:`PREROLL_SECONDS`) of the dry clip before it.

    Raises
    ------
    ParameterError
        ``preroll_seconds`` negative, NaN or infinite.
    """
    preroll_seconds = PREROLL_SECONDS if preroll_seconds is None else float(preroll_seconds)
    if not (math.isfinite(preroll_seconds) and preroll_seconds >= 0):
        raise ParameterError(f"preroll_seconds must be a finite number >= 0 (or None for the default "
                             f"{PREROLL_SECONDS:g} s), got {preroll_seconds}")
    n = min(x.shape[1], y.shape[1])
    k = int(seconds * sr)
    if n <= k:
        return Span(x[:, :n], y[:, :n], 0)
    hop = max(k // 4, 1)
    energy = [(float(np.mean(x[:, s:s + k] ** 2)), s) for s in range(0, n - k + 1, hop)]
    s = max(energy)[1]
    start = max(0, s - int(round(preroll_seconds * sr)))
    return Span(x[:, start:s + k], y[:, s:s + k], s - start)


def _close_gain(names: list[str], d: Decisions, span: Span, sr: float) -> tuple[float, str]:
    chain = Chain(tuple(tool_call(n, d.params[n], mode="lenient") for n in names))
    est = span.tail(render(span.dry, sr, chain))
    rms = lambda z: 10 * np.log10(float(np.mean(z.astype(np.float64) ** 2)) + 1e-12)  # noqa: E731
    gap = rms(span.reference) - rms(est)
    return gap, (f"Level: the other modules leave the estimate {-gap:+.1f} dB from the reference "
                 f"(rms), so gain {gap:+.1f} dB" + (" is needed." if abs(gap) >= E.THRESHOLDS["gain_db"]
                                                   else " is too small to add a gain module."))


def _insert_gain(names: list[str]) -> list[str]:
    """Gain goes after the linear pre-stage, before the first nonlinear module."""
    for i, n in enumerate(names):
        if n in ("compressor", "distortion", "limiter"):
            return names[:i] + ["gain"] + names[i:]
    return names + ["gain"]


def _pseudo_dry(ref: np.ndarray, sr: float) -> tuple[np.ndarray | None, str]:
    try:
        from llm2fx_lab.audio import fxnorm  # type: ignore[attr-defined]
    except ImportError:
        return None, ("Blind mode: no dry clip and no Fx-normalisation available, so only the "
                      "reference itself can be described.")
    fn = getattr(fxnorm, "fx_normalize", None) or getattr(fxnorm, "normalize", None)
    if fn is None:
        return None, "Blind mode: llm2fx_lab.audio.fxnorm has no fx_normalize(); describing the reference alone."
    try:
        out = fn(ref, sr)
    except Exception as exc:  # noqa: BLE001 - another engineer's module; degrade to reference-only
        return None, f"Blind mode: Fx-normalisation failed ({exc}); describing the reference alone."
    pseudo = out[0] if isinstance(out, tuple) else out
    return as_stereo_float32(pseudo, "pseudo-dry"), "Blind mode: comparing against a pseudo-dry from Fx-normalisation."


def _blind_chain(ref: np.ndarray, sr: float) -> tuple[Chain, list[tuple[str, str]]]:
    """What the reference alone says: pan and width from its stereo image, loudness to -14 LUFS-ish."""
    from llm2fx_lab.analysis.features import stereo_measures

    notes = []
    calls = []

    st = stereo_measures(ref)
    notes.append(("selection", f"The reference's balance sits at pan {st['pan_position']:+.2f} and its side "
                               f"is {st['side_to_mid_db']:.1f} dB re mid."))
    if abs(st["pan_position"]) >= 0.1:
        calls.append(tool_call("panner", {"pan": float(np.clip(st["pan_position"], -1, 1))}))
        notes.append(("parameters", f"panner: pan {st['pan_position']:+.2f}, assuming a centred source."))
    notes.append(("order", "Without a dry clip no order can be measured; only image modules are proposed."))
    return Chain(tuple(calls)), notes
