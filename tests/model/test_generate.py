"""The stream splitter and parser on good and broken model outputs (no model needed)."""

import json

from llm2fx_lab.events import Response, Thinking, ToolCallEvent
from llm2fx_lab.model.generate import _Splitter

GOOD = ('<think>\nSelection: gain, reverb.\nOrder: gain first.\nParameters: -6 dB.\n</think>\n\n'
        '<tool_call>\n{"name": "gain", "arguments": {"gain_db": -6}}\n</tool_call>\n'
        '<tool_call>\n{"name": "reverb", "arguments": {"room_size": 0.5, "damping": 0.3, "width": 0.9, '
        '"mix_ratio": 0.25}}\n</tool_call>\nQuieter, with a small room.<|im_end|>')


def run(text, chunk=3):
    s = _Splitter()
    events = []
    for i in range(0, len(text), chunk):
        events += list(s.feed(text[i:i + chunk]))
    events += list(s.feed("", final=True))
    return s, events


def test_good_output_in_small_chunks():
    for chunk in (1, 3, 7, 1000):
        s, events = run(GOOD, chunk)
        kinds = [type(e) for e in events]
        last_thinking = max(i for i, k in enumerate(kinds) if k is Thinking)
        first_call = kinds.index(ToolCallEvent)
        assert last_thinking < first_call < kinds.index(Response)
        thinking = "".join(e.text for e in events if isinstance(e, Thinking))
        assert thinking.strip() == "Selection: gain, reverb.\nOrder: gain first.\nParameters: -6 dB."
        assert "<" not in thinking
        assert [e.call.name for e in events if isinstance(e, ToolCallEvent)] == ["gain", "reverb"]
        assert [e.index for e in events if isinstance(e, ToolCallEvent)] == [0, 1]
        assert "".join(e.text for e in events if isinstance(e, Response)).strip() == "Quieter, with a small room."
        steps = [e.step for e in events if isinstance(e, Thinking)]
        assert steps[0] == "selection" and "order" in steps and steps[-1] == "parameters"
        assert s.repairs == []


def test_tool_call_event_arrives_when_its_block_closes():
    s = _Splitter()
    head = GOOD[:GOOD.index("</tool_call>")]
    assert not [e for e in s.feed(head) if isinstance(e, ToolCallEvent)]
    assert [e.call.name for e in s.feed("</tool_call>") if isinstance(e, ToolCallEvent)] == ["gain"]


def test_broken_outputs_are_repaired_and_reported():
    text = ("<think>\nx\n</think>\n\n<tool_call>\n{'name': 'gain', 'arguments': {'gain_db': 50}}\n</tool_call>\n"
            "<tool_call>\nsure: {\"name\": \"panner\", \"arguments\": {\"pan\": 0.5}} ok\n</tool_call>\n"
            "<tool_call>\nnot json at all\n</tool_call>\n"
            "<tool_call>\n{\"name\": \"gain\", \"arguments\": {\"gain_db\": 1}}\n</tool_call>\n"
            "<tool_call>\n{\"name\": \"delay\", \"arguments\": {\"delay_seconds\": 0.2, \"feedback\": 0.1, \"mix_ratio\": 0.3}}")
    s, events = run(text, 5)
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert [c.name for c in calls] == ["gain", "panner", "delay"]
    assert calls[0]["gain_db"] == 20  # clamped
    joined = " | ".join(s.repairs)
    for needle in ("Python literal", "first {...}", "does not parse", "repeated", "no closing", "gain_db"):
        assert needle in joined, needle


def test_output_without_think_end_is_all_thinking():
    s, events = run("<think>\nSelection: gain", 4)
    assert all(isinstance(e, Thinking) for e in events)
    assert "".join(e.text for e in events) == "\nSelection: gain"


def test_parse_of_final_text_matches_events():
    from llm2fx_lab.data.format import parse_tool_calls

    chain, repairs = parse_tool_calls(GOOD)
    assert json.loads(chain.to_json())[0]["name"] == "gain" and repairs == ()
