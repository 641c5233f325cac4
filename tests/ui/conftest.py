"""Fixtures shared by the widget tests."""

import pytest

from llm2fx_lab.ui import Studio
from tests.ui.scripted import ScriptedPlanner


@pytest.fixture
def studio():
    """The studio on the drums example with a scripted planner (no model), 0.5 s render tail."""
    s = Studio(planner=ScriptedPlanner(), example="drums", tail_seconds=0.5)
    assert s.wait(30)
    return s
