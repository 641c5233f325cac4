"""Closed-form and analysis-by-synthesis estimates of each module from :class:`PairFeatures`.

Each function returns ``(present, params, note)``: a presence decision, the parameters in the
module's units, and a sentence quoting the measured numbers (used in the reasoning).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pedalboard
import scipy.optimize
import scipy.signal

from llm2fx_lab.analysis.evidence import _echo_from_response
from llm2fx_lab.fx.render import equalizer_sos
from llm2fx_lab.fx.spec import module as module_spec
from llm2fx_lab.planners.analysis_planner.pair_features import (
    EQ_FREQS_HZ,
    PairFeatures,
    _ir_decay,
    impulse_response,
    late_energy,
)

#: Presence thresholds (tuned on generated pairs; see scripts/train_analysis_planner.py).
THRESHOLDS = {
    "pan": 0.1,             # |pan| at or above which a panner is reported
    "width": 0.12,          # |width - 1|
    "eq_db": 6.0,           # largest deviation (dB) of the fitted EQ curve
    "echo_strength": 20.0,  # echo peak / median of the impulse response
    "echo_level": 0.06,     # echo amplitude re direct sound
    "reverb_late_db": -2.0,   # diffuse late IR energy re direct energy
    "harmonics_db": -23.0,  # share of energy in new harmonics
    "dyn_residual_slope": -0.33,  # level-dependent gain (dB/dB) beyond the linear prediction
    "limiter_crest_db": -5.3,     # crest factor change below which a limiter is reported
    "gain_db": 1.0,         # unexplained level change
}


def clip_to_spec(module_name: str, params: dict[str, float]) -> dict[str, float]:
    """Clamp each parameter into its valid range."""
    spec = module_spec(module_name)
    return {k: float(min(max(v, spec.param(k).lowest_valid), spec.param(k).maximum)) for k, v in params.items()}


# --- gain, pan, width: the 2x2 channel matrix ---------------------------------------------

_PANS = np.round(np.arange(-1.0, 1.0001, 0.05), 3)
_WIDTHS = np.round(np.arange(0.0, 1.5001, 0.05), 3)


def _pan_matrix(pan: np.ndarray) -> np.ndarray:
    theta = (pan + 1) * np.pi / 4
    out = np.zeros(pan.shape + (2, 2))
    out[..., 0, 0], out[..., 1, 1] = np.cos(theta), np.sin(theta)
    return out


def _width_matrix(width: np.ndarray) -> np.ndarray:
    out = np.empty(width.shape + (2, 2))
    out[..., 0, 0] = out[..., 1, 1] = (1 + width) / 2
    out[..., 0, 1] = out[..., 1, 0] = (1 - width) / 2
    return out


def fit_stereo(f: PairFeatures, force_mono: bool = False) -> dict[str, float]:
    """Fit ``A = g P(pan) M(width)`` (and the other order) to the channel matrix.

    Returns pan, width, gain_db, the residual of each order, and which order fits best
    (``"panner_first"`` True when the panner comes before the widener).
    """
    a = np.asarray(f.matrix).reshape(2, 2)
    mono_dry = force_mono or f.dry_side_to_mid_db < -40
    if mono_dry:
        # only A @ [1, 1] is determined when the dry clip is mono
        a = np.repeat((a @ np.ones(2))[:, None] / 2, 2, axis=1)
    p = _pan_matrix(_PANS)[:, None]            # (P, 1, 2, 2)
    w = _width_matrix(_WIDTHS)[None, :]        # (1, W, 2, 2)
    best = {}
    for order, b in (("panner_first", w @ p), ("widener_first", p @ w)):
        if mono_dry:
            b = np.repeat((b @ np.ones(2))[..., None] / 2, 2, axis=-1)
        g = np.einsum("ij,...ij->...", a, b) / np.maximum(np.einsum("...ij,...ij->...", b, b), 1e-12)
        resid = np.einsum("...ij,...ij->...", a - g[..., None, None] * b, a - g[..., None, None] * b)
        # prefer width 1 and pan 0 on ties (they are the absent modules)
        resid = resid + 1e-6 * np.abs(_WIDTHS[None, :] - 1) + 1e-6 * np.abs(_PANS[:, None])
        i, j = np.unravel_index(int(np.argmin(resid)), resid.shape)
        best[order] = (float(resid[i, j]), float(_PANS[i]), float(_WIDTHS[j]), float(g[i, j]))
    order = min(best, key=lambda k: best[k][0])
    resid, pan, width, g = best[order]
    scale = float(np.sum(a * a)) + 1e-12
    return {"pan": pan, "width": width, "gain_db": 20 * math.log10(max(abs(g), 1e-6)),
            "residual": resid / scale, "panner_first": order == "panner_first",
            "other_residual": best["widener_first" if order == "panner_first" else "panner_first"][0] / scale,
            "width_visible": not mono_dry}


# --- equalizer: three RBJ bands fitted to the mid transfer function ------------------------

_EQ_LO = np.array([-20, 20, 0.1, -20, 250, 0.1, -20, 4000, 0.1, -30])
_EQ_HI = np.array([20, 400, 6, 20, 6000, 6, 20, 20000, 6, 30])
_EQ_NAMES = ("low_gain_db", "low_cutoff_freq", "low_q_factor", "mid_gain_db", "mid_cutoff_freq",
             "mid_q_factor", "high_gain_db", "high_cutoff_freq", "high_q_factor")


def eq_response_db(params: np.ndarray, sample_rate: float, freqs: np.ndarray = EQ_FREQS_HZ) -> np.ndarray:
    """dB response of the three-band equalizer (``params`` in official argument order)."""
    sos = equalizer_sos(sample_rate, *[float(v) for v in params[:9]])
    _, h = scipy.signal.sosfreqz(sos, worN=freqs, fs=sample_rate)
    return 20 * np.log10(np.maximum(np.abs(h), 1e-8))


def fit_equalizer(f: PairFeatures, sample_rate: float) -> tuple[dict[str, float], float, float]:
    """Least-squares fit of the 3 RBJ bands (+ a broadband offset) to ``f.eq_db``.

    Returns the parameters, the largest deviation (dB) of the fitted curve from flat, and the
    rms residual (dB).
    """
    target = np.asarray(f.eq_db)
    valid = EQ_FREQS_HZ < 0.45 * sample_rate
    freqs, target = EQ_FREQS_HZ[valid], target[valid]

    def residual(v: np.ndarray) -> np.ndarray:
        return eq_response_db(v, sample_rate, freqs) + v[9] - target

    starts = [np.array([0, 150, 0.707, 0, 1500, 1.0, 0, 8000, 0.707, 0.0]),
              np.array([0, 300, 2.0, 0, 3000, 3.0, 0, 12000, 2.0, 0.0])]
    best = None
    for x0 in starts:
        try:
            r = scipy.optimize.least_squares(residual, x0, bounds=(_EQ_LO, _EQ_HI), x_scale=
                                             np.array([5, 100, 1, 5, 1000, 1, 5, 3000, 1, 3]),
                                             max_nfev=60, loss="soft_l1", f_scale=1.0)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if best is None or r.cost < best.cost:
            best = r
    if best is None:
        return {}, 0.0, float(np.sqrt(np.mean(target ** 2)))
    curve = eq_response_db(best.x, sample_rate, freqs)
    params = clip_to_spec("equalizer", dict(zip(_EQ_NAMES, best.x[:9])))
    for band in ("low", "mid", "high"):
        params[f"{band}_gain_db"] = float(np.round(params[f"{band}_gain_db"]))
    return params, float(np.max(np.abs(curve))), float(np.sqrt(np.mean(residual(best.x) ** 2)))


# --- delay: echoes in the impulse response --------------------------------------------------

def echo_check(f: PairFeatures) -> tuple[bool | None, float]:
    """Whether the pair holds a *distinct* echo, by the test :func:`llm2fx_lab.analysis.compare` uses.

    A peak of the impulse response between 40 ms and 1 s counts as an echo only when it is at
    least 20x the median of that range and 3x the largest value within 30 ms around it (early
    reflections, reverb and distortion artefacts spread their energy and fail this). Returns
    ``(detected, delay_seconds)``; ``detected`` is None when neither the Evidence nor the
    impulse response is available (features rebuilt from a vector).
    """
    ev = f.evidence
    if ev is not None:
        return bool(ev.echo_detected), float(ev.echo_delay_seconds) if ev.echo_detected else float("nan")
    if getattr(f.ir, "size", 0) >= 16:
        detected, delay, _, _ = _echo_from_response(np.asarray(f.ir, dtype=np.float64), f.ir_rate)
        return bool(detected), float(delay)
    return None, float("nan")


def estimate_delay(f: PairFeatures) -> tuple[bool, dict[str, float], str]:
    present = f.echo_strength >= THRESHOLDS["echo_strength"] and f.echo_level >= THRESHOLDS["echo_level"]
    distinct, ev_delay = echo_check(f)
    e = f.echo_level
    mix = e / (1 + e)
    seconds = f.echo_delay_seconds
    snapped = round(seconds / 0.05) * 0.05
    if abs(snapped - seconds) < 0.004:
        seconds = snapped
    params = clip_to_spec("delay", {"delay_seconds": seconds, "feedback": min(f.echo_second_level, 0.6),
                                    "mix_ratio": mix})
    peak = (f"{f.echo_level:.2f} of the direct sound (peak {f.echo_strength:.0f}x the median), "
            f"the next repeat at {f.echo_second_level:.2f} of it")
    if distinct is None:
        note = f"the impulse response has an echo at {1000 * f.echo_delay_seconds:.0f} ms, {peak}"
    elif distinct:
        note = f"the impulse response has an echo at {1000 * ev_delay:.0f} ms"
        if abs(ev_delay - f.echo_delay_seconds) > max(0.02, 0.1 * ev_delay):
            note += (f"; the strongest impulse-response peak sits at {1000 * f.echo_delay_seconds:.0f} ms, "
                     f"{peak}")
        else:
            note += f", {peak}"
    else:
        # a peak that is not distinct from its neighbourhood: reflections, reverb or artefacts
        present = False
        note = (f"no distinct echo was found between 40 ms and 1 s; the strongest impulse-response peak "
                f"after 40 ms, {1000 * f.echo_delay_seconds:.0f} ms in, is {f.echo_level:.2f} of the direct "
                f"sound but not well above the energy around it (early reflections or reverb, not a delay)")
    return present, params, note


# --- reverb: late energy and decay of the impulse response ---------------------------------

_ROOMS = np.round(np.arange(0.1, 0.91, 0.1), 2)


@functools.lru_cache(maxsize=4)
def reverb_table(sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(late energy per unit wet level, decay seconds) of the measured IR for each room size.

    Measured once per rate by rendering noise through pedalboard's reverb (damping 0.5),
    through the same deconvolution as the pairs.
    """
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((2, int(3 * sample_rate)))).astype(np.float32)
    late, decay = [], []
    for room in _ROOMS:
        y = pedalboard.Reverb(room_size=float(room), damping=0.5, width=0.5, wet_level=1.0, dry_level=0.0)(
            x, sample_rate)
        h, rate = impulse_response(x, y, sample_rate)
        late.append(late_energy(h, rate))
        decay.append(_ir_decay(h, rate))
    return np.asarray(late), np.asarray(decay)


