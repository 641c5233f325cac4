"""Conversation edits: the grammar on the table of requests, replies that say exactly what
changed, undo and restore across turns, the documented grammar, bad requests."""

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm2fx_lab.errors import ParameterError
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.planners.edits import HELP, Conversation, apply_request, diff_chains, grammar_table
from tests.planners.edit_table import EDITS, PIANO, REFUSALS, chain_of

DOCS = Path(__file__).resolve().parents[2] / "docs" / "edits.md"


def expected_reply_head(before, after):
    return "Changed: " + "; ".join(c.describe() for c in diff_chains(before, after))


def test_the_table_is_large_and_varied():
    assert len(EDITS) + len(REFUSALS) >= 60
    assert len({r for r, _ in EDITS}) == len(EDITS)


@pytest.mark.parametrize("request_, expected", EDITS, ids=[r for r, _ in EDITS])
def test_each_request_makes_exactly_its_chain_and_says_so(request_, expected):
    result = apply_request(PIANO, request_)
    assert result.chain == expected
    assert [c.bypass for c in result.chain] == [c.bypass for c in expected]
    assert result.reply.startswith(expected_reply_head(PIANO, expected))
    assert result.reply.endswith(".") and "Nothing changed" not in result.reply and not result.problems


@pytest.mark.parametrize("request_, reason", REFUSALS, ids=[r or "(empty)" for r, _ in REFUSALS])
def test_refused_requests_change_nothing_and_say_why(request_, reason):
    result = apply_request(PIANO, request_)
    assert result.chain == PIANO and not result.changes
    assert result.reply.startswith("Nothing changed: ") and reason in result.reply
    assert result.reply.endswith(HELP) and "Changed:" not in result.reply.replace("Nothing changed:", "")


def test_replies_name_module_parameter_old_and_new():
    assert apply_request(PIANO, "remove the delay").reply == \
        "Changed: removed delay (was module 2 of 3). Chain: equalizer -> panner."
    assert apply_request(PIANO, "delay 250 ms").reply == \
        "Changed: delay.delay_seconds 0.35 s -> 0.25 s. Chain: equalizer -> delay -> panner."
    assert apply_request(PIANO, "bypass the delay").reply == ("Changed: bypassed delay (kept in the chain, not "
                                                             "heard). Chain: equalizer -> delay (bypassed) -> panner.")
    assert apply_request(PIANO, "swap the delay and the panner").reply.startswith(
        "Changed: swapped delay and panner (positions 2 and 3).")
    assert apply_request(PIANO, "add a gain of -3 dB").reply.startswith(
        "Changed: added gain at position 2 (gain_db -3 dB).")
    mixed = apply_request(PIANO, "less reverb and remove the delay")  # part done, part refused: both said
    assert mixed.reply == ("Changed: removed delay (was module 2 of 3). Not changed: there is no reverb in the chain "
                           "(equalizer -> delay -> panner) to reduce. Chain: equalizer -> panner.")
    clamped = apply_request(PIANO, "gain +25 dB")
    assert clamped.chain["gain"]["gain_db"] == 20 and "stopped at its maximum (20 dB)" in clamped.reply


def test_undo_and_restore_across_turns():
    talk = Conversation(PIANO)
    assert talk.say("remove the delay").chain == chain_of("equalizer", "panner")
    assert talk.say("bring back the delay").chain == PIANO  # its settings and place from before
    assert talk.say("undo").chain == chain_of("equalizer", "panner")
    assert talk.results[-1].reply.startswith("Undid the last edit. Changed: removed delay")
    assert talk.say("go back").chain == PIANO
    assert "nothing to undo" in talk.say("undo").reply and talk.chain == PIANO
    talk.say("bypass the delay")
    assert talk.say("restore the delay").chain == PIANO
    talk.say("add a reverb with mix 0.3")
    assert talk.say("undo and remove the panner").chain == chain_of("equalizer", "delay")


