"""``llm2fx serve`` from the command line, and ``llm2fx estimate --planner llm:...`` against it."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from llm2fx_lab.audio.io import save_audio
from llm2fx_lab.cli import main
from llm2fx_lab.examples import load_example
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.fx.render import render


def test_serve_refuses_bad_settings_in_one_line(capsys):
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "refusing to listen on 0.0.0.0 without an API key" in capsys.readouterr().err
    assert main(["serve", "--host", "0.0.0.0", "--api-key-env", "SURELY_NOT_SET_VAR"]) == 2
    assert "SURELY_NOT_SET_VAR" in capsys.readouterr().err
    assert main(["serve", "--planner", "nope", "--port", "1"]) == 2
    assert "unknown planner 'nope'" in capsys.readouterr().err
    assert main(["serve", "--port", "70000"]) == 2
    assert "port must be in [0, 65535]" in capsys.readouterr().err


@pytest.fixture(scope="module")
def server():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen([sys.executable, "-m", "llm2fx_lab.cli", "serve", "--planner", "analysis",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as r:
                models = json.load(r)
            break
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"llm2fx serve did not start: {proc.stdout.read()}") from None
            time.sleep(0.2)
    yield url, models
    proc.terminate()
    proc.wait(20)


def test_serve_then_estimate_through_it(server, tmp_path, capsys):
    url, models = server
    assert [m["id"] for m in models["data"]] == ["analysis"]
    x, sr = load_example("piano")
    x = x[:, : 3 * sr] * 0.2
    save_audio(tmp_path / "dry.wav", x, sr)
    save_audio(tmp_path / "ref.wav", render(x, sr, Chain((tool_call("gain", {"gain_db": 10}),))), sr)
    args = ["estimate", str(tmp_path / "dry.wav"), str(tmp_path / "ref.wav"), "--planner", f"llm:analysis@{url}",
            "--attach-audio", "--json"]
    assert main(args) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in out["chain"]] == ["gain"]
    assert out["chain"][0]["arguments"]["gain_db"] == pytest.approx(10, abs=0.5)
    assert [m["role"] for m in out["transcript"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert main(args[:-2] + ["--planner", "analysis", "--attach-audio"]) == 2
    assert "--attach-audio is for a chat LLM at an endpoint" in capsys.readouterr().err
    uploaded = [a if a != "--attach-audio" else "--upload-audio" for a in args]
    assert main(uploaded) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["chain"] == out["chain"]
