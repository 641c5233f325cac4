"""Module order: the permutation search over learned pairwise probabilities, and the shipped
order trees on a clear case (distortion before or after a strong EQ)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llm2fx_lab.examples import load_example
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.fx.render import render
from llm2fx_lab.planners.analysis import (EXHAUSTIVE_ORDER_MAX, best_gain_position, best_order,
                                          order_log_probabilities)
from llm2fx_lab.planners.estimators import model_features
from llm2fx_lab.planners.pair_features import pair_features
from llm2fx_lab.planners.trees import load_order_models


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


@pytest.mark.xfail(strict=True, reason="known weakness: the shipped equalizer/distortion order tree (held-out "
                   "accuracy 0.64 on 149 MIDI pairs, trained on 4,000 rows) gives P(eq first) 0.26 for the "
                   "eq-first guitar pair and 0.31 for the distortion-first one; it does not transfer to this clip")
def test_shipped_order_trees_hear_distortion_against_eq():
    """A strong low boost before a heavy drive distorts differently than after it."""
    models = load_order_models()
    if not models or ("equalizer", "distortion") not in models:
        pytest.skip("no shipped order model for equalizer/distortion")
    dry, sr = load_example("guitar")
    dry = dry[:, : int(4 * sr)]
    eq = tool_call("equalizer", {"low_gain_db": 14, "low_cutoff_freq": 300, "high_gain_db": -12,
                                 "high_cutoff_freq": 6000})
    drive = tool_call("distortion", {"drive_db": 16})
    p = {}
    for label, calls in (("eq first", (eq, drive)), ("distortion first", (drive, eq))):
        ref = render(dry, sr, Chain(calls))
        x, _ = model_features(pair_features(dry, ref, sr), sr)
        p[label] = math.exp(order_log_probabilities(["equalizer", "distortion"], x, models)[("equalizer", "distortion")])
    assert p["eq first"] > 0.5 > p["distortion first"], p
