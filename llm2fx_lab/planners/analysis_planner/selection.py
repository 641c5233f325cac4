"""Selection: which modules are in the chain, with their closed-form and learned settings.

:func:`closed_forms` turns the pair features into a rule-based presence decision and
closed-form parameters per module (gain aside: it is closed later by rendering); the shipped
presence trees (``models/presence.json``, a per-module classifier and a second stage that
weighs the nine together) then decide presence where they are shipped (:func:`decide`). A
memoryless saturator found sample by sample selects a distortion and vetoes a reverb (unless
the clip's decay time grows notably) and a limiter. :func:`presence_priors` gives the same
measurements to refinement's structure search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.fx.spec import MODULE_NAMES
from llm2fx_lab.planners.analysis_planner.config import AnalysisConfig
from llm2fx_lab.planners.analysis_planner.estimators import (
    THRESHOLDS,
    dynamics_params,
    estimate_delay,
    estimate_distortion,
    estimate_dynamics,
    estimate_reverb,
    estimate_waveshaping,
    model_features,
)
from llm2fx_lab.planners.analysis_planner.measure import measure_pair
from llm2fx_lab.planners.analysis_planner.pair_features import PairFeatures
from llm2fx_lab.planners.analysis_planner.parameters import PARAM_WORDS, exact_params, learned_params, why_note
from llm2fx_lab.planners.analysis_planner.trees import load_param_models, load_presence_models, load_presence_stack


class Decisions:
    """Per-module parameters of the modules judged present, with the notes that justify them."""

    def __init__(self) -> None:
        self.params: dict[str, dict[str, float]] = {}
        self.notes: dict[str, list[str]] = {"selection": [], "parameters": []}
        self.stereo: dict[str, Any] = {}
        self.gain_probability: float | None = None
        #: the learned models' input (:func:`~.estimators.model_features`)
        self.features: np.ndarray = np.zeros(0)
        #: per module, the parameters taken from regressors: (their held-out MAE, the closed form's)
        self.learned: dict[str, dict[str, tuple[float, float]]] = {}


def closed_forms(f: PairFeatures, sample_rate: float, fits: dict[str, Any]
                 ) -> tuple[dict[str, dict[str, float]], dict[str, bool], bool, list[str]]:
    """Closed-form parameters and rule-based presence of every module except gain.

    Returns ``(estimates, rule presence, waveshaping found, selection notes)``; ``fits`` are
    the fits of :func:`~.estimators.derived_features`.
    """
    sel: list[str] = []
    est: dict[str, dict[str, float]] = {}
    rule: dict[str, bool] = {}
    st = fits["stereo"]
    sel.append(f"Balance: pan position {f.dry_pan:+.2f} -> {f.ref_pan:+.2f}; side/mid "
               f"{f.dry_side_to_mid_db:.1f} -> {f.ref_side_to_mid_db:.1f} dB; the channel matrix fits "
               f"a panner setting of {st['pan']:+.2f} and width {st['width']:.2f}.")
    est["panner"] = {"pan": st["pan"]}
    rule["panner"] = abs(st["pan"]) >= THRESHOLDS["pan"]
    est["stereo_widener"] = {"width": st["width"]}
    rule["stereo_widener"] = st["width_visible"] and abs(st["width"] - 1) >= THRESHOLDS["width"]
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
    rule["equalizer"] = bool(eq) and eq_dev >= THRESHOLDS["eq_db"]
    delay_present, est["delay"], note = estimate_delay(f)
    rule["delay"] = delay_present
    sel.append(f"Echo: {note}.")
    rule["reverb"], est["reverb"], note = estimate_reverb(f, sample_rate, delay_present)
    sel.append(f"Space: {note}.")
    rule["distortion"], est["distortion"], note = estimate_distortion(f)
    sel.append(f"Harmonics: {note}.")
    shaped, drive, note = estimate_waveshaping(f)
    if note:
        sel.append(f"Waveshaping: {note}.")
    if shaped:
        rule["distortion"], est["distortion"] = True, {"drive_db": drive}
    dyn, dyn_params, note = estimate_dynamics(f)
    sel.append(f"Dynamics: {note}; the residual against the linear prediction changes "
               f"{f.dyn_residual_slope:+.2f} dB per dB.")
    est["compressor"], est["limiter"] = dynamics_params(f)
    if dyn:
        est[dyn] = dyn_params
    rule["compressor"], rule["limiter"] = dyn == "compressor", dyn == "limiter"
    return est, rule, shaped, sel


def decide(f: PairFeatures, sample_rate: float, use_trees: bool = True,
           measured: tuple[np.ndarray, dict[str, Any]] | None = None,
           config: AnalysisConfig = AnalysisConfig()) -> Decisions:
    """Presence and parameters of every module except gain (closed later) from the features.

    Presence comes from the shipped gradient-boosted trees (``models/presence.json``) when
    present, else from the thresholds of :data:`~.estimators.THRESHOLDS`;
    each parameter from its closed form, or from its learned regressor
    (``models/params.json``) where that beat the closed form on held-out pairs.
    ``measured``: ``f``'s :func:`~.estimators.model_features` where the
    caller has them (:func:`measure_pair`).
    """
    d = Decisions()
    sel, par = d.notes["selection"], d.notes["parameters"]
    x, fits = measured if measured is not None else model_features(f, sample_rate)
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
        if config.clean_coherence is not None and f.coherence >= config.clean_coherence:
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
    if shaped and config.shaped_overrides:
        # a memoryless saturator explains the pair sample by sample: its artefacts in the impulse
        # response are not a room, unless the clip's sounds measurably decay more slowly
        present.add("distortion")
        slower = f.evidence is not None and f.evidence.direction("decay_change_seconds") > 0
        if "reverb" in present and not slower:
            present.discard("reverb")
            sel.append("Reverb is not proposed: the waveshaping explains the pair and the clip's "
                       "decay time does not grow notably.")
        if "limiter" in present and config.drop_limiter_when_shaped:
            present.discard("limiter")
            sel.append("Limiter is not proposed: saturation alone lowers the crest factor this much.")
    learned = load_param_models() if use_trees else None
    exact = exact_params(fits, shaped, config)
    for m in MODULE_NAMES:
        if m in present and est.get(m) is not None:
            d.params[m], d.learned[m] = learned_params(m, est[m], x, learned, exact)
    sel.append("Selected: " + (", ".join(m for m in MODULE_NAMES if m in d.params) or "nothing")
               + " (gain is decided after the others are rendered).")
    for m in MODULE_NAMES:
        if m in d.params and d.params[m]:
            par.append(f"{m}: " + ", ".join(f"{PARAM_WORDS.get(k, k)} {v:.3g}" for k, v in d.params[m].items())
                       + why_note(m, f, eq_resid, d.learned.get(m, {})))
    return d


def tree_probabilities(x: np.ndarray) -> tuple[dict[str, float] | None, dict[str, float] | None]:
    """Presence probabilities of the shipped trees for the model features ``x``
    (:func:`~.estimators.model_features`): ``(each module's own tree, after
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
                    config: AnalysisConfig = AnalysisConfig()) -> PresencePriors:
    """Measure the pair as :func:`decide` does (``config.max_seconds`` of it) and return
    :class:`PresencePriors`."""
    sr = check_sample_rate(sample_rate)
    f, x, fits = measure_pair(as_stereo_float32(dry, "dry"), as_stereo_float32(reference, "reference"), sr,
                              config.max_seconds)
    est, _, shaped, _ = closed_forms(f, sr, fits)
    own, stacked = tree_probabilities(x)
    learned = load_param_models()
    exact = exact_params(fits, shaped, config)
    candidates = {m: learned_params(m, est[m], x, learned, exact)[0] for m in MODULE_NAMES
                  if m != "gain" and est.get(m) is not None}
    return PresencePriors(dict(stacked or own or {}), candidates)
