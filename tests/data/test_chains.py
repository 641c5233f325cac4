"""Chain sampling matches the official generator's grids and distributions."""

import numpy as np
import pytest
from scipy import stats

from llm2fx_lab.data.chains import (
    FINE_GRAINED,
    balanced_schedule,
    grid,
    length_schedule,
    offline_length_counts,
    online_length_weights,
    param_grid,
    sample_chain,
    sample_modules,
    sample_online_chain,
    sample_params,
)
from llm2fx_lab.errors import ParameterError
from llm2fx_lab.fx.spec import MODULE_NAMES, TOOLSET

# Grids listed in shared/reference/llm2fx-tools.md (first, last, count).
REFERENCE_GRIDS = {
    ("gain", "gain_db"): (-18, 20, 20), ("distortion", "drive_db"): (2, 20, 10),
    ("compressor", "threshold_db"): (-35, -5, 7), ("compressor", "ratio"): (2, 20, 19),
    ("compressor", "attack_ms"): (5, 500, 100), ("compressor", "release_ms"): (50, 1000, 20),
    ("limiter", "threshold_db"): (-19, -1, 19), ("delay", "delay_seconds"): (0.05, 0.65, 13),
    ("delay", "feedback"): (0.05, 0.55, 11), ("delay", "mix_ratio"): (0.1, 1.0, 10),
    ("panner", "pan"): (-0.9, 0.9, 19), ("stereo_widener", "width"): (0.1, 1.4, 14),
    ("reverb", "room_size"): (0.1, 0.9, 9), ("equalizer", "low_cutoff_freq"): (20, 400, 20),
    ("equalizer", "mid_cutoff_freq"): (500, 6000, 23), ("equalizer", "high_cutoff_freq"): (5000, 20000, 16),
    ("equalizer", "low_q_factor"): (0.5, 6.0, 12), ("equalizer", "mid_q_factor"): (0.6, 5.6, 11),
}


@pytest.mark.parametrize("key", sorted(REFERENCE_GRIDS))
def test_grids_match_reference(key):
    g = param_grid(*key)
    lo, hi, n = REFERENCE_GRIDS[key]
    assert len(g) == n
    assert g[0] == pytest.approx(lo, rel=1e-6) and g[-1] == pytest.approx(hi, rel=1e-6)


def test_log_grid_is_log_spaced():
    g = param_grid("compressor", "attack_ms")
    ratios = g[1:] / g[:-1]
    assert np.allclose(ratios, ratios[0])


def test_grid_rejects_bad_input():
    with pytest.raises(ParameterError):
        grid(1, 0, 1)
    with pytest.raises(ParameterError):
        grid(0, 1, 0.1, "cubic")
    with pytest.raises(ParameterError):
        sample_modules(10, np.random.default_rng(0))


def test_params_rounding_rules_and_ranges():
    rng = np.random.default_rng(0)
    for _ in range(300):
        for name in MODULE_NAMES:
            p = sample_params(name, rng)
            for k, v in p.items():
                spec = TOOLSET[name].param(k)
                assert spec.lowest_valid <= v <= spec.maximum
                if "ms" in k:
                    assert v == int(v)
                else:
                    assert v == round(v, 3)


def test_db_zero_is_redrawn_once():
    # fine gain grid -5..6 has 12 values, one of them 0: P(0) = (1/12)^2 after one redraw
    rng = np.random.default_rng(1)
    n = 24000
    zeros = sum(sample_params("gain", rng, fine=True)["gain_db"] == 0 for _ in range(n))
    expected = n / 144
    assert abs(zeros - expected) < 5 * np.sqrt(expected)


def test_module_subset_uniform_and_positions_uniform():
    rng = np.random.default_rng(2)
    n = 9000
    counts = np.zeros(9)
    first = np.zeros(9)
    for _ in range(n):
        mods = sample_modules(3, rng)
        assert len(set(mods)) == 3
        for m in mods:
            counts[MODULE_NAMES.index(m)] += 1
        first[MODULE_NAMES.index(mods[0])] += 1
    assert stats.chisquare(counts).pvalue > 1e-3
    assert stats.chisquare(first).pvalue > 1e-3


def test_parameter_values_uniform_over_grid():
    rng = np.random.default_rng(3)
    g = param_grid("compressor", "ratio")
    draws = [sample_params("compressor", rng)["ratio"] for _ in range(5700)]
    counts = np.array([sum(d == v for d in draws) for v in g])
    assert counts.sum() == len(draws)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_length_schedule_matches_official_proportions():
    counts = offline_length_counts()
    assert counts[1] == 10000 and counts[3] == 3333 and counts[9] == 1111
    sched = length_schedule(sum(counts.values()), np.random.default_rng(0))
    observed = np.bincount(sched, minlength=10)[1:]
    assert list(observed) == [counts[n] for n in range(1, 10)]
    small = length_schedule(1000, np.random.default_rng(0))
    obs = np.bincount(small, minlength=10)[1:]
    exp = np.array([counts[n] for n in range(1, 10)], float)
    assert np.all(np.abs(obs - exp / exp.sum() * 1000) <= 1)


def test_balanced_schedule_and_online_weights():
    s = balanced_schedule(100, np.random.default_rng(0))
    assert len(s) == 900 and all(s.count(n) == 100 for n in range(1, 10))
    w = online_length_weights()
    assert w[0] / w[1] == pytest.approx(4.0) and w.sum() == pytest.approx(1.0)
    rng = np.random.default_rng(4)
    lengths = np.array([len(sample_online_chain(rng)) for _ in range(3000)])
    obs = np.bincount(lengths, minlength=10)[1:]
    assert stats.chisquare(obs, w * len(lengths)).pvalue > 1e-3 or obs[0] / len(lengths) == pytest.approx(w[0], abs=0.03)


def test_fine_grained_ranges_are_valid_and_used():
    rng = np.random.default_rng(5)
    for m, params in FINE_GRAINED.items():
        for p in params:
            g = param_grid(m, p, fine=True)
            spec = TOOLSET[m].param(p)
            assert spec.lowest_valid <= g.min() and g.max() <= spec.maximum
    chain = sample_chain(9, rng, fine_probability=1.0)
    assert -6 <= chain["gain"]["gain_db"] <= 6


def test_sample_chain_is_deterministic():
    a = sample_chain(5, np.random.default_rng(7))
    b = sample_chain(5, np.random.default_rng(7))
    assert a == b and len(a) == 5
