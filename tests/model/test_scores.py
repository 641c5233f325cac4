"""Digit probabilities: one teacher-forced pass scores every digit of every parameter value."""

import json
import math

import pytest
import torch

from llm2fx_lab.errors import Llm2FxError, ToolCallError
from llm2fx_lab.model.inputs import target_text
from llm2fx_lab.model.llm import Llm2FxModel
from llm2fx_lab.model.scores import DIGITS, digit_probabilities, value_digits
from llm2fx_lab.model.train import train

from .conftest import tiny_config


def _check(scores):
    for s in scores:
        assert 0.0 <= s.probability <= 1.0 and 0.0 <= s.digit_mass <= 1.0 + 1e-6
        assert len(s.digit_probs) == 10 and all(0.0 <= p <= 1.0 for p in s.digit_probs)
        assert math.isclose(sum(s.digit_probs), 1.0, abs_tol=1e-5)
        assert s.token in DIGITS and s.probability <= s.digit_mass + 1e-6
        assert len(s.top) == 3 and [p for _, p in s.top] == sorted((p for _, p in s.top), reverse=True)
        assert s.top[0][1] >= s.probability - 1e-7


def test_value_digits_parses_modules_parameters_and_places():
    text = ('<think>\npan 0.5\n</think>\n<tool_call>\n{"name": "limiter", "arguments": {"threshold_db": -9, '
            '"release_ms": 150}}\n</tool_call>\n<tool_call>\n{"name": "panner", "arguments": {"pan": -0.45}}'
            '\n</tool_call>\nDone.')
    rows = value_digits(text)
    assert [(c, m, p, v, pos, place) for c, m, p, v, pos, place, _ in rows] == [
        (0, "limiter", "threshold_db", "-9", 0, 0),
        (0, "limiter", "release_ms", "150", 0, 2), (0, "limiter", "release_ms", "150", 1, 1),
        (0, "limiter", "release_ms", "150", 2, 0),
        (1, "panner", "pan", "-0.45", 0, 0), (1, "panner", "pan", "-0.45", 1, -1), (1, "panner", "pan", "-0.45", 2, -2)]
    assert all(text[r[-1]].isdigit() for r in rows)
    assert "0.5" not in [r[3] for r in rows]  # numbers in the reasoning are not parameter values


def test_given_text_covers_every_digit(tiny_model, dialogues):
    model = tiny_model.eval()
    for d in (dialogues[6], dialogues[14]):  # limiter (two values), panner + widener (decimals)
        text = target_text(d)
        scores = digit_probabilities(model, d.dry, d.reference, 44100, text=text, instruction=d.instruction)
        _check(scores)
        calls = [json.loads(b.split("</tool_call>")[0], parse_float=str, parse_int=str)
                 for b in text.split("<tool_call>")[1:]]  # the numbers exactly as written
        want = [(c["name"], k, ch) for c in calls for k, v in c["arguments"].items() for ch in v if ch.isdigit()]
        assert len(want) >= 3
        assert [(s.module, s.parameter, s.token) for s in scores] == want
        assert all(text[s.char] == s.token for s in scores)


def test_blind_estimation_is_scored_too(tiny_model, dialogues):
    d = dialogues[4]
    scores = digit_probabilities(tiny_model.eval(), None, d.reference, text=target_text(d))
    _check(scores)
    assert [s.token for s in scores] == ["0", "7"]


def test_no_tool_call_is_a_clear_error(tiny_model, dialogues):
    d = dialogues[0]
    with pytest.raises(ToolCallError, match="no <tool_call>"):
        digit_probabilities(tiny_model, d.dry, d.reference, 44100, text="<think>\nhm\n</think>\nNothing.")
    assert issubclass(ToolCallError, Llm2FxError)
    with pytest.raises(ToolCallError):
        digit_probabilities(tiny_model, d.dry, d.reference, 44100, text=None, max_new_tokens=3)


@pytest.fixture(scope="module")
def quick_trained(tokenizer, dialogues, tmp_path_factory):
    # a partly trained model (valid calls, unsure digits): 120 steps at the full constant rate
    torch.manual_seed(0)
    model = Llm2FxModel(tiny_config(train={"stage2_steps": 120, "schedule": "constant"}), tokenizer)
    train(model, dialogues, tmp_path_factory.mktemp("scores_run"), progress=False)
    return model.eval()


def test_greedy_digits_are_the_argmax(quick_trained, dialogues):
    scored = 0
    for d in dialogues[:6]:
        try:
            scores = digit_probabilities(quick_trained, d.dry, d.reference, 44100, instruction=d.instruction,
                                         max_new_tokens=120)
        except ToolCallError:
            continue
        _check(scores)
        for s in scores:
            assert s.is_argmax, s
            assert max(s.digit_probs) == s.digit_probability
        scored += len(scores)
    assert scored >= 3
