import json
import math

import pytest

from llm2fx_lab.errors import ParameterError, ToolCallError
from llm2fx_lab.fx.chain import Chain, as_chain, describe_chain, tool_call, validate_value
from llm2fx_lab.fx.spec import MODULE_NAMES, param

OFFICIAL = [
    {"name": "compressor", "arguments": {"threshold_db": -20.0, "ratio": 4.0, "attack_ms": 10.0, "release_ms": 100.0}},
    {"name": "reverb", "arguments": {"room_size": 0.5, "damping": 0.3, "width": 0.9, "mix_ratio": 0.2}},
]


def test_round_trip_official_json():
    chain = Chain.from_tool_calls(OFFICIAL)
    assert chain.to_tool_calls() == OFFICIAL
    assert Chain.from_json(chain.to_json()) == chain
    assert json.loads(chain.to_json()) == OFFICIAL


def test_missing_arguments_take_spec_defaults():
    chain = Chain.from_tool_calls([{"name": "delay", "arguments": {"delay_seconds": 0.3}}, {"name": "gain"}])
    assert chain["delay"].params == {"delay_seconds": 0.3, "feedback": 0.0, "mix_ratio": 0.0}
    assert chain["gain"]["gain_db"] == 0.0


def test_accepts_openai_style_and_string_arguments():
    chain = Chain.from_tool_calls([{"function": {"name": "gain", "arguments": '{"gain_db": 3}'}}])
    assert chain["gain"]["gain_db"] == 3.0


def test_chain_is_immutable_and_sequence_like():
    chain = Chain.from_tool_calls(OFFICIAL)
    assert len(chain) == 2 and chain[0].name == "compressor" and "reverb" in chain
    assert chain.names == ("compressor", "reverb")
    with pytest.raises(Exception):
        chain.calls = ()  # frozen dataclass
    assert isinstance(hash(chain), int)


def test_edits_return_new_chains():
    chain = Chain.from_tool_calls(OFFICIAL)
    louder = chain.with_module("gain", {"gain_db": 6}, index=0)
    assert louder.names == ("gain", "compressor", "reverb") and chain.names == ("compressor", "reverb")
    assert louder.moved("gain", 2).names == ("compressor", "reverb", "gain")
    assert louder.moved("reverb", 0).names == ("reverb", "gain", "compressor")
    assert louder.without("compressor").names == ("gain", "reverb")
    assert louder.with_params("gain", gain_db=-3)["gain"]["gain_db"] == -3
    with pytest.raises(ParameterError, match=r"gain.gain_db must be in \[-20, 20\] dB, got 30"):
        louder.with_params("gain", gain_db=30)
    with pytest.raises(ToolCallError, match="already in the chain"):
        louder.with_module("gain")
    with pytest.raises(ToolCallError, match="not in this chain"):
        chain.without("delay")


def test_bypass_is_kept_in_json_and_skipped_in_active():
    chain = Chain.from_tool_calls(OFFICIAL).with_bypass("reverb")
    assert chain.active.names == ("compressor",)
    assert [c["name"] for c in chain.to_tool_calls()] == ["compressor"]
    data = json.loads(chain.to_json())
    assert data[1]["bypass"] is True
    assert Chain.from_json(chain.to_json()) == chain


def test_to_python_rebuilds_the_chain():
    chain = Chain.from_tool_calls(OFFICIAL).with_bypass("compressor")
    assert eval(chain.to_python(), {"Chain": Chain}) == chain


@pytest.mark.parametrize("bad, match", [
    ([{"name": "chorus"}], "unknown module 'chorus'; allowed: equalizer"),
    ([{"name": "gain"}, {"name": "gain"}], "appears twice"),
    ([{"name": "gain", "arguments": {"gain": 3}}], "gain has no parameter 'gain'; allowed: gain_db"),
    ([{"name": "compressor", "arguments": {"ratio": 0.5}}], r"^compressor.ratio must be in \[1, 20\], got 0.5$"),
    ([{"name": "gain", "arguments": {"gain_db": float("nan")}}], "must be finite"),
    ([{"name": "gain", "arguments": {"gain_db": float("inf")}}], "must be finite"),
    ([{"name": "gain", "arguments": {"gain_db": "loud"}}], "must be a number"),
    ([{"name": "equalizer", "arguments": {"low_q_factor": 0}}], r"low_q_factor must be >= 0.1 for the filter formula"),
    ([{"arguments": {}}], "must be an object with 'name'"),
    ("not a list", "chain JSON does not parse"),
])
def test_strict_validation_errors(bad, match):
    with pytest.raises((ToolCallError, ParameterError), match=match):
        as_chain(bad)


