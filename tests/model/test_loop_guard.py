"""The decoding loop guard: legitimate repeats pass, loops move the reasoning on, the cap closes it."""

import numpy as np
import pytest
import torch

from llm2fx_lab.data.cot import ORDER_HEADS, PARAM_HEADS
from llm2fx_lab.model.generate import LOOP_WINDOW_TOKENS, LoopGuard, reasoning_step
from llm2fx_lab.model.mini import mini_weights_dir

MINI_DIR = mini_weights_dir()

pytestmark = pytest.mark.skipif(not (MINI_DIR / "tokenizer").exists(), reason="shipped mini tokenizer missing")


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(MINI_DIR / "tokenizer")


THINK_END, EOS = 1718, 2


def guard(tok, **kw):
    assert tok.convert_tokens_to_ids("</think>") == THINK_END
    return LoopGuard(tok, THINK_END, EOS, **kw)


def drive(g, tokens, vocab=1721):
    """Feed ``tokens`` as a model's choices; where the guard forces a token it replaces the choice.

    Stops at the end-of-sequence token, as generation does. Returns the generated ids and the
    forced ids in order."""
    ids, forced = [], []
    for t in tokens:
        scores = torch.zeros(1, vocab)
        out = g(torch.tensor(ids, dtype=torch.long).reshape(1, -1), scores)
        if torch.isinf(out).any():
            f = int(out.argmax())
            assert torch.isinf(out[0]).sum() == vocab - 1, "exactly one token must stay allowed"
            ids.append(f)
            forced.append(f)
        else:
            ids.append(t)
        if ids[-1] == EOS:
            break
    return ids, forced


LEGIT = ("<think>\nLet me compare the dry and the reference and work out the chain.\n\nSelection. "
         "A gain stage is part of the chain too, though its effect is too subtle to measure on its own here; "
         "a delay is part of the chain too, though its effect is too subtle to measure on its own here; "
         "a panner is part of the chain too, though its effect is too subtle to measure on its own here. "
         "Selected: gain, delay, panner.\n\nOrder: The signal flows gain -> delay -> panner.\n\n"
         "Parameters: gain -6 dB; delay 0.35 s, feedback 0.35, mix 0.4; panner pan -0.5.\n</think>\n\n"
         '<tool_call>\n{"name": "gain", "arguments": {"gain_db": -6}}\n</tool_call>\n'
         '<tool_call>\n{"name": "delay", "arguments": {"delay_seconds": 0.35, "feedback": 0.35, "mix_ratio": 0.4}}'
         '\n</tool_call>\n<tool_call>\n{"name": "panner", "arguments": {"pan": -0.5}}\n</tool_call>\n'
         "Done.<|im_end|>")


def test_training_like_output_passes_untouched(tok):
    tokens = tok.encode(LEGIT, add_special_tokens=False)
    g = guard(tok)
    ids, forced = drive(g, tokens)
    assert forced == [] and g.notes == [] and ids == tokens


def test_a_loop_in_selection_moves_on_to_order(tok):
    clause = "a compressor explains why the target has 1.3 LU less loudness range; "
    text = "<think>\nSelection. A reverb explains why sounds ring 1.3 s longer; " + clause * 8
    tokens = tok.encode(text, add_special_tokens=False) + [5] * 20
    g = guard(tok)
    ids, forced = drive(g, tokens)
    head = tok.encode("\n\n" + ORDER_HEADS[0], add_special_tokens=False)
    assert forced[:len(head)] == head
    assert "repeated" in g.notes[0] and "moved on to order" in g.notes[0]
    # a model that keeps looping after the heading is moved on again, step by step
    assert [n.rsplit("moved on to ", 1)[1] for n in g.notes] == ["order", "parameters", "the tool calls"][:len(g.notes)]
    # the guard fires once the repeated span is complete: at most two copies of the clause and a window
    n_clause = len(tok.encode(clause, add_special_tokens=False))
    first = ids.index(forced[0], 5)
    assert first <= len(tok.encode("<think>\nSelection. A reverb explains why sounds ring 1.3 s longer; ",
                                   add_special_tokens=False)) + LOOP_WINDOW_TOKENS + 2 * n_clause


@pytest.mark.parametrize("head, expected", [(ORDER_HEADS[2], "parameters"), (PARAM_HEADS[2], "the tool calls")])
def test_a_loop_in_later_steps_moves_on(tok, head, expected):
    text = "<think>\nSelection. Selected: reverb.\n\n" + head + " reverb at room size 0.5, mix 0.3; " * 12
    g = guard(tok)
    ids, forced = drive(g, tok.encode(text, add_special_tokens=False))
    want = [THINK_END] if expected == "the tool calls" else tok.encode("\n\n" + PARAM_HEADS[0], add_special_tokens=False)
    assert forced[:len(want)] == want
    assert f"moved on to {expected}" in g.notes[0]


def test_the_reasoning_cap_closes_the_reasoning(tok):
    words = tok.encode("<think>\nSelection. " + " ".join(f"clip {i} differs" for i in range(200)),
                       add_special_tokens=False)
    g = guard(tok, max_reasoning_tokens=50)
    ids, forced = drive(g, words[:120])
    assert forced[0] == THINK_END and ids.index(THINK_END) == 50
    assert "reached 50 tokens" in g.notes[0] and "after 50 tokens" in g.notes[0]


def test_repeated_tool_calls_end_generation(tok):
    call = '<tool_call>\n{"name": "limiter", "arguments": {"threshold_db": -15, "release_ms": 331}}\n</tool_call>\n'
    text = "<think>\nSelection. Selected: limiter.\n</think>\n\n" + call * 4
    g = guard(tok)
    ids, forced = drive(g, tok.encode(text, add_special_tokens=False))
    assert forced == [EOS]
    assert ids.count(EOS) == 1 and ids.index(EOS) < len(tok.encode(text, add_special_tokens=False))
    assert "tool calls repeated" in g.notes[0]


def test_rows_are_guarded_separately(tok):
    g = guard(tok, max_reasoning_tokens=3)
    ids = torch.tensor([[10, 11, 12], [10, 11, THINK_END]])
    scores = torch.zeros(2, 1721)
    out = g(ids, scores.clone())
    assert int(out[0].argmax()) == THINK_END and torch.isinf(out[0]).sum() == 1720
    assert torch.equal(out[1], torch.zeros(1721))


def test_bad_settings_are_refused(tok):
    with pytest.raises(ValueError, match="window"):
        LoopGuard(tok, THINK_END, EOS, window=1)


def test_reasoning_step_reads_the_last_heading():
    assert reasoning_step("no heading yet") == "selection"
    assert reasoning_step("Which modules? reverb.\n\nIn which order? reverb") == "order"
    assert reasoning_step("Selection. x\n\nOrder: y\n\nSettings: z") == "parameters"


def test_estimate_stream_reports_the_guard(tok):
    """Wired into generation: the shipped mini with a tiny cap closes its reasoning at that count of
    generated tokens (not counting the prompt) and still ends with a parseable Final."""
    from llm2fx_lab.events import Final
    from llm2fx_lab.model import load_planner_model

    est = load_planner_model(MINI_DIR, max_reasoning_tokens=12, max_new_tokens=80)
    rng = np.random.default_rng(0)
    dry = (rng.standard_normal((2, 44100 * 2)) * 0.1).astype(np.float32)
    events = list(est.plan(dry, dry * 0.5, 44100))
    final = events[-1]
    assert isinstance(final, Final)
    assert any("reached 12 tokens after 12 tokens" in r for r in final.repairs), final.repairs
    assert len(tok.encode(final.reasoning, add_special_tokens=False)) <= 12
