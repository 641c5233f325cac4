"""Chains as vectors (fx/vectors.py): presence, normalised parameters, masks, and back."""

import numpy as np
import pytest

from llm2fx_lab.errors import ParameterError
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.fx.spec import ALL_PARAMS, MODULE_NAMES
from llm2fx_lab.fx.vectors import N_CHAIN_TARGETS, chain_vectors, denormalized_params, probe_targets

N_MODULES = len(MODULE_NAMES)


def test_probe_targets_presence_then_normalised_parameters():
    chain = Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": 0.0}},
                                   {"name": "panner", "arguments": {"pan": 1.0}}])
    t = probe_targets(chain)
    assert t.shape == (N_CHAIN_TARGETS,) and t.dtype == np.float32
    assert t[:N_MODULES].tolist() == [float(m in ("gain", "panner")) for m in MODULE_NAMES]
    params = t[N_MODULES:]
    assert np.isfinite(params).sum() == 2  # gain_db and pan; every other parameter is absent (nan)
    assert sorted(params[np.isfinite(params)].tolist()) == pytest.approx([0.5, 1.0])  # 0 dB mid-range, hard right


def test_chain_vectors_closed_form():
    chain = Chain((tool_call("gain", {"gain_db": 0.0}), tool_call("compressor", {"ratio": 20, "attack_ms": 500})))
    presence, params, mask = chain_vectors(chain)
    assert presence.tolist() == [m in ("gain", "compressor") for m in MODULE_NAMES]
    by_name = {p.qualified_name: i for i, p in enumerate(ALL_PARAMS)}
    assert params[by_name["gain.gain_db"]] == pytest.approx(0.5)  # 0 dB in [-20, 20]
    assert params[by_name["compressor.ratio"]] == pytest.approx(1.0)
    assert params[by_name["compressor.attack_ms"]] == pytest.approx(1.0)  # log scale, top of range
    # absent module: its normalised default, masked out
    assert params[by_name["stereo_widener.width"]] == pytest.approx(1.0 / 1.5)
    assert mask[by_name["stereo_widener.width"]] == 0 and mask[by_name["gain.gain_db"]] == 1
    assert mask.sum() == 1 + 4


def test_denormalized_params_inverts_chain_vectors():
    chain = Chain((tool_call("delay", {"delay_seconds": 0.3, "feedback": 0.4, "mix_ratio": 0.25}),
                   tool_call("compressor", {"threshold_db": -30, "ratio": 8, "attack_ms": 5, "release_ms": 100})))
    _, params, mask = chain_vectors(chain)
    values = denormalized_params(params)
    for p, present in zip(ALL_PARAMS, mask):
        if present:
            assert values[p.qualified_name] == pytest.approx(chain[p.module][p.name], rel=1e-5)
    with pytest.raises(ParameterError, match="expected 26 normalised parameters"):
        denormalized_params(np.zeros(25))