def test_strict_validation_of_bad_json_type():
    with pytest.raises(ToolCallError, match="must be a list of tool calls"):
        Chain.from_tool_calls(42)


def test_lenient_mode_clamps_and_records_every_repair():
    raw = [
        {"name": "compressor", "arguments": {"ratio": 0.5, "threshold_db": "-12", "knee": 3}},
        {"name": "chorus", "arguments": {}},
        {"name": "equalizer", "arguments": {"low_q_factor": 0, "high_gain_db": float("nan")}},
        {"name": "compressor", "arguments": {}},
        {"name": "gain", "arguments": {"gain_db": 99}},
    ]
    chain = Chain.from_tool_calls(raw, mode="lenient")
    assert chain.names == ("compressor", "equalizer", "gain")
    assert chain["compressor"]["ratio"] == 1.0
    assert chain["compressor"]["threshold_db"] == -12.0
    assert chain["equalizer"]["low_q_factor"] == param("equalizer", "low_q_factor").valid_minimum
    assert chain["equalizer"]["high_gain_db"] == 0.0
    assert chain["gain"]["gain_db"] == 20.0
    text = "\n".join(chain.repairs)
    for needle in ("0.5 clamped to 1", "'-12' read as -12", "unknown parameter 'knee'",
                   "unknown module 'chorus'", "low_q_factor: 0 clamped to 0.1", "nan",
                   "second 'compressor' dropped", "99 clamped to 20"):
        assert needle in text, needle
    assert len(chain.repairs) == 8


def test_repairs_do_not_affect_equality():
    a = Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": 99}}], mode="lenient")
    b = Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": 20}}])
    assert a == b and a.repairs and not b.repairs


def test_validate_value_strict_and_lenient():
    p = param("delay", "feedback")
    assert validate_value(p, 0.3) == 0.3
    repairs = []
    assert validate_value(p, 0.9, "lenient", repairs) == 0.6
    assert repairs == ["delay.feedback: 0.9 clamped to 0.6"]
    with pytest.raises(ParameterError):
        validate_value(p, True)


def test_tool_call_keeps_official_argument_order():
    call = tool_call("reverb", {"mix_ratio": 0.3, "room_size": 0.2})
    assert [k for k, _ in call.arguments] == ["room_size", "damping", "width", "mix_ratio"]


def test_describe_chain_plain_english():
    text = describe_chain(Chain.from_tool_calls(OFFICIAL))
    assert text.splitlines()[0].startswith("1. compressor: Compressor with threshold -20 dB, ratio 4:1")
    assert "2. reverb" in text and "mix 0.2" in text
    assert "empty chain" in describe_chain(Chain())


def test_full_chain_of_all_modules():
    chain = Chain.from_tool_calls([{"name": n} for n in reversed(MODULE_NAMES)])
    assert len(chain) == 9 and chain.names[0] == "limiter"
    assert all(math.isfinite(v) for c in chain for _, v in c.arguments)


# --- property: any valid chain survives JSON and normalisation round trips ---------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from llm2fx_lab.fx.spec import TOOLSET  # noqa: E402


@st.composite
def chains(draw):
    names = draw(st.permutations(MODULE_NAMES))[: draw(st.integers(0, 9))]
    calls = []
    for name in names:
        args = {p.name: draw(st.floats(p.lowest_valid, p.maximum, allow_nan=False)) for p in TOOLSET[name].params}
        calls.append({"name": name, "arguments": args, "bypass": draw(st.booleans())})
    return Chain.from_tool_calls(calls)


@settings(max_examples=60, deadline=None)
@given(chains())
def test_property_json_round_trip(chain):
    assert Chain.from_json(chain.to_json()) == chain
    assert Chain.from_tool_calls(chain.to_tool_calls(include_bypassed=True)) == chain
    assert Chain.from_tool_calls(chain.to_tool_calls()).names == chain.active.names


@settings(max_examples=60, deadline=None)
@given(chains())
def test_property_normalised_values_round_trip(chain):
    for call in chain:
        spec = TOOLSET[call.name]
        for p in spec.params:
            u = p.normalize(call[p.name])
            assert 0.0 <= u <= 1.0 + 1e-12
            assert math.isclose(p.denormalize(u), call[p.name], rel_tol=1e-9, abs_tol=1e-9)