def estimate_reverb(f: PairFeatures, sample_rate: float, delay_present: bool) -> tuple[bool, dict[str, float], str]:
    late_ratio = 10 ** (f.ir_late_db / 10)
    present = f.ir_late_db >= THRESHOLDS["reverb_late_db"] + (6.0 if delay_present else 0.0)
    late, decay = reverb_table(float(sample_rate))
    room = float(np.interp(f.ir_decay_seconds, decay, _ROOMS)) if np.all(np.diff(decay) > 0) else \
        float(_ROOMS[int(np.argmin(np.abs(decay - f.ir_decay_seconds)))])
    w = float(np.interp(room, _ROOMS, late))
    # direct = 2 (1 - mix), late = mix^2 w  =>  late / direct^2 = mix^2 w / (4 (1 - mix)^2)
    r = math.sqrt(max(late_ratio, 0.0) * 4.0 / max(w, 1e-9))
    mix = r / (1 + r)
    params = clip_to_spec("reverb", {"room_size": round(room, 2), "damping": 0.5, "width": 0.5,
                                     "mix_ratio": round(mix, 3)})
    note = (f"late energy of the impulse response is {f.ir_late_db:.1f} dB re the direct sound, "
            f"and its late tail falls at about 60 dB per {f.ir_decay_seconds:.2f} s (the impulse response's "
            f"slope, not a decay time of the clip)")
    ev = f.evidence
    if ev is not None and math.isfinite(ev.wet_decay_seconds) and math.isfinite(ev.dry_decay_seconds):
        note += (f"; the reference's measured decay time is about {ev.wet_decay_seconds:.2f} s against "
                 f"{ev.dry_decay_seconds:.2f} s for the dry clip")
    return present, params, note


