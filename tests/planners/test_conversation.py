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
