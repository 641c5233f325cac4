"""A conversation turn edits the user's current chain instead of re-estimating it."""

def test_instruction_turn_edits_the_users_chain_and_keeps_their_edits():
    from llm2fx_lab.examples import example_pair
    from llm2fx_lab.planners import collect, get_planner

    dry, ref, sr, truth = example_pair("guitar")
    mine = truth.with_params("reverb", mix_ratio=0.6).with_bypass("limiter")
    res = collect(get_planner("analysis").plan(dry[:, : 2 * sr], ref[:, : 2 * sr], sr,
                                               instruction="less reverb", chain=mine))
    assert res.chain.names == mine.names
    assert res.chain["reverb"]["mix_ratio"] < 0.6
    assert res.chain["limiter"].bypass and res.chain["panner"] == mine["panner"]
    assert res.response.startswith("Changed: reverb.mix_ratio 0.6 -> 0.45.")
    assert set(res.reasoning_by_step) == {"refinement"}


def test_an_instruction_with_a_first_estimate_edits_that_estimate_for_every_planner():
    from llm2fx_lab.events import Final, ToolCallEvent
    from llm2fx_lab.examples import example_pair
    from llm2fx_lab.planners import collect, get_planner
    from llm2fx_lab.planners.edits import plan_turn

    dry, ref, sr, _ = example_pair("drums")
    dry, ref = dry[:, : 2 * sr], ref[:, : 2 * sr]
    planner = get_planner("regression")
    estimate = collect(planner.plan(dry, ref, sr))
    assert len(estimate.chain) >= 2
    first = estimate.chain.names[0]
    result = collect(plan_turn(planner, dry, ref, sr, instruction=f"remove the {first}"))
    assert result.chain == estimate.chain.without(first)
    assert result.response.startswith(f"Estimated chain: {' -> '.join(estimate.chain.names)}. Changed: removed "
                                      f"{first} (was module 1 of {len(estimate.chain)}).")
    assert result.reasoning.startswith(estimate.reasoning) and "Then, as asked: 'remove the" in result.reasoning
    assert sum(isinstance(e, Final) for e in result.events) == 1
    assert len([e for e in result.events if isinstance(e, ToolCallEvent)]) == len(estimate.chain)  # not twice
