"""A single obvious distortion is found from sample-level waveshaping, and not taken for reverb."""

from __future__ import annotations

import pytest

from llm2fx_lab.events import Final
from llm2fx_lab.examples import load_example
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.fx.render import render
from llm2fx_lab.planners.analysis_planner import AnalysisPlanner


@pytest.mark.parametrize("name,drive", [("bass", 12), ("guitar", 15), ("bass", 18), ("drums", 12)])
def test_single_distortion_detected_without_reverb(name: str, drive: int) -> None:
    dry, sr = load_example(name)
    dry = dry[:, : int(4 * sr)]
    ref = render(dry, sr, Chain((tool_call("distortion", {"drive_db": drive}),)))
    final = next(e for e in AnalysisPlanner().plan(dry, ref, sr) if isinstance(e, Final))
    assert "distortion" in final.chain.names, final.reasoning
    assert "reverb" not in final.chain.names, final.reasoning
    call = next(c for c in final.chain if c.name == "distortion")
    assert abs(call.params["drive_db"] - drive) <= 3
