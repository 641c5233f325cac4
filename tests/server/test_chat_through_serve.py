"""End to end over HTTP: the chat planner's endpoint backend against ``llm2fx serve`` (started
here on 127.0.0.1) gives what the served planner gives in process, streamed."""

import threading

import pytest

from llm2fx_lab.events import Final, Measurement, Response, Thinking, collect
from llm2fx_lab.examples import example_pair
from llm2fx_lab.planners import get_planner
from llm2fx_lab.server import CLOSING, ServeConfig, create_app
from tests._servers import running

KEY = "serve-e2e-key-5d1c"


@pytest.fixture(scope="module")
def served(request):
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("E2E_SERVE_KEY", KEY)
    request.addfinalizer(monkeypatch.undo)
    with running(create_app(ServeConfig(planners=("mini", "analysis"), api_key_env="E2E_SERVE_KEY"))) as url:
        yield url


@pytest.mark.parametrize("name", ["piano", "drums"])
def test_mini_through_serve_equals_mini_in_process(served, name):
    dry, ref, sr, _ = example_pair(name)
    dry, ref = dry[:, : 4 * sr], ref[:, : 4 * sr]
    expected = collect(get_planner("mini").plan(dry, ref, sr))
    remote = get_planner(f"llm:mini@{served}", api_key_env="E2E_SERVE_KEY", attach_audio=True,
                         audio_subtype="FLOAT")
    events, arrived = [], []
    for event in remote.plan(dry, ref, sr):
        events.append(event)
        arrived.append(isinstance(event, Final))
    final = events[-1]
    assert isinstance(final, Final) and final.chain == expected.chain and not final.repairs
    # the served planner's reasoning and reply came first, then the closing turn after the tool results
    streamed = "".join(e.text for e in expected.events if isinstance(e, (Thinking, Response)))  # as it streams
    assert final.reasoning.startswith(streamed) and final.response == CLOSING
    thinking = [e for e in events if isinstance(e, Thinking)]
    assert len(thinking) >= 2 and arrived.index(True) == len(events) - 1  # streamed piece by piece
    assert not any(isinstance(e, Measurement) for e in events)  # the lab's planners measure themselves
    roles = [m["role"] for m in final.transcript]
    assert roles == ["system", "user", "assistant", *["tool"] * len(expected.chain), "assistant"]


def test_a_studio_edit_through_serve_equals_the_edit_in_process(served):
    dry, ref, sr, _ = example_pair("guitar")
    dry, ref = dry[:, : 3 * sr], ref[:, : 3 * sr]
    current = collect(get_planner("analysis").plan(dry, ref, sr)).chain
    expected = collect(get_planner("analysis").plan(dry, ref, sr, instruction="brighter", chain=current))
    remote = get_planner(f"llm:analysis@{served}", api_key_env="E2E_SERVE_KEY", attach_audio=True,
                         audio_subtype="FLOAT")
    result = collect(remote.plan(dry, ref, sr, instruction="brighter", chain=current))
    assert result.chain == expected.chain and result.chain != current


def test_concurrent_remote_plans_keep_their_own_pairs(served):
    pairs = {}
    for name in ("bass", "mix"):
        dry, ref, sr, _ = example_pair(name)
        pairs[name] = (dry[:, : 2 * sr], ref[:, : 2 * sr], sr)
    remote = get_planner(f"llm:analysis@{served}", api_key_env="E2E_SERVE_KEY", attach_audio=True,
                         audio_subtype="FLOAT")
    got, errors = {}, []

    def run(name):
        try:
            got[name] = collect(remote.plan(*pairs[name])).chain
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    for name, pair in pairs.items():
        assert got[name] == collect(get_planner("analysis").plan(*pair)).chain, name


def test_the_openai_client_as_the_getting_started_page_shows_it(tmp_path):
    import base64

    import openai

    from llm2fx_lab.audio.io import save_audio
    from llm2fx_lab.server import in_background

    dry, ref, sr, _ = example_pair("bass")
    save_audio(tmp_path / "dry.wav", dry[:, : 2 * sr], sr)
    save_audio(tmp_path / "reference.wav", ref[:, : 2 * sr], sr)
    with in_background(create_app(ServeConfig(planners=("analysis",)))) as url:
        wav = lambda path: base64.b64encode(open(path, "rb").read()).decode()  # noqa: E731 - as on the page
        client = openai.OpenAI(base_url=url, api_key="unused")
        answer = client.chat.completions.create(model="analysis", messages=[{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": wav(tmp_path / "dry.wav"), "format": "wav"}},
            {"type": "input_audio", "input_audio": {"data": wav(tmp_path / "reference.wav"), "format": "wav"}}]}])
    calls = answer.choices[0].message.tool_calls
    expected = collect(get_planner("analysis").plan(dry[:, : 2 * sr], ref[:, : 2 * sr], sr)).chain
    assert [c.function.name for c in calls] == list(expected.names)


def test_uploads_with_the_openai_client_as_the_getting_started_page_shows_them(tmp_path):
    import openai

    from llm2fx_lab.audio.io import save_audio
    from llm2fx_lab.server import in_background

    dry, ref, sr, _ = example_pair("bass")
    save_audio(tmp_path / "dry.wav", dry[:, : 2 * sr], sr)
    save_audio(tmp_path / "reference.wav", ref[:, : 2 * sr], sr)
    with in_background(create_app(ServeConfig(planners=("analysis",)))) as url:
        client = openai.OpenAI(base_url=url, api_key="unused")
        up = lambda path: client.files.create(file=open(path, "rb"), purpose="user_data").id  # noqa: E731
        dry_id, ref_id = up(tmp_path / "dry.wav"), up(tmp_path / "reference.wav")
        answer = client.chat.completions.create(model="analysis", messages=[{"role": "user", "content": [
            {"type": "file", "file": {"file_id": dry_id}}, {"type": "file", "file": {"file_id": ref_id}}]}])
        client.files.delete(dry_id)
        client.files.delete(ref_id)
        assert client.files.list().data == []
    calls = answer.choices[0].message.tool_calls
    expected = collect(get_planner("analysis").plan(dry[:, : 2 * sr], ref[:, : 2 * sr], sr)).chain
    assert [c.function.name for c in calls] == list(expected.names)
