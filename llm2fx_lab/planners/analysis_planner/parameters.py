"""Parameters: closed forms, learned regressors where they beat them, and the gain.

Each module's parameters start from their closed form (:mod:`.estimators`); a parameter is
taken from its regressor (``models/params.json``) where that had the lower held-out error,
except where the closed form's own fit explains the pair (:func:`exact_params`). The gain is
decided last: it closes the loudness gap the other modules leave, measured by rendering them
on the crop (:func:`close_gain`), and is kept by :func:`wants_gain`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.fx.render import render
from llm2fx_lab.fx.spec import module as module_spec
from llm2fx_lab.planners.analysis_planner.config import AnalysisConfig
from llm2fx_lab.planners.analysis_planner.crop import Span
from llm2fx_lab.planners.analysis_planner.estimators import THRESHOLDS
from llm2fx_lab.planners.analysis_planner.pair_features import PairFeatures


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


def exact_params(fits: dict[str, Any], shaped: bool, config: AnalysisConfig = AnalysisConfig()) -> frozenset[str]:
    """Parameters (``"module.param"``) whose closed form is exact: where a closed form's own fit
    explains the pair, a regressor (trained for the median over all pairs) would only pull it
    towards the middle."""
    exact = set()
    if fits["stereo"]["residual"] < config.exact_stereo_residual:
        exact |= {"panner.pan", "stereo_widener.width"}
    if shaped:
        exact.add("distortion.drive_db")
    return frozenset(exact)


#: How a parameter is named in the reasoning where its bare name would read as a measurement
#: ("pan 0.4" is a panner setting, not the measured balance).
PARAM_WORDS = {"pan": "pan setting"}


def why_note(module_name: str, f: PairFeatures, eq_resid: float,
             learned: dict[str, tuple[float, float]] | None = None) -> str:
    """The clause that says where a module's parameters came from (closed form or trees)."""
    if learned:
        closed = [p for p in module_spec(module_name).param_names if p not in learned]
        words = {p: PARAM_WORDS.get(p, p) for p in module_spec(module_name).param_names}
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


def close_gain(names: list[str], params: dict[str, dict[str, float]], span: Span, sr: float) -> tuple[float, str]:
    """The gain (dB) that closes the rms level gap the other modules (``names`` with
    ``params``, in order) leave between the rendered crop and the reference, and its sentence."""
    chain = Chain(tuple(tool_call(n, params[n], mode="lenient") for n in names))
    est = span.tail(render(span.dry, sr, chain))
    rms = lambda z: 10 * np.log10(float(np.mean(z.astype(np.float64) ** 2)) + 1e-12)  # noqa: E731
    gap = rms(span.reference) - rms(est)
    return gap, (f"Level: the other modules leave the estimate {-gap:+.1f} dB from the reference "
                 f"(rms), so gain {gap:+.1f} dB" + (" is needed." if abs(gap) >= THRESHOLDS["gain_db"]
                                                   else " is too small to add a gain module."))


def wants_gain(gain_db: float, probability: float | None, config: AnalysisConfig = AnalysisConfig()) -> bool:
    """Whether a gain module of ``gain_db`` (the level gap :func:`close_gain` measured) is added.

    With the presence trees' ``probability``: when it reaches 0.5 and the gap is at least
    ``config.gain_tree_min_db``, or when the gap alone is at least ``config.gain_override_db``
    (an obvious level change the trees' second stage, expecting a short chain, doubts). Without
    trees: when the gap passes the measured threshold.
    """
    if probability is None:
        return abs(gain_db) >= THRESHOLDS["gain_db"]
    return ((probability >= 0.5 and abs(gain_db) >= config.gain_tree_min_db)
            or (config.gain_override_db is not None and abs(gain_db) >= config.gain_override_db))