# --- distortion, dynamics --------------------------------------------------------------------

def estimate_distortion(f: PairFeatures) -> tuple[bool, dict[str, float], str]:
    present = f.harmonics_db >= THRESHOLDS["harmonics_db"]
    # more drive, more new energy: about -35 dB at 2 dB drive to -10 dB at 20 dB (rough)
    drive = float(np.clip(2 + (f.harmonics_db + 35) * 18 / 25, 2, 20))
    note = f"{10 ** (f.harmonics_db / 10) * 100:.2f} % of the reference's energy is new (harmonics)"
    return present, {"drive_db": round(drive)}, note


#: A tanh saturator must fit the pair this much better (dB of residual) than a local linear gain,
#: and leave at most this residual (dB re the reference), to count as distortion.
WAVESHAPE_GAIN_DB = 6.0
WAVESHAPE_RESIDUAL_DB = -20.0


def estimate_waveshaping(f: PairFeatures) -> tuple[bool, float, str]:
    """Distortion from sample-level waveshaping (:func:`~.pair_features.waveshaping`).

    A compressor or limiter changes the gain slowly; a saturator bends every cycle, so
    ``y ~ g tanh(k x)`` fits sample by sample. Returns (present, drive_db, note); the note is
    empty when nothing was measured.
    """
    cubic_gain, drive, lin_db, tanh_db = (tuple(f.waveshape) + (0.0, 0.0, -120.0, 0.0))[:4]
    if drive <= 0 and cubic_gain == 0.0:
        return False, 0.0, ""
    present = drive > 0 and tanh_db <= min(lin_db - WAVESHAPE_GAIN_DB, WAVESHAPE_RESIDUAL_DB)
    if drive > 0:
        note = (f"sample by sample, a tanh saturator at drive {drive:.0f} dB leaves {tanh_db:.1f} dB of residual "
                f"against {lin_db:.1f} dB for a gain that varies every 10 ms")
    else:
        note = f"no tanh saturator fits the pair sample by sample (a gain varying every 10 ms leaves {lin_db:.1f} dB)"
    return present, float(np.clip(drive, 2, 20)), note


