"""``llm2fx serve``: the OpenAI shapes, the same answers as in-process, limits and bad requests."""

import base64
import io
import json
import logging
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.events import Final, Thinking, Timings, collect
from llm2fx_lab.examples import example_pair
from llm2fx_lab.fx import Chain
from llm2fx_lab.planners import get_planner
from llm2fx_lab.server import CLOSING, Limits, ServeConfig, create_app
from llm2fx_lab.server import app as server_app

KEY = "srv-key-0c1d2e3f4a5b"


def b64(audio, sr, fmt="WAV", subtype="FLOAT"):
    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio).T, int(sr), format=fmt, subtype=subtype)
    return base64.b64encode(buf.getvalue()).decode()


def request(model, clips, text="Estimate the chain.", stream=False, **extra):
    parts = [{"type": "text", "text": text}] + [{"type": "input_audio", "input_audio": {"data": d, "format": "wav"}}
                                                for d in clips]
    return {"model": model, "messages": [{"role": "user", "content": parts}], "stream": stream, **extra}


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(ServeConfig(planners=("analysis", "mini"))))


def sse(response):
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            events.append(line[6:])
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def test_models_and_unknown_endpoints(client):
    r = client.get("/v1/models")
    assert r.status_code == 200 and [m["id"] for m in r.json()["data"]] == ["analysis", "mini"]
    r = client.get("/v2/everything")
    assert r.status_code == 404 and "POST /v1/chat/completions" in r.json()["error"]["message"]


def test_answer_equals_the_planner_in_process(client, pair):
    dry, ref, sr = pair
    r = client.post("/v1/chat/completions", json=request("analysis", [b64(dry, sr), b64(ref, sr)]))
    assert r.status_code == 200
    body = r.json()
    expected = collect(get_planner("analysis").plan(dry, ref, sr))  # a first request's text is not read
    message = body["choices"][0]["message"]
    assert body["object"] == "chat.completion" and body["model"] == "analysis"
    assert message["reasoning_content"] == expected.reasoning and message["content"] == expected.response
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message["tool_calls"]] == \
        [(c["name"], c["arguments"]) for c in expected.chain.to_tool_calls()]
    assert body["choices"][0]["finish_reason"] == "tool_calls"


