import math

import numpy as np
import pytest

from llm2fx_lab.errors import ParameterError, ToolCallError
from llm2fx_lab.fx.schemas import tool_schemas, toolset_markdown
from llm2fx_lab.fx.spec import ALL_PARAMS, MODULE_NAMES, TOOLSET, module, param

# The official table (shared/reference/llm2fx-tools.md): (module, param) -> (min, max, step, scale)
OFFICIAL = {
    ("gain", "gain_db"): (-20, 20, 2, "lin"),
    ("distortion", "drive_db"): (0, 20, 2, "lin"),
    ("compressor", "threshold_db"): (-40, -5, 5, "lin"),
    ("compressor", "ratio"): (1, 20, 1, "lin"),
    ("compressor", "attack_ms"): (0, 500, 5, "log"),
    ("compressor", "release_ms"): (0, 1000, 50, "log"),
    ("delay", "delay_seconds"): (0, 0.7, 0.05, "lin"),
    ("delay", "feedback"): (0, 0.6, 0.05, "lin"),
    ("delay", "mix_ratio"): (0, 1, 0.1, "lin"),
    ("limiter", "threshold_db"): (-20, -1, 1, "lin"),
    ("limiter", "release_ms"): (0, 1000, 50, "log"),
    ("panner", "pan"): (-1, 1, 0.1, "lin"),
    ("stereo_widener", "width"): (0, 1.5, 0.1, "lin"),
    ("reverb", "room_size"): (0, 0.9, 0.1, "lin"),
    ("reverb", "damping"): (0, 0.9, 0.1, "lin"),
    ("reverb", "width"): (0, 0.9, 0.1, "lin"),
    ("reverb", "mix_ratio"): (0, 1, 0.1, "lin"),
    ("equalizer", "low_gain_db"): (-20, 20, 2, "lin"),
    ("equalizer", "mid_gain_db"): (-20, 20, 2, "lin"),
    ("equalizer", "high_gain_db"): (-20, 20, 2, "lin"),
    ("equalizer", "low_cutoff_freq"): (0, 400, 20, "lin"),
    ("equalizer", "mid_cutoff_freq"): (250, 6000, 250, "lin"),
    ("equalizer", "high_cutoff_freq"): (4000, 20000, 1000, "lin"),
    ("equalizer", "low_q_factor"): (0, 6, 0.5, "lin"),
    ("equalizer", "high_q_factor"): (0, 6, 0.5, "lin"),
    ("equalizer", "mid_q_factor"): (0.1, 6, 0.5, "lin"),
}


def test_nine_modules_in_official_order():
    assert MODULE_NAMES == ("equalizer", "compressor", "stereo_widener", "gain", "panner",
                            "distortion", "reverb", "delay", "limiter")


def test_twenty_six_parameters_with_official_names_and_ranges():
    assert len(ALL_PARAMS) == 26
    assert {(p.module, p.name) for p in ALL_PARAMS} == set(OFFICIAL)
    for p in ALL_PARAMS:
        lo, hi, step, scale = OFFICIAL[(p.module, p.name)]
        assert (p.minimum, p.maximum, p.step, p.scale) == (lo, hi, step, scale), p.qualified_name


def test_defaults_are_valid_and_inside_the_range():
    for p in ALL_PARAMS:
        assert p.lowest_valid <= p.default <= p.maximum, p.qualified_name


def test_neutral_defaults_where_a_neutral_value_exists():
    assert param("gain", "gain_db").default == 0
    assert param("compressor", "ratio").default == 1
    assert param("stereo_widener", "width").default == 1
    assert param("delay", "mix_ratio").default == 0
    for band in ("low", "mid", "high"):
        assert param("equalizer", f"{band}_gain_db").default == 0


def test_formula_invalid_minima_have_a_valid_minimum():
    for name in ("low_q_factor", "high_q_factor", "low_cutoff_freq"):
        p = param("equalizer", name)
        assert p.minimum == 0 and p.valid_minimum is not None and p.valid_minimum > 0


