"""Conversation edits in the studio: the instruction box edits the current chain with the
grammar (for every planner that does not edit with a model), the reply says exactly what
changed, a typed "undo" undoes the last turn, and each turn stays undoable."""

import numpy as np
import pytest

from llm2fx_lab.planners.edits import HELP, diff_chains
from llm2fx_lab.ui import ReasoningView, Studio
from tests.planners.edit_table import EDITS, PIANO, REFUSALS


class NeverPlans:
    """A planner that must not be asked to estimate: an edit turn never re-estimates."""

    name = "never-plans"

    def plan(self, *args, **kwargs):
        raise AssertionError("an edit turn re-estimated the chain")


def test_the_whole_table_through_the_instruction_box():
    view = ReasoningView(NeverPlans())
    silence = np.zeros((2, 4410), dtype=np.float32)
    view.set_inputs(silence, silence, 44100.0, current_chain=lambda: PIANO)
    for request, expected in EDITS:
        view._on_front_end_msg(view, {"op": "instruct", "text": request}, [])
        assert view.wait(10) and view.status == "done", (request, view.error)
        turn = view.history[-1]
        assert turn.chain_before == PIANO and turn.chain_after == expected, request
        assert turn.response == view.response
        assert turn.response.startswith("Changed: " + "; ".join(c.describe() for c in diff_chains(PIANO, expected)))
        assert view.steps and view.steps[0]["step"] == "refinement"
    for request, reason in REFUSALS:
        if not request or request == "undo":  # the box refuses empty text; "undo" undoes a turn (below)
            continue
        view._on_front_end_msg(view, {"op": "instruct", "text": request}, [])
        assert view.wait(10) and view.history[-1].chain_after == PIANO, request
        assert reason in view.response and view.response.endswith(HELP), request
    view._on_front_end_msg(view, {"op": "instruct", "text": "  "}, [])
    assert "type an instruction first" in view.error


@pytest.fixture
def studio():
    s = Studio(planner="analysis", example="piano", tail_seconds=0.0)
    assert s.wait(60)
    s.editor.set_estimate(PIANO)  # as if the planner had estimated the pair's own chain
    assert s.wait_render(60)
    return s


def test_studio_edits_undo_typed_and_restore(studio):
    studio.plan("remove the delay")
    assert studio.wait(60) and studio.chain.names == ("equalizer", "panner")
    assert studio.reasoning.response == "Changed: removed delay (was module 2 of 3). Chain: equalizer -> panner."
    studio.plan("bring back the delay and make it a bit brighter")
    assert studio.wait(60) and studio.chain == PIANO.with_params("equalizer", high_gain_db=10)
    studio.editor.edit("set_param", module="panner", param="pan", value=0.25)  # a hand edit between turns
    studio.plan("less echo")
    assert studio.wait(60) and studio.chain["panner"]["pan"] == 0.25  # the hand edit is kept
    assert studio.chain["delay"]["mix_ratio"] == 0.15
    studio.plan("undo")  # typed: undoes the last turn, as its undo button does
    assert studio.wait(60) and studio.chain["delay"]["mix_ratio"] == 0.3
    assert studio.reasoning.turns[-1]["undone"] and studio.reasoning.response.startswith("Undid turn 3 (less echo)")
    assert studio.editor.estimate == PIANO  # Reset still returns to the estimate
    studio.plan("less reverb")
    assert studio.wait(60) and studio.reasoning.response.startswith(
        "Nothing changed: there is no reverb in the chain (equalizer -> delay -> panner) to reduce.")
