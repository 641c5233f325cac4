"""The local-checkpoint backend end to end: a tiny Qwen3 trained here, in seconds, to call
``measure_pair`` and then an effect tool plans through ``hf:PATH``; the measurement's result
reaches it and the chain comes out."""

import json

from llm2fx_lab.events import Measurement, ToolCallEvent
from llm2fx_lab.examples import example_pair
from llm2fx_lab.lessons.reasoning import teach_chat_checkpoint
from llm2fx_lab.planners import get_planner

SYSTEM = "Find the effect chain. Measure first."


def test_a_local_checkpoint_plans_with_the_lab_tools(tmp_path):
    dry, ref, sr, _ = example_pair("drums")
    dry, ref = dry[:, : sr], ref[:, : sr]
    path = teach_chat_checkpoint(tmp_path / "tiny-chat", dry, ref, sr, system_prompt=SYSTEM)

    planner = get_planner(f"hf:{path}", system_prompt=SYSTEM, max_new_tokens=80)
    events = list(planner.plan(dry, ref, sr))
    final = events[-1]
    assert final.chain.names == ("reverb",) and final.chain["reverb"]["mix_ratio"] == 0.4
    assert final.planner == f"hf:{path}" and final.response == "A reverb."
    measured = [e for e in events if isinstance(e, Measurement)]
    assert [m.name for m in measured] == ["measure_pair"] and measured[0].error is None
    tool_message = next(m for m in final.transcript if m["role"] == "tool")  # the result reached the model
    assert json.loads(tool_message["content"]) == measured[0].result
    assert [e.call.name for e in events if isinstance(e, ToolCallEvent)] == ["reverb"]
    assert "I measure the pair first." in final.reasoning and final.usage["completion_tokens"] > 10