def dynamics_params(f: PairFeatures) -> tuple[dict[str, float], dict[str, float]]:
    """(compressor, limiter) parameters from the dynamics features, used whenever either is present."""
    slope = float(np.clip(f.dyn_slope, 0.05, 1.0))
    ratio = float(np.clip(round(1 / max(1 - (1 - slope) * 1.5, 0.05)), 2, 20))
    thr = float(np.clip(round(f.dry_peak_dbfs - 15, -1) if np.isfinite(f.dry_peak_dbfs) else -20, -35, -5))
    lim_thr = float(np.clip(round(-1 + min(f.crest_change_db, 0) * 1.5), -19, -1))
    return ({"threshold_db": thr, "ratio": ratio, "attack_ms": 50.0, "release_ms": 200.0},
            {"threshold_db": lim_thr, "release_ms": 200.0})


def estimate_dynamics(f: PairFeatures) -> tuple[str | None, dict[str, float], str]:
    """Compressor or limiter (or neither) from the frame-level slope and the peaks."""
    note = (f"loud frames change level at {f.dyn_slope:.2f} dB per dB of dry level "
            f"(spread {f.dyn_spread_db:.1f} dB), the crest factor changes by {f.crest_change_db:+.1f} dB")
    compressor, limiter = dynamics_params(f)
    if f.crest_change_db <= THRESHOLDS["limiter_crest_db"]:
        return "limiter", limiter, note
    if f.dyn_residual_slope <= THRESHOLDS["dyn_residual_slope"]:
        return "compressor", compressor, note
    return None, {}, note


# --- derived features for the learned models ------------------------------------------------

