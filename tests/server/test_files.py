"""Clips uploaded once (``POST /v1/files``, then ``file`` parts by id), the chat planner's
``upload_audio``, and how the server streams reasoning (merged pieces, the rest at once)."""

import asyncio
import io
import json
import threading
import time

import httpx
import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from llm2fx_lab.errors import PlannerError
from llm2fx_lab.events import collect
from llm2fx_lab.planners import get_planner
from llm2fx_lab.planners.chat import ChatPlanner
from llm2fx_lab.server import Limits, ServeConfig, create_app
from llm2fx_lab.server import files as server_files
from llm2fx_lab.server.app import _merged, _Reasoning
from llm2fx_lab.server.files import ClipStore, FileLimits
from tests._servers import running


def wav(audio, sr, subtype="FLOAT"):
    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio).T, int(sr), format="WAV", subtype=subtype)
    return buf.getvalue()


def upload(client, data, name="dry.wav", purpose="user_data"):
    return client.post("/v1/files", files={"file": (name, data, "audio/wav")}, data={"purpose": purpose})


def by_id(*ids):
    return [{"type": "file", "file": {"file_id": i}} for i in ids]


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(ServeConfig(planners=("analysis",))))


def test_uploaded_clips_answer_like_inline_ones_until_deleted(client, pair):
    dry, ref, sr = pair
    ids = [upload(client, wav(x, sr), name).json()["id"] for name, x in (("dry.wav", dry), ("reference.wav", ref))]
    info = client.get(f"/v1/files/{ids[0]}").json()
    assert info == {"id": ids[0], "object": "file", "bytes": len(wav(dry, sr)), "created_at": info["created_at"],
                    "filename": "dry.wav", "purpose": "user_data", "status": "processed"}
    body = {"model": "analysis", "messages": [{"role": "user", "content": by_id(*ids)}]}
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    expected = collect(get_planner("analysis").plan(dry, ref, sr))
    calls = r.json()["choices"][0]["message"]["tool_calls"]
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == \
        [(c["name"], c["arguments"]) for c in expected.chain.to_tool_calls()]
    assert {f["id"] for f in client.get("/v1/files").json()["data"]} >= set(ids)
    for file_id in ids:
        assert client.delete(f"/v1/files/{file_id}").json() == {"id": file_id, "object": "file", "deleted": True}
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 404 and "upload it with POST /v1/files" in r.json()["error"]["message"]
    assert client.delete(f"/v1/files/{ids[0]}").status_code == 404
    assert client.get("/v1/files/file-nothing").status_code == 404


@pytest.mark.parametrize("send, status, needle", [
    (lambda c, d: c.post("/v1/files", content=d, headers={"content-type": "audio/wav"}), 400,
     "multipart/form-data"),
    (lambda c, d: c.post("/v1/files", files={"clip": ("dry.wav", d, "audio/wav")}), 400, "no 'file' field"),
    (lambda c, d: upload(c, d, name="notes.txt"), 400, "audio files only"),
    (lambda c, d: upload(c, b"RIFF garbage"), 400, "the uploaded file 'dry.wav':"),
    (lambda c, d: upload(c, d, purpose="fine-tune"), 400, "purpose must be one of user_data, assistants"),
    (lambda c, d: c.post("/v1/chat/completions", json={"model": "analysis", "messages": [
        {"role": "user", "content": [{"type": "file", "file": {"file_data": "AAAA"}}]}]}), 400,
     "a file part must name an uploaded clip"),
])
def test_bad_uploads_get_a_4xx_and_an_openai_error(client, pair, send, status, needle):
    r = send(client, wav(pair[1], pair[2]))
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert needle in error["message"] and error["code"] == status


