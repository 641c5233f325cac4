"""Module order: the permutation search over learned pairwise probabilities, and the analysis
planner on a clear case (distortion before or after a strong EQ)."""

from __future__ import annotations

import math
import re

import pytest

from llm2fx_lab.examples import load_example
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.fx.render import render
from llm2fx_lab.planners.analysis_planner import AnalysisConfig, best_gain_position, best_order

EXHAUSTIVE_ORDER_MAX = AnalysisConfig().exhaustive_order_max
from llm2fx_lab.events import collect
from llm2fx_lab.planners.registry import get_planner


def _logp(prefs: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    out = {}
    for (a, b), p in prefs.items():
        out[(a, b)], out[(b, a)] = math.log(p), math.log(1 - p)
    return out


def test_best_order_follows_pairwise_probabilities():
    names = ["equalizer", "compressor", "distortion", "reverb"]
    logp = _logp({("reverb", "distortion"): 0.9, ("distortion", "equalizer"): 0.8,
                  ("compressor", "reverb"): 0.7})
    assert best_order(names, logp) == ["compressor", "reverb", "distortion", "equalizer"]


def test_best_order_keeps_the_given_order_on_ties():
    names = ["equalizer", "gain", "delay"]
    assert best_order(names, {}) == names
    assert best_order(names, _logp({("gain", "delay"): 0.5})) == names


def test_best_order_beyond_exhaustive_search():
    names = ["equalizer", "compressor", "distortion", "gain", "panner", "stereo_widener", "delay", "reverb"]
    assert len(names) > EXHAUSTIVE_ORDER_MAX
    logp = _logp({("reverb", "equalizer"): 0.95})
    out = best_order(names, logp)
    assert sorted(out) == sorted(names)
    assert out.index("reverb") < out.index("equalizer")


def test_gain_position():
    names = ["equalizer", "distortion", "reverb"]
    assert best_gain_position(names, {}) == ["equalizer", "gain", "distortion", "reverb"]
    logp = _logp({("distortion", "gain"): 0.9, ("gain", "reverb"): 0.8})
    assert best_gain_position(names, logp) == ["equalizer", "distortion", "gain", "reverb"]


@pytest.mark.xfail(strict=True, reason="known weakness: trained on 10,000 rows, no equalizer/distortion order "
                   "tree passes the held-out bar (accuracy 0.597 on 366 held-out pairs); on the guitar clip the "
                   "planner puts the distortion before the eq for the eq-first pair and misses the distortion "
                   "in the distortion-first one")
def test_planner_hears_distortion_against_eq():
    """A strong low boost before a heavy drive distorts differently than after it."""
    dry, sr = load_example("guitar")
    dry = dry[:, : int(4 * sr)]
    eq = tool_call("equalizer", {"low_gain_db": 14, "low_cutoff_freq": 300, "high_gain_db": -12,
                                 "high_cutoff_freq": 6000})
    drive = tool_call("distortion", {"drive_db": 16})
    planner = get_planner("analysis")
    found = {}
    for label, calls in (("eq first", (eq, drive)), ("distortion first", (drive, eq))):
        names = collect(planner.plan(dry, render(dry, sr, Chain(calls)), sr)).chain.names
        found[label] = [n for n in names if n in ("equalizer", "distortion")]
    assert found == {"eq first": ["equalizer", "distortion"], "distortion first": ["distortion", "equalizer"]}, found


#: The order search's two renderers: pedalboard (search_order, the CPU default) and the batched
#: torch renderer (search_order_torch, for a GPU; here on the CPU).
BACKENDS = ["pedalboard", "torch"]


def _search(calls, true_order, start_order, backend="pedalboard", seconds=3.0):
    from llm2fx_lab.analysis.mrstft import mrstft_spectra
    from llm2fx_lab.planners.analysis_planner import loudest_span, search_order, search_order_torch

    dry, sr = load_example("drums")
    dry = dry[:, : int(seconds * sr)]
    by_name = {c.name: c for c in calls}
    reference = render(dry, sr, Chain(tuple(by_name[n] for n in true_order)))
    span = loudest_span(dry, reference, sr, 1.0)
    if backend in ("torch", "cuda"):
        return search_order_torch(list(start_order), by_name, span, sr, "cpu" if backend == "torch" else "cuda")
    return search_order(list(start_order), by_name, span, mrstft_spectra(span.reference), sr)


@pytest.mark.parametrize("backend", BACKENDS)
def test_order_search_finds_the_audible_order_from_the_wrong_start(backend):
    """Gain before a hard compressor is squashed; after it, it is not: the render tells them apart."""
    calls = (tool_call("gain", {"gain_db": 14}), tool_call("compressor", {"threshold_db": -30, "ratio": 10}),
             tool_call("reverb", {"mix_ratio": 0.6, "room_size": 0.8}))
    for true_order in (["gain", "compressor", "reverb"], ["reverb", "compressor", "gain"]):
        order, notes = _search(calls, true_order, true_order[::-1], backend)
        assert order == true_order, notes
        assert "taken" in notes[-1] and "MR-STFT" in notes[-1]


def test_both_order_searches_measure_the_same_distances():
    """The torch search's MR-STFT distance is auraloss's, like the pedalboard search's: the
    distances they quote for the given and the found order agree."""
    calls = (tool_call("gain", {"gain_db": 14}), tool_call("compressor", {"threshold_db": -30, "ratio": 10}),
             tool_call("reverb", {"mix_ratio": 0.6, "room_size": 0.8}))
    true_order = ["gain", "compressor", "reverb"]
    quoted = {}
    for backend in BACKENDS:
        order, notes = _search(calls, true_order, true_order[::-1], backend)
        quoted[backend] = [float(v) for v in re.findall(r"(\d+\.\d+)", notes[-1])]
        assert order == true_order
    assert len(quoted["torch"]) == 2 and quoted["torch"] == pytest.approx(quoted["pedalboard"], abs=0.002), quoted
    assert "rendered in batches on cpu" in notes[-1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_order_search_keeps_interchangeable_modules_and_a_right_order(backend):
    """Gain, EQ and delay commute: no order of them is better, so the given one is kept."""
    calls = (tool_call("gain", {"gain_db": -6}), tool_call("equalizer", {"low_gain_db": 8}),
             tool_call("delay", {"delay_seconds": 0.2, "feedback": 0.3, "mix_ratio": 0.4}))
    order, notes = _search(calls, ["delay", "gain", "equalizer"], ["equalizer", "gain", "delay"], backend)
    assert order == ["equalizer", "gain", "delay"]
    assert "kept" in notes[-1] and "1 distinct order" in notes[-1]
    order, notes = _search(calls[:2] + (tool_call("distortion", {"drive_db": 18}),),
                           ["gain", "equalizer", "distortion"], ["gain", "equalizer", "distortion"], backend)
    assert order == ["gain", "equalizer", "distortion"] and "kept" in notes[-1], notes


@pytest.mark.parametrize("backend", BACKENDS)
def test_order_search_beyond_exhaustive_uses_moves(backend):
    ORDER_SEARCH_EXHAUSTIVE_MAX = AnalysisConfig().order_search_exhaustive_max

    calls = (tool_call("gain", {"gain_db": 14}), tool_call("compressor", {"threshold_db": -30, "ratio": 10}),
             tool_call("reverb", {"mix_ratio": 0.6, "room_size": 0.8}), tool_call("panner", {"pan": 0.5}),
             tool_call("equalizer", {"high_gain_db": -10}), tool_call("distortion", {"drive_db": 12}))
    assert len(calls) > ORDER_SEARCH_EXHAUSTIVE_MAX
    true_order = [c.name for c in calls]
    start = ["compressor", "gain"] + true_order[2:]
    order, notes = _search(calls, true_order, start, backend)
    assert order.index("gain") < order.index("compressor"), notes
    assert ("every module tried at every position" if backend == "pedalboard"
            else "single-module moves of the 2 best orders rendered at once on cpu") in notes[-1]


def test_analysis_planner_order_search_device():
    """The planner's order search renders on the CPU with pedalboard unless given a GPU; a
    device that does not exist is a clear error."""
    import torch

    from llm2fx_lab.errors import BackendError
    from llm2fx_lab.planners.analysis_planner import AnalysisPlanner

    assert AnalysisPlanner().device is None
    assert AnalysisPlanner(device="cpu").device is None
    assert get_planner("analysis", device="cpu").device is None
    assert AnalysisPlanner(device="auto").device == (torch.device("cuda") if torch.cuda.is_available() else None)
    with pytest.raises(BackendError, match="'auto', 'cpu', 'cuda'"):
        AnalysisPlanner(device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="CUDA"):
            AnalysisPlanner(device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA")
def test_order_search_on_cuda():
    """On a GPU the order search renders there, finds the audible order, and the analysis
    planner given the device uses it."""
    calls = (tool_call("gain", {"gain_db": 14}), tool_call("compressor", {"threshold_db": -30, "ratio": 10}),
             tool_call("reverb", {"mix_ratio": 0.6, "room_size": 0.8}))
    true_order = ["gain", "compressor", "reverb"]
    order, notes = _search(calls, true_order, true_order[::-1], "cuda")
    assert order == true_order and "rendered in batches on cuda" in notes[-1], notes
    dry, sr = load_example("drums")
    dry = dry[:, : int(4 * sr)]
    result = collect(get_planner("analysis", device="cuda").plan(dry, render(dry, sr, Chain(calls)), sr))
    assert len(result.chain) >= 2 and "on cuda" in result.reasoning, result.reasoning


def test_modules_said_to_commute_render_the_same_either_way():
    """:func:`commutes` is a claim about the renderer: every pair it names interchangeable
    (the reverb with gain, EQ and delay included) renders the same in both orders, and the
    pairs around the reverb's channel mixing do not."""
    import numpy as np

    from llm2fx_lab.fx.spec import MODULE_NAMES
    from llm2fx_lab.planners.analysis_planner import commutes

    rng = np.random.default_rng(3)
    noise = (0.1 * rng.standard_normal((2, 22050))).astype(np.float32)
    noise[1] *= 0.5  # unequal channels, so the panner and widener change something
    settings = {"gain": {"gain_db": -6}, "equalizer": {"low_gain_db": 8, "high_gain_db": -5},
                "delay": {"delay_seconds": 0.05, "feedback": 0.3, "mix_ratio": 0.4},
                "reverb": {"room_size": 0.7, "damping": 0.3, "width": 0.9, "mix_ratio": 0.5},
                "panner": {"pan": 0.6}, "stereo_widener": {"width": 0.9},
                "distortion": {"drive_db": 18}, "compressor": {"threshold_db": -30, "ratio": 6},
                "limiter": {"threshold_db": -12}}
    assert set(settings) == set(MODULE_NAMES)
    said = [(a, b) for i, a in enumerate(MODULE_NAMES) for b in MODULE_NAMES[i + 1:] if commutes(a, b)]
    assert {frozenset(p) for p in said} >= {frozenset({"reverb", m}) for m in ("gain", "equalizer", "delay")}
    for a, b in said:
        one = render(noise, 44100, Chain([tool_call(a, settings[a]), tool_call(b, settings[b])]))
        other = render(noise, 44100, Chain([tool_call(b, settings[b]), tool_call(a, settings[a])]))
        assert np.max(np.abs(one - other)) <= 1e-4 * np.max(np.abs(one)), (a, b)
    for a in ("panner", "stereo_widener"):
        assert not commutes("reverb", a)
        one = render(noise, 44100, Chain([tool_call("reverb", settings["reverb"]), tool_call(a, settings[a])]))
        other = render(noise, 44100, Chain([tool_call(a, settings[a]), tool_call("reverb", settings["reverb"])]))
        assert np.max(np.abs(one - other)) > 1e-2 * np.max(np.abs(one)), a