def test_streamed_answer_equals_the_planner_in_process(client, pair):
    dry, ref, sr = pair
    with client.stream("POST", "/v1/chat/completions",
                       json=request("mini", [b64(dry, sr), b64(ref, sr)], stream=True,
                                    stream_options={"include_usage": True})) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        chunks = sse(r)
    expected = collect(get_planner("mini").plan(dry, ref, sr))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0]["role"] == "assistant"
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    streamed = "".join(e.text for e in expected.events if isinstance(e, Thinking))  # what the planner streams
    assert reasoning == streamed and sum("reasoning_content" in d for d in deltas) > 3
    calls = [c for d in deltas for c in d.get("tool_calls", [])]
    assert [(c["index"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == \
        [(i, c["name"], c["arguments"]) for i, c in enumerate(expected.chain.to_tool_calls())]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


def test_blind_request_and_a_finished_conversation(client, pair):
    _, ref, sr = pair
    r = client.post("/v1/chat/completions", json=request("analysis", [b64(ref, sr)]))
    assert r.status_code == 200 and "Blind mode" in r.json()["choices"][0]["message"]["reasoning_content"]
    done = request("analysis", [b64(ref, sr)])
    done["messages"] += [{"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_0", "type": "function", "function": {"name": "gain", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "ok"}]
    r = client.post("/v1/chat/completions", json=done)
    message = r.json()["choices"][0]["message"]
    assert message == {"role": "assistant", "content": CLOSING}


def test_a_follow_up_edits_the_chain_in_the_conversation(client, pair):
    dry, ref, sr = pair
    chain = Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": -3}},
                                   {"name": "reverb", "arguments": {"mix_ratio": 0.5}}])
    follow_up = request("analysis", [b64(dry, sr), b64(ref, sr)])
    follow_up["messages"] += [
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
            for i, c in enumerate(chain.to_tool_calls())]},
        *({"role": "tool", "tool_call_id": f"c{i}", "content": "ok"} for i in range(2)),
        {"role": "user", "content": "less reverb"}]
    r = client.post("/v1/chat/completions", json=follow_up)
    assert r.status_code == 200, r.text
    message = r.json()["choices"][0]["message"]
    expected = collect(get_planner("analysis").plan(dry, ref, sr, instruction="less reverb", chain=chain))
    assert message["reasoning_content"] == expected.reasoning
    got = Chain.from_tool_calls([{"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
                                 for c in message["tool_calls"]])
    assert got == expected.chain and got["reverb"]["mix_ratio"] == pytest.approx(0.35)
    follow_up["messages"][-4]["tool_calls"][0]["function"]["arguments"] = '{"gain_db": 99}'
    r = client.post("/v1/chat/completions", json=follow_up)
    assert r.status_code == 400 and "the chain in the conversation is not valid: gain.gain_db must be in" in r.text


def _answer(chain, tag):
    return [{"role": "assistant", "content": "", "tool_calls": [
        {"id": f"{tag}{i}", "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
        for i, c in enumerate(chain.to_tool_calls())]},
        *({"role": "tool", "tool_call_id": f"{tag}{i}", "content": "ok"} for i in range(len(chain)))]


def test_follow_ups_say_what_changed_and_undo_goes_back_through_the_answers(client, pair):
    dry, ref, sr = pair
    first = Chain.from_tool_calls([{"name": "equalizer", "arguments": {"high_gain_db": 8}},
                                   {"name": "delay", "arguments": {"mix_ratio": 0.3}}])
    second = first.without("delay")
    body = request("analysis", [b64(dry, sr), b64(ref, sr)])
    body["messages"] += [*_answer(first, "a"), {"role": "user", "content": "remove the delay"}]
    message = client.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]
    assert message["content"] == "Changed: removed delay (was module 2 of 2). Chain: equalizer."
    body["messages"] += [*_answer(second, "b"), {"role": "user", "content": "undo"}]
    message = client.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]
    got = Chain.from_tool_calls([{"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
                                 for c in message["tool_calls"]])
    assert got == first and message["content"].startswith("Undid the last edit. Changed: added delay")
    body["messages"][-1] = {"role": "user", "content": "less reverb"}
    message = client.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]
    assert message["content"].startswith("Nothing changed: there is no reverb in the chain (equalizer) to reduce.")


@pytest.mark.parametrize("body,status,needle", [
    (b"{not json", 400, "not JSON"),
    (json.dumps({"messages": []}).encode(), 400, "'model' must name a planner"),
    (json.dumps(request("nope", ["AAAA"])).encode(), 404, "model 'nope' is not served here; served: analysis, mini"),
    (json.dumps(request("analysis", [])).encode(), 400, "needs one or two audio parts"),
    (json.dumps({"model": "analysis", "messages": [{"role": "user", "content": [
        {"type": "audio_url", "audio_url": {"url": "file:///etc/passwd"}}]}]}).encode(), 400, "never reads a path"),
    (json.dumps(request("analysis", ["***not base64***"])).encode(), 400, "not valid base64"),
    (json.dumps(request("analysis", [base64.b64encode(b"RIFF garbage").decode()])).encode(), 400,
     "the reference audio:"),
    (json.dumps({"model": "analysis", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "aiff"}}]}]}).encode(), 400,
     "format must be one of wav, flac, mp3, ogg"),
    (json.dumps({"model": "analysis", "messages": [{"role": "system", "content": "x"}]}).encode(), 400,
     "no user message"),
    (json.dumps({"model": "analysis", "stream": "yes", "messages": [{"role": "user", "content": "x"}]}).encode(), 400,
     "'stream' must be true or false"),
])
def test_bad_requests_get_a_4xx_and_an_openai_error(client, body, status, needle):
    r = client.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert needle in error["message"] and error["code"] == status and error["type"]