def test_upload_limits_and_a_silent_clip(pair):
    dry, ref, sr = pair
    small = TestClient(create_app(ServeConfig(planners=("analysis",),
                                              limits=Limits(max_request_bytes=300_000, max_audio_seconds=1.0))))
    r = upload(small, wav(ref, sr))
    assert r.status_code == 413 and "at most 300000 bytes" in r.json()["error"]["message"]
    r = upload(small, wav(ref[:, : int(1.5 * sr)], sr, "PCM_16"))
    assert r.status_code == 413 and "1.5 s long; this server takes at most 1 s" in r.json()["error"]["message"]
    r = upload(small, wav(np.zeros((2, sr // 2), np.float32), sr, "PCM_16"))
    assert r.status_code == 400 and "'dry.wav': dry.wav is silent" in r.json()["error"]["message"]


def test_the_store_keeps_few_clips_for_a_while(monkeypatch):
    clip = wav(0.1 * np.random.default_rng(0).standard_normal((2, 4410)).astype(np.float32), 44100)
    store = ClipStore(FileLimits(max_files=2, max_total_seconds=100.0, ttl_seconds=60.0))
    a, b, c = (store.add(clip, f"{n}.wav", "user_data", Limits()).id for n in "abc")
    assert [x.id for x in store.list()] == [b, c]  # the oldest made room
    with pytest.raises(server_files.RequestError, match="no uploaded file"):
        store.get(a)
    by_length = ClipStore(FileLimits(max_files=10, max_total_seconds=0.25))
    first, *_ = (by_length.add(clip, "x.wav", "user_data", Limits()).id for _ in range(3))  # 0.1 s each
    assert len(by_length.list()) == 2 and first not in {x.id for x in by_length.list()}
    later = time.time() + 61
    monkeypatch.setattr(server_files.time, "time", lambda: later)
    with pytest.raises(server_files.RequestError, match="expired after 60 s"):
        store.get(b)
    assert store.list() == []


def test_the_chat_planner_uploads_each_clip_once_and_deletes_it(pair):
    dry, ref, sr = pair
    expected = collect(get_planner("mini").plan(dry, ref, sr))
    with running(create_app(ServeConfig(planners=("mini",)))) as url:
        planner = get_planner(f"llm:mini@{url}", upload_audio=True, audio_subtype="FLOAT")
        sent = []
        real = planner.backend.upload
        planner.backend.upload = lambda data, name: sent.append(name) or real(data, name)
        result = collect(planner.plan(dry, ref, sr))
        assert result.chain == expected.chain and not result.repairs
        assert sent == ["dry.wav", "reference.wav"]  # once each, for both requests of the estimate
        parts = result.transcript[1]["content"]
        assert [p["type"] for p in parts if p["type"] != "text"] == ["file", "file"]
        assert httpx.get(f"{url}/files").json()["data"] == []  # deleted once the estimate was made


def test_a_refused_upload_is_one_line_and_leaves_nothing_behind(pair):
    dry, ref, sr = pair
    config = ServeConfig(planners=("mini",), limits=Limits(max_audio_seconds=1.0))
    with running(create_app(config)) as url:
        planner = get_planner(f"llm:mini@{url}", upload_audio=True)
        with pytest.raises(PlannerError, match=r"answered HTTP 413: .*'dry.wav' is 3.0 s long; .* at most 1 s per clip"):
            collect(planner.plan(dry, ref, sr))
        silent = np.zeros_like(ref[:, : sr // 2])
        with pytest.raises(PlannerError, match=r"answered HTTP 400: the uploaded file 'reference.wav': .* silent"):
            collect(planner.plan(dry[:, : sr // 2], silent, sr))  # the dry clip goes up, the reference is refused
        assert httpx.get(f"{url}/files").json()["data"] == []  # the dry clip was deleted again
        with pytest.raises(PlannerError, match=r"sent an error: the planner cannot take this request: .*at least 1 s"):
            collect(planner.plan(dry[:, : sr // 2], ref[:, : sr // 2], sr))  # too short for the mini's encoder


def test_upload_audio_needs_an_endpoint():
    class Local:
        name = "hf:somewhere"

        def stream(self, messages, tools, stop=None):
            raise AssertionError("never asked")

    with pytest.raises(PlannerError, match="upload_audio .* needs an llm:MODEL@URL planner, not hf:somewhere"):
        ChatPlanner(Local(), upload_audio=True)


def test_reasoning_is_merged_and_everything_else_goes_at_once():
    def events():
        yield "data: role\n\n"
        yield _Reasoning("a")
        yield _Reasoning("b")
        time.sleep(0.05)
        yield _Reasoning("c")
        yield "data: calls\n\n"

    stop = threading.Event()

    async def run():
        t = time.monotonic()
        out = [piece async for piece in _merged(events(), "m", "chatcmpl-1", stop, interval_seconds=30.0)]
        return out, time.monotonic() - t

    out, seconds = asyncio.run(run())
    assert seconds < 10  # the reply and the calls never wait for the interval
    lines = [line for piece in out for line in piece.split("\n\n") if line]
    texts = [json.loads(line[6:])["choices"][0]["delta"]["reasoning_content"] for line in lines
             if "reasoning_content" in line]
    assert lines[0] == "data: role" and lines[-1] == "data: calls"
    assert "".join(texts) == "abc" and len(texts) <= 2  # three pieces, at most two chunks
    assert stop.is_set()  # the planner is told to stop once the stream ends
