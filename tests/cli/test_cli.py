import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm2fx_lab.audio import load_audio, save_audio
from llm2fx_lab.cli import main
from llm2fx_lab.fx.spec import MODULE_NAMES
from tests.conftest import SR, sine

CHAIN = [{"name": "gain", "arguments": {"gain_db": -6}}, {"name": "reverb", "arguments": {"mix_ratio": 0.3}}]


@pytest.fixture
def files(tmp_path):
    chain = tmp_path / "chain.json"
    chain.write_text(json.dumps(CHAIN))
    audio = save_audio(tmp_path / "in.wav", sine(440, 0.5), SR)
    return tmp_path, chain, audio


def test_tools_prints_nine_schemas(capsys):
    assert main(["tools"]) == 0
    schemas = json.loads(capsys.readouterr().out)
    assert [s["function"]["name"] for s in schemas] == list(MODULE_NAMES)
    assert main(["tools", "--markdown"]) == 0
    assert "`attack_ms`" in capsys.readouterr().out


def test_describe(files, capsys):
    _, chain, _ = files
    assert main(["describe", str(chain)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1. gain") and "2. reverb" in out


def test_render_with_tail_and_no_overwrite(files, capsys):
    tmp, chain, audio = files
    out = tmp / "out.flac"
    assert main(["render", "--chain", str(chain), str(audio), str(out), "--tail-seconds", "1"]) == 0
    y, sr = load_audio(out)
    assert sr == SR and y.shape[1] == SR // 2 + SR
    before = out.read_bytes()
    assert main(["render", "--chain", str(chain), str(audio), str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(["render", "--chain", str(chain), str(audio), str(out), "--overwrite"]) == 0


@pytest.mark.parametrize("args, message", [
    (["describe", "missing.json"], "cannot read chain file"),
    (["render", "--chain", "{chain}", "{tmp}/nope.wav", "{tmp}/o.wav"], "no such file"),
    (["render", "--chain", "{bad}", "{audio}", "{tmp}/o.wav"], "unknown module 'flanger'"),
    (["render", "--chain", "{range}", "{audio}", "{tmp}/o.wav"], "gain.gain_db must be in [-20, 20] dB, got 40"),
    (["render", "--chain", "{chain}", "{audio}", "{tmp}/o.mp3"], "output must end in .wav or .flac"),
    (["render", "--chain", "{notjson}", "{audio}", "{tmp}/o.wav"], "chain JSON does not parse"),
])
def test_bad_input_exit_code_2_one_line(files, capsys, args, message):
    tmp, chain, audio = files
    (tmp / "bad.json").write_text(json.dumps([{"name": "flanger"}]))
    (tmp / "range.json").write_text(json.dumps([{"name": "gain", "arguments": {"gain_db": 40}}]))
    (tmp / "notjson.json").write_text("[{")
    fmt = {"chain": chain, "audio": audio, "tmp": tmp, "bad": tmp / "bad.json",
           "range": tmp / "range.json", "notjson": tmp / "notjson.json"}
    assert main([a.format(**fmt) for a in args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_console_script_usage_error_and_no_traceback(files):
    tmp, chain, audio = files
    exe = Path(sys.executable).with_name("llm2fx")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "llm2fx_lab.cli"]
    r = subprocess.run(cmd + ["render", str(audio)], capture_output=True, text=True)
    assert r.returncode == 2 and "required" in r.stderr
    r = subprocess.run(cmd + ["render", "--chain", str(chain), str(tmp / "corrupt.wav"), str(tmp / "o.wav")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "no such file" in r.stderr


def test_data_subcommand_is_wired(tmp_path, capsys):
    assert main(["data", "stats", str(tmp_path)]) == 2
    assert "holds no dataset shards" in capsys.readouterr().err