def test_limits_on_size_length_clips_and_silence(pair):
    dry, ref, sr = pair
    small = TestClient(create_app(ServeConfig(planners=("analysis",),
                                              limits=Limits(max_request_bytes=200_000, max_audio_seconds=2.0))))
    r = small.post("/v1/chat/completions", json=request("analysis", [b64(dry, sr), b64(ref, sr)]))
    assert r.status_code == 413 and "at most 200000 bytes" in r.json()["error"]["message"]
    low = ref[:, ::4][:, : int(2.5 * sr / 4)]  # 2.5 s at 11.025 kHz: small enough for the size limit
    r = small.post("/v1/chat/completions", json=request("analysis", [b64(low, sr // 4, subtype="PCM_16")]))
    assert r.status_code == 413 and "2.5 s long; this server takes at most 2 s" in r.json()["error"]["message"]
    tiny = b64(ref[:, ::4][:, : sr // 8], sr // 4, subtype="PCM_16")
    r = small.post("/v1/chat/completions", json=request("analysis", [tiny, tiny, tiny]))
    assert r.status_code == 400 and "at most two audio parts" in r.json()["error"]["message"]
    silent = b64(np.zeros((2, sr // 4), np.float32), sr // 4, subtype="PCM_16")
    r = small.post("/v1/chat/completions", json=request("analysis", [silent]))
    assert r.status_code == 400 and "silent" in r.json()["error"]["message"]


def test_api_key_required_off_loopback_and_checked(monkeypatch, pair, caplog):
    with pytest.raises(Llm2FxError, match="refusing to listen on 0.0.0.0 without an API key"):
        ServeConfig(host="0.0.0.0")
    monkeypatch.setenv("SERVE_KEY", KEY)
    config = ServeConfig(planners=("analysis",), host="0.0.0.0", api_key_env="SERVE_KEY")
    keyed = TestClient(create_app(config))
    caplog.set_level(logging.DEBUG)
    assert keyed.get("/v1/models").status_code == 401
    r = keyed.get("/v1/models", headers={"authorization": "Bearer wrong"})
    assert r.status_code == 401 and KEY not in r.text
    assert keyed.get("/v1/models", headers={"authorization": f"Bearer {KEY}"}).status_code == 200
    assert KEY not in caplog.text
    monkeypatch.delenv("SERVE_KEY")
    with pytest.raises(Llm2FxError, match="SERVE_KEY that should hold the API key is not set"):
        ServeConfig(host="0.0.0.0", api_key_env="SERVE_KEY")


class Slow:
    name = "slow"

    def plan(self, dry, reference, sample_rate, instruction=None, stop=None):
        yield Thinking("starting\n", "selection")
        while not stop.wait(0.01):
            pass
        yield Final(Chain(), "starting\n", "", Timings(None, 0.0), stopped=True, planner="slow")


def test_slow_planners_time_out(monkeypatch, pair):
    _, ref, sr = pair
    real = server_app.get_planner
    monkeypatch.setattr(server_app, "get_planner", lambda name: Slow() if name == "slow" else real(name))
    app = create_app(ServeConfig(planners=("slow",), limits=Limits(timeout_seconds=0.3)))
    client = TestClient(app)
    t = time.monotonic()
    r = client.post("/v1/chat/completions", json=request("slow", [b64(ref, sr)]))
    assert r.status_code == 504 and "did not finish within 0.3 s" in r.json()["error"]["message"]
    with client.stream("POST", "/v1/chat/completions", json=request("slow", [b64(ref, sr)], stream=True)) as s:
        lines = [json.loads(x[6:]) for x in s.iter_lines() if x.startswith("data: {")]
    assert lines[-1]["error"]["code"] == 504 and time.monotonic() - t < 20


def test_concurrent_requests_never_mix_their_pairs(client):
    pairs = {}
    for name in ("piano", "drums", "bass"):
        dry, ref, sr, _ = example_pair(name)
        pairs[name] = (dry[:, : 2 * sr], ref[:, : 2 * sr], sr)
    answers, errors = {}, []

    def ask(name):
        try:
            dry, ref, sr = pairs[name]
            r = client.post("/v1/chat/completions", json=request("analysis", [b64(dry, sr), b64(ref, sr)]))
            answers[name] = r.json()["choices"][0]["message"]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(n,)) for n in pairs for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    for name, (dry, ref, sr) in pairs.items():
        expected = collect(get_planner("analysis").plan(dry, ref, sr))
        got = [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in answers[name]["tool_calls"]]
        assert got == [(c["name"], c["arguments"]) for c in expected.chain.to_tool_calls()], name
