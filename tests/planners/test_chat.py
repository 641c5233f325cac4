"""The chat planner: dialects read, tools run, the loop, the endpoint client's errors and keys."""

import base64
import io
import json
import logging
import socket
import threading

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from llm2fx_lab.errors import PlannerError
from llm2fx_lab.events import Final, Measurement, Thinking, ToolCallEvent, collect
from llm2fx_lab.examples import example_pair
from llm2fx_lab.fx import MODULE_NAMES, Chain, render, tool_call
from llm2fx_lab.planners import get_planner
from llm2fx_lab.planners.chat import (
    ChatConfig,
    ChatPlanner,
    Delta,
    MeasurementTools,
    OpenAIBackend,
    RawCall,
    ThinkSplitter,
    ToolCallAssembler,
    Turn,
    calls_in_text,
    read_arguments,
)
from llm2fx_lab.planners.registry import split_endpoint
from tests._servers import FIXTURES, fixture, replay_app, running

SECRET = "sk-test-7f3a9c0d5e1b2468"


@pytest.fixture(scope="module")
def pair():
    dry, ref, sr, truth = example_pair("piano")
    return dry[:, : 2 * sr], ref[:, : 2 * sr], sr, truth


# --- parsing -------------------------------------------------------------------------------

def test_read_arguments_dialects():
    assert read_arguments('{"gain_db": -6}') == ({"gain_db": -6}, None)
    assert read_arguments({"gain_db": -6}) == ({"gain_db": -6}, None)
    assert read_arguments("{'gain_db': -6}") == ({"gain_db": -6}, None)  # a Python literal
    assert read_arguments("") == ({}, None) and read_arguments(None) == ({}, None)
    assert read_arguments("[1, 2]")[1] == "arguments must be a JSON object, got list"
    assert read_arguments("{gain_db: -6")[1].startswith("arguments are not valid JSON")
    assert read_arguments(3)[1] == "arguments must be a JSON object, got int"


def test_calls_in_text_reads_json_and_python_blocks_and_keeps_the_prose():
    text = ('I pick two.\n<tool_call>\n{"name": "gain", "arguments": {"gain_db": -3}}\n</tool_call>\n'
            "<tool_call>{'name': 'reverb', 'arguments': {'mix_ratio': 0.3}}</tool_call> Done.")
    calls, rest, repairs = calls_in_text(text, first_id=4)
    assert [(c.id, c.name, c.arguments) for c in calls] == [("call_4", "gain", {"gain_db": -3}),
                                                            ("call_5", "reverb", {"mix_ratio": 0.3})]
    assert rest == "I pick two.\n\n Done." and repairs == ["tool call #1: read as a Python literal (not JSON)"]
    calls, _, repairs = calls_in_text("<tool_call>[1, 2]</tool_call><tool_call>{broken")
    assert [c.error is not None for c in calls] == [True, True] and "does not parse" in repairs[-1]


def test_whole_calls_without_index_or_id_are_separate_calls():
    assembler = ToolCallAssembler()
    assembler.feed([{"function": {"name": "gain", "arguments": {"gain_db": -3}}},
                    {"function": {"name": "reverb", "arguments": '{"mix_ratio": 0.2}'}}])
    assembler.feed([{"index": 5, "id": "x", "function": {"name": "limiter", "arguments": ""}}])
    assert [(c.id, c.name, c.arguments) for c in assembler.calls()] == [
        ("call_0", "gain", {"gain_db": -3}), ("call_1", "reverb", {"mix_ratio": 0.2}), ("x", "limiter", {})]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 80), max_size=8))
def test_think_splitter_does_not_depend_on_chunk_boundaries(cuts):
    text = "<think>\nThe reverb tail grows by 1.2 s.\n</think>\n\nI will add a reverb."
    cuts = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    splitter = ThinkSplitter()
    for a, b in zip(cuts, cuts[1:]):
        splitter.feed(text[a:b])
    splitter.close()
    assert splitter.reasoning == "\nThe reverb tail grows by 1.2 s.\n"
    assert splitter.content == "\n\nI will add a reverb."


# --- the endpoint client, on recorded streams of each dialect --------------------------------

