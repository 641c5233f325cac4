"""``llm2fx train`` on a tiny dialogue directory."""

import json

from llm2fx_lab.audio.io import save_audio
from llm2fx_lab.cli import main

from .conftest import make_dialogues


def write_data_dir(path, n=4):
    (path / "audio").mkdir(parents=True)
    lines = []
    for i, d in enumerate(make_dialogues(n)):
        save_audio(path / "audio" / f"{i}_dry.wav", d.dry, 44100)
        save_audio(path / "audio" / f"{i}_ref.wav", d.reference, 44100)
        lines.append(json.dumps({"dry": f"audio/{i}_dry.wav", "reference": f"audio/{i}_ref.wav",
                                 "instruction": d.instruction, "reasoning": d.reasoning,
                                 "tool_calls": d.chain.to_tool_calls(), "response": d.response,
                                 "split": "val" if i == 0 else "train"}))
    (path / "dialogues.jsonl").write_text("\n".join(lines) + "\n")


def test_train_cli_writes_a_loadable_checkpoint(tmp_path, capsys):
    write_data_dir(tmp_path / "data")
    rc = main(["train", "--preset", "tiny", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
               "--stage1-steps", "2", "--stage2-steps", "2", "--batch-size", "2", "--no-progress"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["stage2"]["step"] == 2 and "val_ce" in summary["stage2"]
    from llm2fx_lab.model.llm import Llm2FxModel

    model = Llm2FxModel.from_pretrained(tmp_path / "out", preset="tiny")
    assert model.cfg.train.stage2_steps == 2


def test_train_cli_bad_data_dir(tmp_path, capsys):
    rc = main(["train", "--preset", "tiny", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "dialogues.jsonl" in capsys.readouterr().err