@pytest.mark.parametrize("p", ALL_PARAMS, ids=lambda p: p.qualified_name)
def test_normalise_round_trip_every_parameter(p):
    values = np.linspace(p.minimum, p.maximum, 37)
    for v in values:
        u = p.normalize(float(v))
        assert -1e-12 <= u <= 1 + 1e-12
        assert p.denormalize(u) == pytest.approx(v, abs=1e-9 * max(1.0, abs(p.maximum)))
    assert p.normalize(p.minimum) == pytest.approx(0.0, abs=1e-12)
    assert p.normalize(p.maximum) == pytest.approx(1.0)
    assert all(np.diff([p.normalize(float(v)) for v in values]) > 0)  # monotone


def test_log_scale_spends_more_of_the_range_on_small_values():
    attack = param("compressor", "attack_ms")
    assert attack.normalize(25.0) > 0.5  # the first 5 % of the range gets over half the slider
    assert param("gain", "gain_db").normalize(10.0) == pytest.approx(0.75)


def test_unknown_module_and_parameter_errors_name_the_allowed_values():
    with pytest.raises(ToolCallError, match="unknown module 'chorus'.*equalizer.*limiter"):
        module("chorus")
    with pytest.raises(ParameterError, match="compressor has no parameter 'knee_db'.*threshold_db"):
        param("compressor", "knee_db")


def test_json_schemas_match_the_spec():
    schemas = tool_schemas()
    assert [s["function"]["name"] for s in schemas] == list(MODULE_NAMES)
    for s in schemas:
        assert s["type"] == "function"
        spec = TOOLSET[s["function"]["name"]]
        props = s["function"]["parameters"]["properties"]
        assert list(props) == list(spec.param_names)
        assert s["function"]["parameters"]["required"] == list(spec.param_names)
        for p in spec.params:
            assert props[p.name]["type"] in ("integer", "number")
            assert f"range: ({p.minimum:g}, {p.maximum:g})" in props[p.name]["description"]


def test_schemas_have_the_shape_transformers_produces():
    from transformers.utils import get_json_schema

    def gain(gain_db: int):
        """
        Gain: makes the whole signal louder or quieter by a fixed amount.

        Args:
            gain_db: Level change in decibels.
        """

    ref = get_json_schema(gain)
    ours = tool_schemas()[MODULE_NAMES.index("gain")]
    assert ref.keys() == ours.keys()
    assert ref["function"].keys() == ours["function"].keys()
    assert ref["function"]["parameters"].keys() == ours["function"]["parameters"].keys()
    assert ref["function"]["parameters"]["properties"]["gain_db"]["type"] == \
        ours["function"]["parameters"]["properties"]["gain_db"]["type"]


def test_markdown_reference_lists_every_parameter():
    md = toolset_markdown()
    for p in ALL_PARAMS:
        assert f"`{p.name}`" in md
    assert math.isclose(md.count("\n| "), 27, abs_tol=1)  # header + 26 rows


def test_values_at_the_toolset_precision():
    """One decimal finer than the schema's step, clamped into the valid range."""
    from llm2fx_lab.fx.chain import Chain, tool_call

    assert param("gain", "gain_db").decimals == 1 and param("panner", "pan").decimals == 2
    assert param("delay", "delay_seconds").decimals == 3 and param("equalizer", "low_cutoff_freq").decimals == 0
    assert param("gain", "gain_db").at_precision(11.68000000000002) == 11.7
    assert param("equalizer", "low_q_factor").at_precision(0.0001) == param("equalizer", "low_q_factor").lowest_valid
    chain = Chain((tool_call("gain", {"gain_db": 3.4719999}), tool_call("panner", {"pan": -0.333333})))
    assert chain.at_precision().to_tool_calls() == [{"name": "gain", "arguments": {"gain_db": 3.5}},
                                                   {"name": "panner", "arguments": {"pan": -0.33}}]
    assert chain.at_precision().at_precision() == chain.at_precision()
    q = param("equalizer", "mid_q_factor")
    assert q.at_precision(q.default) == q.default and q.at_precision(0.7071) == 0.71