def _turn(base_url, messages=None, **kwargs):
    backend = OpenAIBackend("m", base_url, **kwargs)
    items = list(backend.stream(messages or [{"role": "user", "content": "hi"}], []))
    deltas, turn = [i for i in items if isinstance(i, Delta)], items[-1]
    assert isinstance(turn, Turn)
    return deltas, turn


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json") if p.stem != "malformed"))
def test_every_dialect_gives_the_same_turn(name):
    f = fixture(name)
    with running(replay_app([f])) as url:
        deltas, turn = _turn(url)
    want = f["expect"]
    assert turn.reasoning == want["reasoning"] and turn.content == want["content"]
    assert [[c.id, c.name, c.arguments] for c in turn.calls] == want["calls"]
    assert all(c.error is None for c in turn.calls)
    streamed = "".join(d.reasoning + d.content for d in deltas)
    assert turn.reasoning in streamed and turn.content in streamed  # everything was streamed as it came
    if "usage" in want:
        assert turn.usage == want["usage"]


def test_malformed_output_never_crashes_and_says_what_broke():
    with running(replay_app([fixture("malformed")])) as url:
        _, turn = _turn(url)
    assert [c.name for c in turn.calls] == ["gain", "", "limiter"]
    assert [c.error is not None for c in turn.calls] == [True, True, False]
    assert "not valid JSON" in turn.calls[0].error and "no function name" in turn.calls[1].error
    assert any("no closing </tool_call>" in r for r in turn.repairs)


def test_dead_endpoint_is_one_clear_line():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(PlannerError, match=rf"cannot reach http://127.0.0.1:{port}/v1 \(no answer\)"):
        _turn(f"http://127.0.0.1:{port}/v1", timeout_seconds=5)


def test_the_key_goes_to_its_endpoint_only_and_never_into_errors_events_or_logs(pair, monkeypatch, caplog):
    monkeypatch.setenv("LAB_TEST_KEY", SECRET)
    seen = []
    refused = {"status": 401, "error": {"error": {"message": "invalid api key", "type": "auth"}}}
    with running(replay_app([refused, fixture("vllm_reasoning_content"), {"chunks": [
            {"choices": [{"index": 0, "delta": {"content": "Done."}, "finish_reason": "stop"}]}]}], seen)) as url:
        caplog.set_level(logging.DEBUG)
        with pytest.raises(PlannerError) as info:
            _turn(url, api_key_env="LAB_TEST_KEY")
        assert str(info.value) == f"{url} refused the API key from $LAB_TEST_KEY" and SECRET not in str(info.value)
        dry, ref, sr, _ = pair
        planner = get_planner(f"llm:m@{url}", api_key_env="LAB_TEST_KEY")
        result = collect(planner.plan(dry, ref, sr))
    assert [h["authorization"] for h in (s["headers"] for s in seen)] == [f"Bearer {SECRET}"] * 3
    assert result.chain.names == ("equalizer",)
    dumped = json.dumps(result.to_json()) + repr(planner.backend) + repr(result) + caplog.text
    assert SECRET not in dumped
    with pytest.raises(PlannerError, match="NOPE_NOT_SET that should hold the API key is not set"):
        OpenAIBackend("m", url, api_key_env="NOPE_NOT_SET")


def test_endpoint_errors_and_oversized_replies():
    error = {"status": 500, "error": {"error": {"message": "model exploded"}}}
    huge = {"chunks": [{"choices": [{"index": 0, "delta": {"content": "x" * 5000}, "finish_reason": None}]}]}
    with running(replay_app([error, huge])) as url:
        with pytest.raises(PlannerError, match="answered HTTP 500: model exploded"):
            _turn(url)
        with pytest.raises(PlannerError, match="longer than 1000 characters"):
            _turn(url, max_reply_chars=1000)
    for bad, message in (("ftp://x/v1", "must start with http"), ("", "must start with http")):
        with pytest.raises(PlannerError, match=message):
            OpenAIBackend("m", bad)
    with pytest.raises(PlannerError, match="llm:MODEL@URL"):
        split_endpoint("llm:qwen3")
    assert split_endpoint("llm:qwen3:8b@http://localhost:11434/v1") == ("qwen3:8b", "http://localhost:11434/v1")


# --- the loop --------------------------------------------------------------------------------

class Scripted:
    """A backend that plays one turn per round and keeps the conversations it was sent."""

    name = "scripted"

    def __init__(self, turns):
        self.turns, self.seen = list(turns), []

    def stream(self, messages, tools, stop=None):
        self.seen.append((json.loads(json.dumps(messages)), tools))
        turn = self.turns.pop(0) if self.turns else Turn("", "Done.", [])
        if turn.reasoning:
            yield Delta(turn.reasoning, "")
        if turn.content:
            yield Delta("", turn.content)
        yield turn


def _call(i, name, **arguments):
    return RawCall(f"c{i}", name, arguments)


