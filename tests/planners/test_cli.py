import json
import re

import pytest

from llm2fx_lab.audio.io import load_audio, save_audio
from llm2fx_lab.cli import main
from llm2fx_lab.examples import load_example
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.fx.render import render


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    x, sr = load_example("piano")
    x = x[:, : int(3 * sr)] * 0.2  # quiet enough that +10 dB does not clip when saved
    y = render(x, sr, Chain((tool_call("gain", {"gain_db": 10}),)))
    save_audio(d / "dry.wav", x, sr)
    save_audio(d / "ref.wav", y, sr)
    return d


def test_estimate_json(files, capsys):
    assert main(["estimate", str(files / "dry.wav"), str(files / "ref.wav"), "--planner", "analysis", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"chain", "reasoning", "timings"}
    names = [c["name"] for c in out["chain"]]
    assert "gain" in names
    assert all(set(c) == {"name", "arguments"} for c in out["chain"])


def test_estimate_streams_and_renders(files, capsys):
    out_path = files / "est.wav"
    assert main(["estimate", str(files / "dry.wav"), str(files / "ref.wav"), "--planner", "analysis",
                 "--out", str(out_path)]) == 0
    text = capsys.readouterr().out
    assert "[selection]" in text and "tool call" in text
    audio, _ = load_audio(out_path)
    assert audio.shape[0] == 2


def test_estimate_blind(files, capsys):
    assert main(["estimate", "none", str(files / "ref.wav"), "--planner", "analysis", "--json"]) == 0
    assert "Blind mode" in json.loads(capsys.readouterr().out)["reasoning"]


def test_estimate_errors(files, capsys):
    assert main(["estimate", "none", str(files / "ref.wav"), "--out", str(files / "x.wav")]) == 2
    assert main(["estimate", str(files / "dry.wav"), str(files / "ref.wav"), "--planner", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown planner 'nope'" in err and "analysis" in err


def test_device_option(files, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("tests the error where there is no CUDA")
    args = ["estimate", str(files / "dry.wav"), str(files / "ref.wav"), "--planner", "analysis", "--refine"]
    assert main(args + ["--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert main(args + ["--device", "tpu"]) == 2
    assert "'auto', 'cpu', 'cuda'" in capsys.readouterr().err
    assert main(args + ["--device", "cpu", "--refine-seconds", "3", "--json"]) == 0
    assert re.search(r"Refinement on a [0-9.]+ s crop[^\n]*\(cpu\)", json.loads(capsys.readouterr().out)["reasoning"])


def test_presence_guide_option(files, capsys):
    from llm2fx_lab.planners.registry import mini_available

    # only a model planner named outright decodes with it; refused before any audio is read
    for planner in (["--planner", "analysis"], [], ["--planner", "analysis+refine"]):
        assert main(["estimate", str(files / "dry.wav"), str(files / "missing.wav"), "--presence-guide",
                     *planner]) == 2
        err = capsys.readouterr().err
        assert "--presence-guide" in err and "--planner mini" in err and "model:PATH" in err
    assert main(["bench", "--planner", "analysis", "--presence-guide", "--per-length", "1"]) == 2
    assert "--presence-guide" in capsys.readouterr().err
    assert mini_available(), "the llm2fx-mini weights ship with the package"
    assert main(["estimate", str(files / "dry.wav"), str(files / "ref.wav"), "--planner", "mini",
                 "--presence-guide", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["repairs"][0].startswith("presence guide: the presence head required")
    assert main(["estimate", str(files / "dry.wav"), str(files / "ref.wav"), "--planner", "mini", "--json"]) == 0
    assert not any(r.startswith("presence guide") for r in json.loads(capsys.readouterr().out)["repairs"])


def test_estimate_style_matches_another_recording_and_renders_the_dry_file(tmp_path, capsys):
    from tests._pairs import noise_bursts

    sr = 44100
    save_audio(tmp_path / "mine.wav", noise_bursts(1, side_level=0.5), sr)
    reference = render(noise_bursts(2, side_level=0.5), sr, Chain((tool_call("stereo_widener", {"width": 0.4}),
                                                                   tool_call("gain", {"gain_db": 6}))))
    save_audio(tmp_path / "theirs.wav", reference, sr)
    out = tmp_path / "styled.wav"
    assert main(["estimate", str(tmp_path / "mine.wav"), str(tmp_path / "theirs.wav"), "--planner", "analysis",
                 "--style", "--style-seconds", "4", "--json", "--out", str(out)]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["planner"] == "analysis+style"
    names = [c["name"] for c in body["chain"]]
    assert "stereo_widener" in names and "gain" in names
    assert "Gaps to the targets" in body["reasoning"]
    assert load_audio(out)[0].shape[1] == 5 * sr


@pytest.mark.parametrize("args, message", [
    (["none", "{ref}", "--style"], "needs a DRY file"),
    (["{dry}", "{ref}", "--style", "--refine"], "cannot be combined"),
    (["{dry}", "{ref}", "--style-seconds", "3"], "pass --style too"),
])
def test_estimate_style_bad_flags_are_one_line(files, capsys, args, message):
    fmt = {"dry": str(files / "dry.wav"), "ref": str(files / "ref.wav")}
    assert main(["estimate", *[a.format(**fmt) for a in args], "--planner", "analysis"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
