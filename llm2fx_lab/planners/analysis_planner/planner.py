"""AnalysisPlanner: the stream that puts selection, order and parameters together.

The planner measures the pair, decides (:mod:`.selection`), orders (:mod:`.order`), closes the
gain (:mod:`.parameters`) and streams its reasoning as it goes, quoting the measured numbers.
It is deterministic: the same pair gives the same chain and the same text.
"""

from __future__ import annotations

import threading
from typing import Any, Iterator

import numpy as np

from llm2fx_lab.analysis.mrstft import mrstft_spectra
from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.events import Event, Final, Response, StreamClock, Thinking, ToolCallEvent
from llm2fx_lab.fx.chain import Chain, as_chain, tool_call
from llm2fx_lab.planners.analysis_planner.blind import blind_dry, reference_only_chain
from llm2fx_lab.planners.analysis_planner.config import AnalysisConfig
from llm2fx_lab.planners.analysis_planner.crop import loudest_span
from llm2fx_lab.planners.analysis_planner.measure import measure_pair
from llm2fx_lab.planners.analysis_planner.order import (
    STUDIO_ORDER,
    best_gain_position,
    default_gain_position,
    learned_order,
    order_log_probabilities,
    search_order,
    search_order_torch,
)
from llm2fx_lab.planners.analysis_planner.parameters import close_gain, wants_gain
from llm2fx_lab.planners.analysis_planner.selection import Decisions, decide
from llm2fx_lab.planners.analysis_planner.trees import load_order_models
from llm2fx_lab.planners.edits import edit_stream, then_edit