def test_measurements_reach_the_model_and_the_chain_comes_out(pair):
    dry, ref, sr, _ = pair
    backend = Scripted([
        Turn("1. Selection: I measure first.\n", "", [_call(0, "measure_pair")]),
        Turn("2. Order: reverb last.\n3. Parameters: from the tail.\n", "",
             [_call(1, "gain", gain_db=-4), _call(2, "reverb", mix_ratio=0.3)]),
        Turn("", "", [_call(3, "render_and_compare", chain=[{"name": "gain", "arguments": {"gain_db": -4}}])]),
        Turn("", "A gain and a reverb.", []),
    ])
    events = list(ChatPlanner(backend).plan(dry, ref, sr))
    final = events[-1]
    assert isinstance(final, Final) and final.chain.names == ("gain", "reverb") and final.planner == "scripted"
    assert final.response == "A gain and a reverb." and not final.stopped
    # the measurement's result is what the model got back, as the tool message of its call
    second = backend.seen[1][0]
    tool = next(m for m in second if m["role"] == "tool")
    assert tool["tool_call_id"] == "c0" and json.loads(tool["content"])["dry_vs_reference"]["loudness_change_lu"] < -3
    measurements = [e for e in events if isinstance(e, Measurement)]
    assert [m.name for m in measurements] == ["measure_pair", "render_and_compare"]
    assert measurements[1].result["mrstft_left"] > 0 and "reference_minus_render" in measurements[1].result
    steps = {e.step for e in events if isinstance(e, Thinking)}
    assert {"selection", "order", "parameters"} <= steps
    assert [e.call.name for e in events if isinstance(e, ToolCallEvent)] == ["gain", "reverb"]
    roles = [m["role"] for m in final.transcript]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "tool", "assistant", "tool", "assistant"]
    tools = [t["function"]["name"] for t in backend.seen[0][1]]
    assert tools[:9] == list(MODULE_NAMES)
    assert tools[9:] == ["measure_pair", "measure_clip", "render_and_compare"]


def test_tool_errors_go_back_and_repeated_modules_replace(pair):
    dry, ref, sr, _ = pair
    backend = Scripted([
        Turn("", "", [_call(0, "gain", gain_db=99), _call(1, "flanger"), _call(2, "delay", delay_seconds=0.2),
                      RawCall("c3", "measure_pair", None, "arguments are not valid JSON: '{x'")]),
        Turn("", "", [_call(4, "gain", gain_db=-3), _call(5, "delay", delay_seconds=0.3)]),  # restates: gain first
        Turn("", "", [_call(6, "delay", delay_seconds=0.4)]),  # one correction: in place
        Turn("", "", [_call(7, "delay", delay_seconds=0.4), _call(8, "gain", gain_db=-2)]),  # restated: new order
    ])
    result = collect(ChatPlanner(backend).plan(dry, ref, sr))
    assert result.chain.names == ("delay", "gain") and result.chain["gain"]["gain_db"] == -2
    replies = {m["tool_call_id"]: m["content"] for m in backend.seen[1][0] if m["role"] == "tool"}
    assert replies["c0"].startswith("error: gain.gain_db must be in [-20, 20] dB, got 99")
    assert replies["c1"].startswith("error: unknown tool 'flanger'; allowed: equalizer")
    assert replies["c2"].startswith("ok: delay") and replies["c3"].startswith("error: arguments are not valid JSON")
    second = {m["tool_call_id"]: m["content"] for m in backend.seen[2][0] if m["role"] == "tool"}
    assert second["c4"] == "ok: gain (gain_db=-3) is module 1 of the chain"
    third = {m["tool_call_id"]: m["content"] for m in backend.seen[3][0] if m["role"] == "tool"}
    assert third["c6"] == "ok: delay (delay_seconds=0.4, feedback=0, mix_ratio=0) is module 2 of the chain"
    assert len(result.repairs) == 3 and all("sent back to the model" in r for r in result.repairs)