DERIVED_NAMES = ("fit_pan", "fit_abs_pan", "fit_width", "fit_abs_width_change", "fit_residual",
                 "fit_other_residual", "width_visible", "eq_deviation_db", "eq_residual_db",
                 "eq_low_gain_db", "eq_mid_gain_db", "eq_high_gain_db", "delay_mix", "log_echo_strength",
                 "reverb_mix", "reverb_room", "mono_fit_abs_pan", "mono_fit_residual",
                 # which order of panner and widener fits the channel matrix, and how clearly
                 "fit_panner_first", "fit_order_log_ratio",
                 # sample-level waveshaping (see pair_features.waveshaping)
                 "shape_cubic_gain_db", "shape_tanh_drive_db", "shape_linear_residual_db", "shape_tanh_residual_db",
                 # the pair's Evidence (nan when rebuilt from a vector)
                 "ev_low_band_db", "ev_mid_band_db", "ev_high_band_db", "ev_loudness_range_change_lu",
                 "ev_correlation_change", "ev_dry_decay_seconds", "ev_wet_decay_seconds", "ev_echo_detected",
                 "ev_echo_delay_seconds", "ev_echo_level_db", "ev_echo_feedback",
                 # closed-form settings not already above
                 "eq_low_cutoff_freq", "eq_mid_cutoff_freq", "eq_high_cutoff_freq", "eq_low_q_factor",
                 "eq_mid_q_factor", "eq_high_q_factor", "delay_feedback", "drive_from_harmonics",
                 "compressor_ratio", "compressor_threshold_db", "limiter_threshold_db")

_EVIDENCE_FIELDS = ("low_band_gain_db", "mid_band_gain_db", "high_band_gain_db", "loudness_range_change_lu",
                    "correlation_change", "dry_decay_seconds", "wet_decay_seconds", "echo_detected",
                    "echo_delay_seconds", "echo_level_db", "echo_feedback")


def derived_features(f: PairFeatures, sample_rate: float) -> tuple[np.ndarray, dict[str, object]]:
    """The closed-form estimates and other measurements as extra inputs of the learned models
    (:data:`DERIVED_NAMES`), and the estimates (``stereo``, ``eq``, ``delay``, ``reverb`` fits).

    Values that cannot be measured (Evidence fields of features rebuilt from a vector) are
    nan, which the trees route like missing values.
    """
    st = fit_stereo(f)
    eq, eq_dev, eq_resid = fit_equalizer(f, sample_rate)
    _, delay, _ = estimate_delay(f)
    _, rev, _ = estimate_reverb(f, sample_rate, False)
    values = [st["pan"], abs(st["pan"]), st["width"], abs(st["width"] - 1), st["residual"], st["other_residual"],
              float(st["width_visible"]), eq_dev, eq_resid, eq.get("low_gain_db", 0.0), eq.get("mid_gain_db", 0.0),
              eq.get("high_gain_db", 0.0), delay["mix_ratio"], math.log10(max(f.echo_strength, 1e-3)),
              rev["mix_ratio"], rev["room_size"]]
    mono = fit_stereo(f, force_mono=True)
    values += [abs(mono["pan"]), mono["residual"]]
    values += [float(st["panner_first"]),
               math.log10((st["other_residual"] + 1e-9) / (st["residual"] + 1e-9))]
    values += [float(v) for v in (tuple(f.waveshape) + (0.0, 0.0, -120.0, 0.0))[:4]]
    ev = f.evidence
    values += [float(getattr(ev, k)) if ev is not None else float("nan") for k in _EVIDENCE_FIELDS]
    _, dist, _ = estimate_distortion(f)
    comp, lim = dynamics_params(f)
    values += [eq.get(k, float("nan")) for k in ("low_cutoff_freq", "mid_cutoff_freq", "high_cutoff_freq",
                                                  "low_q_factor", "mid_q_factor", "high_q_factor")]
    values += [delay["feedback"], dist["drive_db"], comp["ratio"], comp["threshold_db"], lim["threshold_db"]]
    x = np.asarray(values, dtype=np.float64)
    x[np.isinf(x)] = np.nan
    # the first block never holds missing values (as the shipped presence trees were trained)
    x[:18] = np.nan_to_num(x[:18])
    return x, {"stereo": st, "eq": (eq, eq_dev, eq_resid), "delay": delay, "reverb": rev}


def model_features(f: PairFeatures, sample_rate: float) -> tuple[np.ndarray, dict[str, object]]:
    """The input of every learned model: :meth:`PairFeatures.vector` then :func:`derived_features`."""
    derived, fits = derived_features(f, sample_rate)
    return np.concatenate([f.vector(), derived]), fits


def model_feature_names() -> list[str]:
    """Names of :func:`model_features`' entries."""
    return PairFeatures.vector_names() + list(DERIVED_NAMES)