class AnalysisPlanner:
    """Deterministic planner from measurements, closed forms and small trees.

    Parameters
    ----------
    config : AnalysisConfig, optional
        Every tuning knob (:class:`~.config.AnalysisConfig`); the defaults without it.
    device : None, "auto", "cpu", "cuda" or "cuda:N"
        Where the order search renders. None or ``"cpu"``: pedalboard on the CPU
        (:func:`~.order.search_order`). A CUDA device: the batched torch renderer there
        (:func:`~.order.search_order_torch`); ``"auto"`` picks CUDA when available, else the
        CPU. The measurements and trees run on the CPU either way.
    **settings
        Single :class:`~.config.AnalysisConfig` fields over ``config``, e.g.
        ``AnalysisPlanner(order_search=False)``.

    Raises
    ------
    BackendError
        An unknown device, or CUDA asked for where there is none.
    ParameterError
        An unknown or out-of-range setting (the message lists the allowed ones).
    """

    name = "analysis"

    def __init__(self, config: AnalysisConfig | None = None, device: Any = None, **settings: Any) -> None:
        self.config = (config or AnalysisConfig()).replace(**settings)
        self.device = None
        if device is not None:
            # torch only when a device is asked for: the CPU planner never imports it
            from llm2fx_lab.fx.torch_render import resolve_device

            resolved = resolve_device(device, warn_cpu_fallback=False)
            self.device = None if resolved.type == "cpu" else resolved

    def plan(self, dry: np.ndarray | None, reference: np.ndarray, sample_rate: float,
             instruction: str | None = None, stop: threading.Event | None = None,
             chain: Chain | None = None) -> Iterator[Event]:
        """Stream reasoning, tool calls, a response and a :class:`~llm2fx_lab.events.Final`.

        With ``chain`` (the user's current chain, e.g. after hand edits) and an
        ``instruction``, this is a conversation turn: the instruction edits *that* chain
        (:func:`~llm2fx_lab.planners.edits.edit_stream`) instead of a fresh estimate, so
        nothing the user changed is lost. An ``instruction`` without ``chain`` edits the
        estimate the same way (:func:`~llm2fx_lab.planners.edits.then_edit`), and the reply
        says what it changed. Without ``dry`` (blind mode) the reference is compared with its
        pseudo-dry (:mod:`.blind`).
        """
        if chain is not None and instruction:
            yield from edit_stream(as_chain(chain), instruction, planner=self.name)
        elif instruction:
            yield from then_edit(self._estimate(dry, reference, sample_rate, stop), instruction)
        else:
            yield from self._estimate(dry, reference, sample_rate, stop)

    def _estimate(self, dry: np.ndarray | None, reference: np.ndarray, sample_rate: float,
                  stop: threading.Event | None) -> Iterator[Event]:
        cfg = self.config
        clock = StreamClock()
        sr = check_sample_rate(sample_rate)
        ref = as_stereo_float32(reference, "reference")
        texts: list[str] = []
        chain = Chain()
        stopped = False

        def think(text: str, step: str) -> Event:
            texts.append(text)
            return clock.mark(Thinking(text, step))  # type: ignore[arg-type]

        if dry is None:
            dry, blind_note = blind_dry(ref, sr)
            yield think(blind_note + "\n", "selection")
            if dry is None:
                chain, notes = reference_only_chain(ref, sr)
                for step, text in notes:
                    yield think(text + "\n", step)
                for i, call in enumerate(chain):
                    yield clock.mark(ToolCallEvent(call, i))
                yield from self._finish(clock, chain, texts, False)
                return

        x = as_stereo_float32(dry, "dry")
        f, features, fits = measure_pair(x, ref, sr, cfg.max_seconds)
        decisions = decide(f, sr, measured=(features, fits), config=cfg)
        for text in decisions.notes["selection"]:
            yield think(text + "\n", "selection")
            if stop is not None and stop.is_set():
                stopped = True
                break
        if not stopped:
            names = [m for m in STUDIO_ORDER if m in decisions.params and m != "gain"]
            span = loudest_span(x, ref, sr, cfg.crop_seconds, cfg.preroll_seconds)
            target = mrstft_spectra(span.reference)
            names, order_notes = self._order(names, decisions)
            for text in order_notes:
                yield think(text + "\n", "order")
            gain_db, gain_note = close_gain(names, decisions.params, span, sr)
            yield think(gain_note + "\n", "parameters")
            if wants_gain(gain_db, decisions.gain_probability, cfg):
                decisions.params["gain"] = {"gain_db": float(np.clip(np.round(gain_db), -20, 20))}
                models = load_order_models() if cfg.order_model else None
                logp = order_log_probabilities(names + ["gain"], decisions.features, models) if models else {}
                names = best_gain_position(names, logp) if logp else default_gain_position(names)
                if logp:
                    yield think(f"Gain goes at position {names.index('gain') + 1} of {len(names)}, where the "
                                "learned order places it best.\n", "order")
            if cfg.order_search and len(names) >= 2:
                calls_by_name = {n: tool_call(n, decisions.params[n], mode="lenient") for n in names}
                names, search_notes = (search_order(names, calls_by_name, span, target, sr, cfg) if self.device is None
                                       else search_order_torch(names, calls_by_name, span, sr, self.device, cfg))
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
        yield from self._finish(clock, chain, texts, stopped)

    def _finish(self, clock: StreamClock, chain: Chain, texts: list[str], stopped: bool) -> Iterator[Event]:
        response = (f"Estimated chain: {' -> '.join(chain.names)}." if len(chain)
                    else "No processing was detected; the chain is empty.")
        yield clock.mark(Response(response))
        yield Final(chain, "".join(texts), response, clock.timings(), chain.repairs, stopped, self.name)

    def _order(self, names: list[str], d: Decisions) -> tuple[list[str], list[str]]:
        notes = [f"Start from the studio order: {' -> '.join(names) or 'nothing'}."]
        models = load_order_models() if self.config.order_model else None
        names, confident, note = learned_order(names, d.features, models, self.config)
        if note:
            notes.append(note)
        if "panner" in names and "stereo_widener" in names and ("panner", "stereo_widener") not in confident \
                and ("stereo_widener", "panner") not in confident:
            want_pan_first = bool(d.stereo["panner_first"])
            i, j = names.index("panner"), names.index("stereo_widener")
            if (i < j) != want_pan_first:
                names[i], names[j] = names[j], names[i]
            notes.append(f"The channel matrix fits better with the {'panner' if want_pan_first else 'widener'} "
                         f"first (residual {d.stereo['residual']:.3f} vs {d.stereo['other_residual']:.3f}).")
        return names, notes