def test_round_limit_blind_mode_and_stop(pair):
    dry, ref, sr, _ = pair
    looping = Scripted([Turn("", "", [_call(i, "measure_clip", clip="reference")]) for i in range(10)])
    result = collect(ChatPlanner(looping, max_rounds=3).plan(None, ref, sr))
    assert len(looping.seen) == 3 and "still calling tools after 3 rounds" in result.repairs[-1]
    assert [t["function"]["name"] for t in looping.seen[0][1]][9:] == ["measure_clip"]  # blind: one tool
    assert "no dry recording" in looping.seen[0][0][1]["content"]
    blind = Scripted([Turn("", "", [_call(0, "measure_pair"), _call(1, "measure_clip", clip="dry")])])
    result = collect(ChatPlanner(blind).plan(None, ref, sr))
    errors = [m.error for m in result.measurements]
    assert errors[0].startswith("unknown measurement tool 'measure_pair' (there is no dry clip")
    assert "measure_clip takes" in errors[1]
    stop = threading.Event()
    stop.set()
    result = collect(ChatPlanner(Scripted([Turn("thinking", "", [_call(0, "measure_pair")])])).plan(dry, ref, sr,
                                                                                                       stop=stop))
    assert result.stopped and result.chain.names == ()


def test_conversation_edit_and_attached_audio(pair):
    dry, ref, sr, _ = pair
    backend = Scripted([Turn("", "", [_call(0, "reverb", mix_ratio=0.1)])])
    current = Chain((tool_call("gain", {"gain_db": -3}), tool_call("reverb", {"mix_ratio": 0.5})))
    result = collect(ChatPlanner(backend, attach_audio=True).plan(dry, ref, sr, instruction="less reverb",
                                                                   chain=current))
    assert result.chain.names == ("gain", "reverb") and result.chain["reverb"]["mix_ratio"] == 0.1
    sent = backend.seen[0][0]  # the chain so far is the conversation's history, the instruction its next turn
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "tool", "user"]
    assert [json.loads(c["function"]["arguments"]) for c in sent[2]["tool_calls"]] == \
        [c["arguments"] for c in current.to_tool_calls()]
    assert sent[-1]["content"].startswith("less reverb\nChange the chain as I asked")
    user = sent[1]["content"]
    assert user[0]["text"].startswith("Estimate the audio effects chain")
    audio = [p for p in user if p["type"] == "input_audio"]
    assert len(audio) == 2 and audio[0]["input_audio"]["format"] == "wav" and len(audio[0]["input_audio"]["data"]) > 1000
    # 16-bit by default (what audio LLMs take); lossless float for llm2fx serve
    wav = base64.b64decode(audio[1]["input_audio"]["data"])
    assert sf.info(io.BytesIO(wav)).subtype == "PCM_16"
    lossless = Scripted([])
    collect(ChatPlanner(lossless, attach_audio=True, audio_subtype="FLOAT").plan(dry, ref, sr))
    part = [p for p in lossless.seen[0][0][1]["content"] if p["type"] == "input_audio"][1]
    back, _ = sf.read(io.BytesIO(base64.b64decode(part["input_audio"]["data"])), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(back.T, ref)
    assert [m["role"] for m in lossless.seen[0][0]] == ["system", "user"]  # no instruction: a first estimate
    assert all(p["input_audio"] == "<omitted>" for p in result.transcript[1]["content"] if p["type"] == "input_audio")


def test_measurement_tools_answer_with_units(pair):
    dry, ref, sr, truth = pair
    tools = MeasurementTools(dry, ref, sr)
    pairwise = tools.call("measure_pair", {})["dry_vs_reference"]
    assert {"loudness_change_lu", "high_band_gain_db", "echo_delay_seconds", "notable_changes"} <= set(pairwise)
    clip = tools.call("measure_clip", {"clip": "dry"})["dry"]
    assert clip["loudness_lufs"] < 0 and "band_1000hz_db" in clip
    exact = tools.call("render_and_compare", {"chain": truth.to_tool_calls()})
    off = tools.call("render_and_compare", {"chain": [{"name": "gain", "arguments": {"gain_db": 6}}]})
    assert exact["mrstft_left"] < 0.01 < off["mrstft_left"]  # the true chain renders the reference
    with pytest.raises(Exception, match="gain.gain_db must be in"):
        tools.call("render_and_compare", {"chain": [{"name": "gain", "arguments": {"gain_db": 60}}]})
    with pytest.raises(Exception, match="measure_pair takes no arguments"):
        tools.call("measure_pair", {"x": 1})
    assert np.isfinite(render(dry, sr, truth)).all()


def test_chat_config_bad_values():
    with pytest.raises(PlannerError, match="max_rounds must be a whole number in"):
        ChatConfig(max_rounds=0)
    with pytest.raises(PlannerError, match="audio_subtype must be one of PCM_16, PCM_24, FLOAT, got 'MP3'"):
        ChatConfig(audio_subtype="MP3")
    with pytest.raises(Exception, match="unknown ChatConfig setting"):
        ChatPlanner(Scripted([]), max_roundz=2)


def test_cli_estimate_with_an_endpoint_key_from_the_environment(pair, tmp_path, monkeypatch, capsys):
    from llm2fx_lab.audio.io import save_audio
    from llm2fx_lab.cli import main

    dry, ref, sr, _ = pair
    save_audio(tmp_path / "dry.wav", dry, sr)
    save_audio(tmp_path / "ref.wav", ref, sr)
    monkeypatch.setenv("CLI_TEST_KEY", SECRET)
    seen = []
    with running(replay_app([fixture("vllm_reasoning_content"), {"chunks": [
            {"choices": [{"index": 0, "delta": {"content": "Done."}, "finish_reason": "stop"}]}]}], seen)) as url:
        code = main(["estimate", str(tmp_path / "dry.wav"), str(tmp_path / "ref.wav"), "--planner", f"llm:m@{url}",
                     "--api-key-env", "CLI_TEST_KEY"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "equalizer" in out and SECRET not in out + err
    assert all(s["headers"]["authorization"] == f"Bearer {SECRET}" for s in seen)
    assert main(["estimate", str(tmp_path / "dry.wav"), str(tmp_path / "ref.wav"), "--api-key-env", "X"]) == 2
    assert "--api-key-env is for a chat LLM at an endpoint" in capsys.readouterr().err


# --- conversation edits with a chat model ----------------------------------------------------

def test_a_model_edit_removes_bypasses_and_moves_with_the_edit_tools(pair):
    dry, ref, sr, _ = pair
    current = Chain((tool_call("equalizer", {"high_gain_db": 8}), tool_call("delay", {"mix_ratio": 0.3}),
                     tool_call("panner", {"pan": -0.5}), tool_call("limiter", bypass=True)))
    backend = Scripted([Turn("", "", [_call(0, "remove_module", module="delay"),
                                      _call(1, "move_module", module="panner", position=1),
                                      _call(2, "remove_module", module="reverb"),
                                      _call(3, "equalizer", high_gain_db=4)]),
                        Turn("", "I removed the delay and moved the panner first.", [])])
    result = collect(ChatPlanner(backend).plan(dry, ref, sr, instruction="no delay, panner first, darker",
                                                chain=current))
    assert result.chain.names == ("panner", "equalizer", "limiter")
    assert result.chain["limiter"].bypass and result.chain["equalizer"]["high_gain_db"] == 4  # the switch is kept
    assert result.response.startswith("Changed: removed delay (was module 2 of 4); swapped equalizer and panner "
                                      "(positions 1 and 3); equalizer.high_gain_db 8 dB -> 4 dB. Chain: panner -> equalizer -> "
                                      "limiter (bypassed). The model said: I removed the delay")
    sent, tools = backend.seen[0]
    assert {"remove_module", "bypass_module", "move_module"} <= {t["function"]["name"] for t in tools}
    assert "module 4 of the chain (bypassed)" in sent[6]["content"]
    errors = [m["content"] for m in backend.seen[1][0] if m["role"] == "tool" and m["content"].startswith("error")]
    assert errors == ["error: module 'reverb' is not in the chain; present: panner, equalizer, limiter"]
    assert any("remove_module" in r for r in result.repairs)
    first = Scripted([])
    collect(ChatPlanner(first).plan(dry, ref, sr))  # a first estimate: no edit tools
    assert not {"remove_module", "move_module"} & {t["function"]["name"] for t in first.seen[0][1]}


def test_a_model_that_claims_an_edit_it_did_not_make_is_contradicted(pair):
    dry, ref, sr, _ = pair
    current = Chain((tool_call("delay", {"mix_ratio": 0.3}),))
    backend = Scripted([Turn("", "Done: I removed the delay.", [])])
    result = collect(ChatPlanner(backend).plan(dry, ref, sr, instruction="remove the delay", chain=current))
    assert result.chain == current
    assert result.response == ("Nothing changed: the model made no change to the chain. The model said: Done: I "
                               "removed the delay.")
    bad = Scripted([Turn("", "", [_call(0, "bypass_module", module="delay", bypass="yes"),
                                  _call(1, "move_module", module="delay", position=5)]), Turn("", "ok", [])])
    result = collect(ChatPlanner(bad).plan(dry, ref, sr, instruction="bypass it", chain=current))
    assert result.chain == current and len(result.repairs) == 2
    replies = [m["content"] for m in bad.seen[1][0] if m["role"] == "tool"][-2:]
    assert replies == ["error: bypass_module's bypass is true or false, got 'yes'",
                       "error: move_module's position is a whole number from 1 to 1, got 5"]