def test_restore_without_history_says_how_to_add():
    reply = apply_request(PIANO, "bring back the reverb").reply
    assert "there is no reverb to restore" in reply and "say 'add reverb'" in reply


def test_an_edit_never_claims_what_it_did_not_do():
    """Over every request of the table, combined pairwise: each 'Changed:' item is a real
    difference of the chains, and every difference is in the reply."""
    requests = [r for r, _ in EDITS] + [r for r, _ in REFUSALS if r]
    for i, first in enumerate(requests):
        second = requests[(i * 7 + 3) % len(requests)]
        result = apply_request(PIANO, f"{first}, then {second}")
        said = [c.describe() for c in diff_chains(PIANO, result.chain)]
        assert (result.reply.startswith(expected_reply_head(PIANO, result.chain)) if said
                else result.reply.startswith("Nothing changed"))


def test_the_docs_table_is_the_generated_grammar():
    text = DOCS.read_text(encoding="utf-8")
    start, end = "<!-- grammar table: generated -->\n", "<!-- end of grammar table -->"
    assert start in text and end in text, "docs/edits.md lost its generated-table markers"
    assert text.split(start)[1].split(end)[0] == grammar_table(), \
        "docs/edits.md is stale: run scripts/build_docs.py"
    examples = [e for line in text.split("## The grammar")[1].split("Rules that")[0].splitlines()
                if line.startswith("| ") and not line.startswith(("| what", "|---"))
                for e in line.split(" | ")[1].split(", ")]
    assert len(examples) >= 50
    for example in examples:  # every example the docs give is understood
        problems = apply_request(PIANO, example).problems
        assert not any("did not understand" in p or p.startswith("which") for p in problems), (example, problems)


@pytest.mark.parametrize("bad, message", [
    (3, "an edit request must be text, got int"),
    ("x" * 2001, "too long; at most 2000 characters"),
])
def test_bad_requests(bad, message):
    with pytest.raises(ParameterError, match=re.escape(message)):
        apply_request(PIANO, bad)


def test_unicode_and_odd_spacing_are_read():
    chain = Chain((tool_call("reverb", {"mix_ratio": 0.4}),))
    assert apply_request(chain, "  LESS   Reverb\u2019s mix!! ").chain["reverb"]["mix_ratio"] == 0.25
    assert apply_request(chain, "reverb mix \u22120.1").chain == chain  # a minus sign out of range: refused


WORDS = ["remove", "add", "set", "bypass", "restore", "undo", "move", "swap", "more", "less", "a bit", "much", "by",
         "to", "with", "and", "then", ",", "before", "after", "the start", "the end", "first", "last", "reverb",
         "delay", "echo", "eq", "bass", "treble", "mix", "width", "threshold", "pan", "left", "right", "drive", "gain",
         "room size", "feedback", "brighter", "wider", "louder", "ms", "dB", "%", "Hz", "k", "s", "+3", "-18", "0.2",
         "250", "1e9", "nan", "-0", "4:1", "please", "bring back", "turn off", "no", "without", "everything"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(words=st.lists(st.sampled_from(WORDS), max_size=12), noise=st.text(max_size=20),
       history=st.lists(st.sampled_from(["remove the delay", "add some reverb", "wider", "panner first"]),
                        max_size=3))
def test_any_request_gives_a_valid_chain_and_an_honest_reply(words, noise, history):
    talk = Conversation(PIANO)
    for earlier in history:
        talk.say(earlier)
    before = talk.chain
    result = talk.say(" ".join(words) + noise)
    Chain.from_tool_calls(result.chain.to_tool_calls(include_bypassed=True))  # strictly valid
    said = diff_chains(before, result.chain)
    if said:
        assert "Changed: " + "; ".join(c.describe() for c in said) in result.reply
    else:
        assert result.chain == before and result.reply.startswith("Nothing changed: ")
