"""The whole pipeline through the command line: data -> train -> estimate -> render.

Tiny sizes so it runs in about a minute on 2 CPU cores; what it checks is that the pieces
fit together (formats, checkpoints, planner names), not model quality.
"""

import json

import numpy as np
import pytest

from llm2fx_lab.audio import load_audio, save_audio
from llm2fx_lab.cli import main
from llm2fx_lab.examples import example_pair
from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.fx.render import render
from llm2fx_lab.fx.spec import TOOLSET
from llm2fx_lab.planners import collect, get_planner


@pytest.mark.slow
def test_generate_train_estimate_render(tmp_path, capsys):
    data, model = tmp_path / "ds", tmp_path / "model"
    assert main(["data", "generate", str(data), "--n", "4", "--splits", "train", "validation",
                 "--source", "examples", "--workers", "1", "--quiet", "--shard-size", "4"]) == 0
    assert main(["data", "stats", str(data), "--json"]) == 0
    out = capsys.readouterr().out   # generate's summary and check, then the stats as JSON
    assert "verified train: 4 of 4 examples, each index once" in out
    stats = json.loads(out[out.index("\n{") + 1:])
    assert stats["examples"] == {"train": 4, "validation": 4}

    assert main(["train", "--preset", "tiny", "--data", str(data), "--out", str(model),
                 "--stage1-steps", "2", "--stage2-steps", "2", "--no-progress"]) == 0
    assert (model / "model.safetensors").exists() and (model / "tokenizer").is_dir()
    capsys.readouterr()

    dry, ref, sr, _ = example_pair("guitar")
    save_audio(tmp_path / "dry.wav", dry[:, : 3 * sr], sr)
    save_audio(tmp_path / "ref.wav", ref[:, : 3 * sr], sr)
    chains = {}
    for planner in (f"model:{model}", "analysis"):
        assert main(["estimate", str(tmp_path / "dry.wav"), str(tmp_path / "ref.wav"),
                     "--planner", planner, "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        chains[planner] = Chain.from_tool_calls(result["chain"])  # whatever the tiny model said, it validates
        for call in result["chain"]:  # values at the toolset's precision, no float noise
            for name, value in call["arguments"].items():
                assert value == round(value, TOOLSET[call["name"]].param(name).decimals), (call, name)
        assert set(result) >= {"chain", "reasoning", "timings"} and result["planner"] == planner
        assert result["timings"]["total_seconds"] > 0 and result["reasoning"]

    # the command line gives what the library gives for the same files
    x, _ = load_audio(tmp_path / "dry.wav")
    y, _ = load_audio(tmp_path / "ref.wav")
    assert chains["analysis"] == collect(get_planner("analysis").plan(x, y, sr)).chain and len(chains["analysis"])

    out = tmp_path / "est.flac"
    assert main(["estimate", str(tmp_path / "dry.wav"), str(tmp_path / "ref.wav"),
                 "--planner", "analysis", "--out", str(out)]) == 0
    rendered, sr_out = load_audio(out)
    assert sr_out == sr
    np.testing.assert_allclose(rendered, render(x, sr, chains["analysis"]), atol=2e-4)  # 24-bit FLAC rounding
