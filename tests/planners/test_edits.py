import pytest

from llm2fx_lab.errors import ParameterError
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.planners.edits import apply_instruction


def _chain():
    return Chain((tool_call("equalizer", {"high_gain_db": 0}), tool_call("reverb", {"mix_ratio": 0.5}),
                  tool_call("stereo_widener", {"width": 1.0})))


@pytest.mark.parametrize("instruction, module, param, sign", [
    ("less reverb", "reverb", "mix_ratio", -1),
    ("more reverb please", "reverb", "mix_ratio", +1),
    ("make it brighter", "equalizer", "high_gain_db", +1),
    ("darker", "equalizer", "high_gain_db", -1),
    ("wider", "stereo_widener", "width", +1),
    ("narrower", "stereo_widener", "width", -1),
])
def test_edit_direction(instruction, module, param, sign):
    before = _chain()
    after, notes = apply_instruction(before, instruction)
    delta = after[module][param] - before[module][param]
    assert delta * sign > 0
    assert notes and module in notes[0]


@pytest.mark.parametrize("instruction, module, param", [
    ("more punch", "compressor", "ratio"), ("louder", "gain", "gain_db"),
    ("more distortion", "distortion", "drive_db"), ("more echo", "delay", "mix_ratio"),
])
def test_edit_adds_missing_module(instruction, module, param):
    after, _ = apply_instruction(_chain(), instruction)
    assert module in after
    assert after[module][param] > tool_call(module)[param] or module == "delay"


def test_quieter_and_ranges():
    chain = Chain((tool_call("gain", {"gain_db": -19}),))
    after, _ = apply_instruction(chain, "quieter")
    assert after["gain"]["gain_db"] == -20.0  # clamped at the spec minimum


def test_less_reverb_removes_at_zero():
    chain = Chain((tool_call("reverb", {"mix_ratio": 0.1}),))
    after, notes = apply_instruction(chain, "less reverb")
    assert "reverb" not in after and "removed" in notes[0]


def test_unknown_instruction_and_bad_type():
    after, notes = apply_instruction(_chain(), "make it sound like a cathedral organ on the moon")
    assert after == _chain() and "no known edit" in notes[0]
    with pytest.raises(ParameterError):
        apply_instruction(_chain(), 3)
