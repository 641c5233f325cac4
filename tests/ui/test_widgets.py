"""Python-level widget tests: construct each widget alone and the Studio, set traits, simulate
uploads (good, bad, too large), edit the chain, and check that renders, player and plots update."""

import datetime
import io
import json
import threading

import numpy as np
import pytest
import soundfile as sf

from llm2fx_lab.errors import PlannerError
from llm2fx_lab.fx import MODULE_NAMES, Chain, render
from llm2fx_lab.planners import get_planner
from llm2fx_lab.ui import AudioInput, AudioSlot, ChainEditor, Player, ReasoningView, SpectrumView, Studio
from llm2fx_lab.ui._assets import asset, widgets_dir
from tests.ui.scripted import CHAIN, ScriptedPlanner


def upload_value(name: str, data: bytes):
    """What ipywidgets 8 FileUpload.value holds after a browser upload."""
    return ({"name": name, "type": "audio/wav", "size": len(data), "content": memoryview(data),
             "last_modified": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)},)


def wav_file(x: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x.T, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_assets_found():
    assert (widgets_dir() / "chain_editor.js").is_file()
    for name in ("chain_editor.js", "reasoning.js", "player.js", "common.css"):
        assert "export default" in asset(name) or name.endswith(".css")


# --- audio input ---------------------------------------------------------------------------

def test_upload_good_then_bad_keeps_previous_audio(noise, sr):
    slot = AudioSlot("dry")
    seen = []
    slot.on_change(seen.append)
    slot.upload.value = upload_value("noise.wav", wav_file(noise, sr))
    assert slot.audio is not None and slot.audio.shape == (2, sr) and slot.sample_rate == sr
    assert "noise.wav" in slot.info.value and "1.0 s" in slot.info.value and "LUFS" in slot.info.value
    assert slot.error.value == "" and len(seen) == 1
    assert slot.upload.value == ()  # cleared so the same file can be picked again
    before = slot.audio
    slot.upload.value = upload_value("broken.wav", b"RIFF\x00\x00not audio at all")
    assert slot.audio is before and len(seen) == 1
    assert "broken.wav" in slot.error.value and "previous audio (noise.wav) is kept" in slot.error.value
    slot.upload.value = upload_value("notes.txt", b"hello")
    assert "unsupported extension" in slot.error.value and slot.audio is before


def test_upload_size_limit(noise, sr):
    slot = AudioSlot("reference", max_upload_bytes=1000)
    slot.upload.value = upload_value("big.wav", wav_file(noise, sr))
    assert slot.audio is None
    assert "upload limit is" in slot.error.value and "big.wav" in slot.error.value


def test_audio_input_examples_and_no_dry():
    inputs = AudioInput()
    changes = []
    inputs.on_change(lambda: changes.append(1))
    inputs.load_example("bass")
    dry, ref, sr = inputs.pair()
    assert dry.shape == ref.shape and sr == 44100 and not np.allclose(dry, ref)
    inputs.no_dry.value = True
    assert inputs.pair()[0] is None and inputs.dry.layout.display == "none"
    inputs.reference.example.value = "piano"
    assert "piano (demo chain)" in inputs.reference.info.value
    assert len(changes) == 3


# --- chain editor --------------------------------------------------------------------------

def test_chain_editor_edits_and_history():
    ed = ChainEditor(CHAIN)
    changes = []
    ed.on_change(lambda chain, kind: changes.append(kind))
    assert [c["name"] for c in ed.chain] == list(CHAIN.names)
    assert len(ed.toolset) == 9 and ed.has_estimate is False
    ed.edit("set_param", module="compressor", param="ratio", value=8)
    assert ed.value["compressor"]["ratio"] == 8.0 and ed.can_undo
    ed.edit("move", module="limiter", index=0)
    assert ed.value.names[0] == "limiter" and ed.chain[0]["name"] == "limiter"
    ed.edit("bypass", module="reverb", value=True)
    assert ed.value["reverb"].bypass
    ed.edit("remove", module="equalizer")
    assert "equalizer" not in ed.value
    ed.edit("add", module="panner")
    assert ed.value.names[-1] == "panner"
    ed.edit("undo"); ed.edit("undo")
    assert "equalizer" in ed.value and "panner" not in ed.value and ed.can_redo
    ed.edit("redo")
    assert "equalizer" not in ed.value
    assert changes == ["set_param", "move", "bypass", "remove", "add", "undo", "undo", "redo"]
    assert Chain.from_json(ed.json_text) == ed.value
    ns = {}
    exec(ed.python_text, ns)
    assert ns["chain"] == ed.value


def test_chain_editor_slider_drag_is_one_undo_step_and_resets():
    ed = ChainEditor()
    ed.set_estimate(CHAIN)
    assert ed.has_estimate and ed.value == CHAIN
    for v in (-30, -32, -34):
        ed.edit("set_param", module="compressor", param="threshold_db", value=v, final=False)
    ed.edit("set_param", module="compressor", param="threshold_db", value=-35, final=True)
    assert ed.value["compressor"]["threshold_db"] == -35
    ed.edit("undo")
    assert ed.value == CHAIN
    ed.edit("set_param", module="gain" if "gain" in CHAIN else "limiter", param="threshold_db", value=-6)
    ed.edit("reset_module", module="limiter")
    assert ed.value == CHAIN
    ed.edit("set_param", module="reverb", param="mix_ratio", value=0.9)
    ed.edit("reset_all")
    assert ed.value == CHAIN


def test_chain_editor_bad_edits_show_inline_errors():
    ed = ChainEditor(CHAIN)
    ed.edit("set_param", module="compressor", param="ratio", value=0.5)
    assert "compressor.ratio must be in [1, 20], got 0.5" in ed.error and ed.value == CHAIN
    ed.edit("set_param", module="compressor", param="ratio", value=None)
    assert "enter a number" in ed.error
    ed.edit("add", module="compressor")
    assert "already in the chain" in ed.error
    ed.edit("set_param", module="compressor", param="ratio", value=3)
    assert ed.error == ""
    ed.edit("reset_all")
    ed2 = ChainEditor()
    ed2.edit("reset_all")
    assert "no planner estimate" in ed2.error
    ed2.edit("frobnicate")
    assert "unknown chain edit" in ed2.error


def test_chain_editor_can_add_every_module():
    ed = ChainEditor()
    for name in MODULE_NAMES:
        ed.edit("add", module=name)
    assert ed.value.names == MODULE_NAMES and ed.error == ""


# --- reasoning -----------------------------------------------------------------------------

def test_reasoning_view_streams_by_step(noise, sr):
    view = ReasoningView(ScriptedPlanner())
    finals = []
    view.on_final(lambda final, turn: finals.append(final))
    assert view.run(noise, noise, sr) is not None
    assert view.status == "running"
    assert view.wait(10)
    assert view.status == "done" and finals[0].chain == CHAIN
    assert [s["step"] for s in view.steps] == ["selection", "order", "parameters", "refinement"]
    assert "equalizer" in view.steps[0]["text"]
    assert [c["name"] for c in view.tool_calls] == list(CHAIN.names)
    assert view.response.startswith("Done") and view.tokens > 10
    assert view.first_token_seconds >= 0 and view.tokens_per_second > 0
    assert len(view.turns) == 1 and view.turns[0]["done"]


def test_reasoning_view_shows_measurement_calls_inline_and_checks_the_prose(sr):
    from llm2fx_lab.events import Final, Measurement, Thinking, Timings
    from llm2fx_lab.planners.chat import MeasurementTools

    dry, ref = 0.1 * np.random.default_rng(3).standard_normal((2, sr)).astype(np.float32), None
    ref = 0.5 * dry  # 6 dB quieter
    tools = MeasurementTools(dry, ref, sr)

    class Chatty:
        name = "chatty"

        def plan(self, dry, reference, sample_rate, instruction=None, stop=None):
            yield Thinking("I measure first.\n", "selection")
            yield Measurement("measure_pair", {}, tools.call("measure_pair", {}))
            yield Measurement("measure_clip", {"clip": "wet"}, None, "measure_clip takes {\"clip\": ...}")
            text = "The reference is quieter, and there is no reverb.\n"
            yield Thinking(text, "selection")
            yield Final(Chain(), "I measure first.\n" + text, "A gain.", Timings(0.0, 0.1), planner="chatty")

    view = ReasoningView(Chatty())
    view.run(dry, ref, sr)
    assert view.wait(10) and view.status == "done", view.error
    assert [s["step"] for s in view.steps] == ["selection", "measurement", "measurement", "selection"]
    pair, clip = view.steps[1]["text"], view.steps[2]["text"]  # each call in its own block, in order
    assert pair.startswith("measure_pair()") and "quieter" in pair  # the call and its notable result
    assert clip.startswith("measure_clip(clip='wet'): error: measure_clip takes")
    assert [(c["text"], c["verdict"]) for c in view.claims] == [("quieter", "confirmed"),
                                                                ("no reverb", "confirmed")]
    assert view.claims_summary.startswith("2 claims found, 2 checked against the measurements: 2 confirmed")


def test_reasoning_view_stop(noise, sr):
    view = ReasoningView(ScriptedPlanner(delay_seconds=0.2))
    view.run(noise, noise, sr)
    view._on_front_end_msg(view, {"op": "stop"}, [])
    assert view.wait(10) and view.status == "stopped"


def test_reasoning_view_errors_inline(noise, sr):
    view = ReasoningView()
    assert view.run(noise, noise, sr) is None and "no planner" in view.error and not view.can_plan
    view.planner = object()  # the inputs are set: a planner is all it lacked
    assert view.can_plan
    view.planner = None
    assert not view.can_plan

    class Broken:
        name = "broken"

        def plan(self, *a, **k):
            yield from ()
            raise RuntimeError("model exploded")

    view.run(noise, noise, sr, planner=Broken())
    view.wait(10)
    assert view.status == "error" and "model exploded" in view.error and view.turns == []


# --- player and plots ----------------------------------------------------------------------

def test_player_sends_audio_lazily_and_matches_loudness(noise, sr):
    p = Player()
    p.set_source("dry", noise, sr)
    p.set_source("render", noise * 2, sr)
    assert p.versions["dry"] == 1 and p.dry_wav == b"" and p.render_wav == b""
    assert p.gains_db["render"] == pytest.approx(-6.02, abs=0.05) and p.gains_db["dry"] == 0
    sent = p.load("render")
    assert sent == len(p.render_wav) == 44 + 4 * sr and p.sent["render"] == 1
    assert p.load("render") == 0  # not resent while unchanged
    p._on_front_end_msg(p, {"op": "load", "key": "dry"}, [])
    assert p.sent["dry"] == 1
    stages = [("input", noise), ("gain", noise * 2)]
    p.set_stages(stages, sr)
    p.stage = 0
    assert p.labels["render"] == "After input" and p.audio("render") is noise and p.versions["render"] == 2
    p.stage = -1
    assert p.labels["render"] == "Render" and np.allclose(p.audio("render"), noise * 2)


def test_spectrum_view_updates(noise, sr):
    view = SpectrumView(sr)
    view.set_audio("dry", noise, sr)
    assert len(view.figure.data[0].y) == len(view.freqs_hz)
    view.set_chain(Chain.from_tool_calls([{"name": "equalizer", "arguments": {"mid_gain_db": 6}}]), sr)
    assert max(view.figure.data[3].y) == pytest.approx(6.0, abs=0.1)
    view.set_chain(Chain(), sr)
    assert len(view.figure.data[3].y) == 0


# --- the studio ----------------------------------------------------------------------------

def test_studio_plans_renders_and_updates_everything(studio):
    dry, _ref, sr = studio.inputs.pair()
    assert studio.output().shape == (2, dry.shape[1] + sr // 2)
    np.testing.assert_array_equal(studio.output()[:, : dry.shape[1]], dry)  # empty chain
    studio.plan()
    assert studio.wait(30) and studio.reasoning.status == "done"
    assert studio.chain == CHAIN and studio.editor.has_estimate
    np.testing.assert_allclose(studio.output(), render(dry, sr, CHAIN, tail_seconds=0.5), atol=1e-6)
    spectrum_before = list(studio.plots.spectrum.figure.data[2].y)
    version = studio.player.versions["render"]
    studio.editor.edit("set_param", module="equalizer", param="high_gain_db", value=-10)
    assert studio.wait_render(30)
    assert studio.last_render.recomputed == len(CHAIN)
    assert list(studio.plots.spectrum.figure.data[2].y) != spectrum_before
    assert studio.player.versions["render"] > version and studio.player.render_wav == b""
    studio.editor.edit("set_param", module="limiter", param="threshold_db", value=-6)
    assert studio.wait_render(30) and studio.last_render.recomputed == 1
    np.testing.assert_allclose(studio.output(), render(dry, sr, studio.chain, tail_seconds=0.5), atol=1e-6)
    assert "recomputed" in studio.status.value and studio.error.value == ""
    assert studio.player.stages == ["input", *CHAIN.names]


def test_studio_conversation_turn_and_undo(studio):
    studio.plan()
    studio.wait(30)
    mix = studio.chain["reverb"]["mix_ratio"]
    studio.reasoning._on_front_end_msg(studio.reasoning, {"op": "instruct", "text": "less reverb"}, [])
    assert studio.wait(30)
    assert studio.chain["reverb"]["mix_ratio"] == pytest.approx(mix / 2)
    assert [t["instruction"] for t in studio.reasoning.turns] == ["(first estimate)", "less reverb"]
    studio.reasoning._on_front_end_msg(studio.reasoning, {"op": "undo_turn", "index": 1}, [])
    studio.wait_render(30)
    assert studio.chain == CHAIN and studio.reasoning.turns[1]["undone"]


def test_studio_blind_and_backend(studio):
    studio.inputs.no_dry.value = True
    assert studio.output() is None and "blind" in studio.status.value
    studio.plan()
    assert studio.wait(30) and studio.chain == CHAIN  # the planner ran on the reference alone
    studio.inputs.no_dry.value = False
    studio.wait_render(30)
    assert studio.output() is not None
    torch_option = [v for _label, v in studio.backend.options if v[0] == "torch"]
    if torch_option:
        studio.backend.value = torch_option[0]
        assert studio.wait_render(60)
        assert studio.error.value == "" and "torch" in studio.status.value


def test_studio_without_planner_says_how_to_get_one(monkeypatch):
    monkeypatch.delenv("LLM2FX_PLANNER", raising=False)
    s = Studio(example="drums")
    s.reasoning.planner = None  # the studio always starts with one; its reasoning view can lose it
    s.plan()
    assert "no planner" in s.reasoning.error


def test_studio_default_planner_from_registry():
    s = Studio()
    assert s.planner is not None and s.reasoning.can_plan is False  # no audio yet
    s.load_example("guitar")
    assert s.reasoning.can_plan


def test_studio_planner_menu_follows_the_planner_given(monkeypatch):
    from llm2fx_lab.planners.registry import planner_choices

    monkeypatch.delenv("LLM2FX_PLANNER", raising=False)
    keys = [c.key for c in planner_choices()]
    s = Studio()  # the default planner's entry
    assert [v for _label, v in s.planner_menu.options] == [*keys, "endpoint"] and "analysis" in keys
    assert s.planner_menu.value == s.planner.name and not s.refine_box.value
    s = Studio(planner="analysis+refine")  # a registry name: its entry and the refine box
    assert (s.planner_menu.value, s.refine_box.value, s.planner.name) == ("analysis", True, "analysis+refine")
    scripted = ScriptedPlanner()
    s = Studio(planner=scripted)  # a planner object: listed first as "custom"
    assert s.planner_menu.options[0] == ("custom: scripted (test double)", "custom")
    assert s.planner_menu.value == "custom" and s.planner is scripted
    s.planner = "analysis"  # the setter moves the menu too, and keeps the custom entry
    assert s.planner_menu.value == "analysis" and s.planner_menu.options[0][1] == "custom"


def test_studio_planner_menu_switches_planners_and_refinement(studio):
    scripted = studio.planner
    studio.planner_menu.value = "analysis"
    assert studio.planner.name == "analysis" and studio.planner_error.value == ""
    studio.refine_box.value = True
    assert studio.planner.name == "analysis+refine" and studio.planner.planner.name == "analysis"
    studio.planner_menu.value = "custom"  # back to the planner given in code, refined as the box says
    assert studio.planner.name == "scripted (test double)+refine" and studio.planner.planner is scripted
    studio.refine_box.value = False
    assert studio.planner is scripted
    studio.plan()
    assert studio.wait(30) and studio.reasoning.planner_name == "scripted (test double)"
    assert studio.chain == CHAIN


def test_studio_endpoint_entry_plans_with_a_chat_llm_and_never_holds_the_key(studio, monkeypatch):
    from tests._servers import replay_app, running

    secret = "sk-studio-0c9e4b7a1d"
    monkeypatch.setenv("STUDIO_TEST_KEY", secret)
    answer = {"chunks": [
        {"choices": [{"index": 0, "delta": {"reasoning_content": "1. Selection: the reference is quieter."},
                      "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "a", "type": "function", "function": {
            "name": "gain", "arguments": '{"gain_db": -6}'}}]}, "finish_reason": "tool_calls"}]}]}
    done = {"chunks": [{"choices": [{"index": 0, "delta": {"content": "A gain."}, "finish_reason": "stop"}]}]}
    seen = []
    with running(replay_app([answer, done], seen, models=["qwen3:8b"])) as url:
        studio.planner_menu.value = "endpoint"  # the fields open; nothing changes yet
        assert studio.endpoint_box.layout.display == "flex" and studio.planner.name == "scripted (test double)"
        studio.endpoint_url.value, studio.endpoint_model.value = url, "qwen3:8b"
        studio.endpoint_key_env.value = "NOT_SET_ANYWHERE"
        studio._on_endpoint()  # a key variable that is not set: one line, the planner stays
        assert "NOT_SET_ANYWHERE that should hold the API key is not set" in studio.planner_error.value
        studio.endpoint_model.value = "no-such-model"
        studio.endpoint_key_env.value = "STUDIO_TEST_KEY"
        studio._on_endpoint()  # a model the server does not list: a note (llama.cpp takes any name)
        assert "lists qwen3:8b; the model no-such-model is not among them" in studio.planner_error.value
        assert studio.endpoint_box.layout.display == "flex" and studio.planner.name == f"llm:no-such-model@{url}"
        studio.endpoint_model.value = "qwen3:8b"
        studio._on_endpoint()
        assert studio.planner_error.value == "" and studio.endpoint_box.layout.display == "none"
        assert studio.planner.name == f"llm:qwen3:8b@{url}" and studio.planner_menu.value == "custom"
        studio.plan()
        assert studio.wait(60) and studio.reasoning.status == "done", studio.reasoning.error
    assert studio.chain.names == ("gain",) and studio.chain["gain"]["gain_db"] == -6
    assert any("the reference is quieter" in step["text"] for step in studio.reasoning.steps)
    assert studio.reasoning.response == "A gain." and studio.reasoning.claims  # the claim checker ran on it
    assert all(h["headers"]["authorization"] == f"Bearer {secret}" for h in seen)
    def states(widget):  # what a notebook saves of the studio: every widget's synced state
        yield widget.get_state()
        for child in getattr(widget, "children", ()):
            yield from states(child)

    everything = repr(list(states(studio)))
    assert "STUDIO_TEST_KEY" in everything  # the variable's name is there, its value is not
    assert secret not in everything and secret not in json.dumps(studio.reasoning.turns)


def test_studio_planner_menu_mini_entries():
    from llm2fx_lab.planners import mini_available

    assert mini_available(), "the llm2fx-mini weights ship with the package"
    s = Studio()
    s.planner_menu.value = "mini-guided"
    assert s.planner.name == "mini-guided" and s.planner._model.options == {"presence_guide": True}
    s.pick_planner("mini", refine=True)
    assert s.planner.name == "mini+refine" and s.planner.planner._model.options == {}
    assert (s.planner_menu.value, s.refine_box.value) == ("mini", True)


def test_studio_planner_menu_bad_picks(studio, monkeypatch):
    from llm2fx_lab.planners import PlannerError, registry

    with pytest.raises(PlannerError, match="no planner 'nope' in the menu; allowed: analysis"):
        studio.pick_planner("nope")
    # a planner that cannot load: the error is shown and the menu stays on the planner in use
    scripted = studio.planner

    def broken(self, refine=False):
        raise PlannerError(f"no weights for {self.key} (test)")

    monkeypatch.setattr(registry.PlannerChoice, "make", broken)
    studio.planner_menu.value = "analysis"
    assert "no weights for analysis (test)" in studio.planner_error.value
    assert studio.planner is scripted and studio.planner_menu.value == "custom"
    # no switch while a plan is streaming
    monkeypatch.undo()
    studio.planner = ScriptedPlanner(delay_seconds=0.05)
    studio.plan()
    studio.planner_menu.value = "analysis"
    assert "still running" in studio.planner_error.value and studio.planner_menu.value == "custom"
    studio.reasoning.stop()
    assert studio.wait(30)


def test_worker_thread_does_not_block_the_kernel(studio):
    slow = ScriptedPlanner(delay_seconds=0.05)
    studio.planner = slow
    studio.plan()
    assert studio.reasoning.running  # returned at once, streaming in the background
    assert threading.current_thread() is threading.main_thread()
    studio.reasoning.stop()
    assert studio.wait(30) and studio.reasoning.status == "stopped"


def test_spectrum_view_follows_the_sample_rate(sr):
    from tests.conftest import sine

    view = SpectrumView(44100)
    view.set_sample_rate(22050)
    view.set_audio("dry", sine(3000.0, 1.0, 0.5, sr=22050), 22050)
    assert view.freqs_hz[-1] < 11025 and len(view.figure.data[0].x) == len(view.figure.data[0].y)
    assert abs(view.freqs_hz[int(np.argmax(view.figure.data[0].y))] - 3000) < 150


def _record_phases(studio):
    events = []
    studio.on_render(lambda phase, chain: events.append(
        (phase, chain, list(studio.plots.spectrum.figure.data[2].y), studio.plots.spectrum.figure.data[2].name)))
    return events


def test_studio_edit_previews_then_renders_in_full(studio):
    from llm2fx_lab.analysis.plot_data import band_levels_db, log_frequencies

    dry, _ref, sr = studio.inputs.pair()
    studio.chain = CHAIN
    assert studio.wait_render(30)
    events = _record_phases(studio)
    studio.editor.edit("set_param", module="equalizer", param="high_gain_db", value=-8, final=False)
    assert studio.wait_render(30)
    edited = CHAIN.with_params("equalizer", high_gain_db=-8)
    assert [(e[0], e[1]) for e in events] == [("preview", edited), ("full", edited)]
    assert events[0][3] == "render (preview)" and events[1][3] == "render" and not studio.previewing
    assert studio.timings["preview"] < studio.timings["full"]
    # After phase 2 the plotted spectrum is exactly the full render's.
    freqs = log_frequencies(sr, len(studio.plots.spectrum.freqs_hz))
    full = render(dry, sr, edited, tail_seconds=0.5)
    np.testing.assert_allclose(studio.output(), full, atol=1e-6)
    expected = np.round(band_levels_db(full, sr, freqs), 2)
    np.testing.assert_allclose(events[1][2], expected, atol=0.011)
    # The phase-1 estimate (2.5 s window, 1 s pre-roll) is close: measured ~0.2-0.5 dB median.
    assert np.median(np.abs(np.subtract(events[0][2], events[1][2]))) <= 1.0
    assert studio.player.stages == ["input", *CHAIN.names]


def test_studio_preview_is_close_on_compressor_and_reverb_edits(studio):
    dry, _ref, sr = studio.inputs.pair()
    studio.chain = CHAIN
    assert studio.wait_render(30)
    events = _record_phases(studio)
    for module, param, value in (("compressor", "threshold_db", -40), ("reverb", "mix_ratio", 0.6)):
        events.clear()
        studio.editor.edit("set_param", module=module, param=param, value=value, final=True)
        assert studio.wait_render(30)
        assert [e[0] for e in events] == ["preview", "full"]
        assert np.median(np.abs(np.subtract(events[0][2], events[1][2]))) <= 1.0


def test_studio_newest_edit_wins(studio):
    dry, _ref, sr = studio.inputs.pair()
    studio.chain = CHAIN
    assert studio.wait_render(30)
    events = _record_phases(studio)
    for value in range(-10, 11, 2):  # a slider drag, faster than the debounce
        studio.editor.edit("set_param", module="equalizer", param="low_gain_db", value=value, final=value == 10)
    assert studio.wait_render(30)
    final = studio.chain
    assert final["equalizer"]["low_gain_db"] == 10
    full = [e[1] for e in events if e[0] == "full"]
    assert full[-1] == final and len(full) < 11 and events[-1][0] == "full"
    np.testing.assert_allclose(studio.output(), render(dry, sr, final, tail_seconds=0.5), atol=1e-6)
    assert not studio.previewing


def test_studio_without_preview_renders_once_per_edit(studio):
    studio.preview = False
    studio.chain = CHAIN
    assert studio.wait_render(30)
    events = _record_phases(studio)
    studio.editor.edit("set_param", module="limiter", param="threshold_db", value=-6)
    assert studio.wait_render(30)
    assert [e[0] for e in events] == ["full"]


def test_studio_endpoint_audio_choice_reaches_the_planner(studio):
    from llm2fx_lab.server import ServeConfig, create_app
    from tests._servers import running

    with running(create_app(ServeConfig(planners=("analysis",)))) as url:
        studio.planner_menu.value = "endpoint"
        studio.endpoint_url.value, studio.endpoint_model.value, studio.endpoint_key_env.value = url, "analysis", ""
        seen = {}
        for choice in ("none", "inline", "upload"):
            studio.endpoint_audio.value = choice
            studio._on_endpoint()
            assert studio.planner_error.value == "", studio.planner_error.value
            config = studio.planner.config
            seen[choice] = (config.attach_audio, config.upload_audio)
    assert seen == {"none": (False, False), "inline": (True, False), "upload": (False, True)}


def test_studio_style_switch_puts_the_planner_in_style_mode_and_offers_it_for_different_recordings(studio):
    from tests._pairs import noise_bursts

    scripted = studio.planner
    studio.style_box.value = True
    assert studio.planner.name == "scripted (test double)+style" and studio.planner.planner is scripted
    studio.refine_box.value = True  # the box ticked last wins: refinement, not style mode
    assert studio.planner.name == "scripted (test double)+refine" and not studio.style_box.value
    studio.style_box.value = True
    assert studio.planner.name == "scripted (test double)+style" and not studio.refine_box.value
    with pytest.raises(PlannerError, match="replaces refinement"):
        studio.pick_planner("analysis", refine=True, style=True)
    studio.pick_planner("analysis", style=True)
    assert studio.planner.name == "analysis+style"

    mine, theirs = noise_bursts(11, seconds=4.0), noise_bursts(21, seconds=4.0)
    studio.inputs.dry.set_audio(mine, 44100, "mine.wav")
    studio.inputs.reference.set_audio(theirs, 44100, "theirs.wav")
    assert "do not seem to hold the same recording" in studio.content_note.value
    studio.planner = get_planner("analysis", style=True, style_options={"budget_seconds": 2})
    assert studio.style_box.value and studio.planner_menu.value == "custom"
    studio.plan()
    assert studio.wait(60) and len(studio.chain) and studio.reasoning.planner_name == "analysis+style"
    studio.inputs.reference.set_audio(mine * 0.5, 44100, "mine-quieter.wav")
    assert studio.content_note.value == ""


def test_studio_presets_save_list_load_and_import_with_inline_errors(studio, tmp_path, monkeypatch):
    from llm2fx_lab.fx.chain import tool_call

    monkeypatch.setenv("LLM2FX_PRESETS_DIR", str(tmp_path))
    panel = studio.presets
    assert panel.refresh() == []
    studio.chain = Chain((tool_call("equalizer", {"high_gain_db": 4}), tool_call("gain", {"gain_db": -2})))
    saved = studio.chain
    panel.name.value = "bright"
    panel.save_button.click()
    assert panel.menu.options == ("bright",) and "saved preset 'bright'" in panel.message.value
    studio.chain = Chain((tool_call("delay", {"mix_ratio": 0.3}),))
    panel.save_button.click()  # the same name again: asks before replacing
    assert panel.replace_button.layout.display == "" and "Press Replace" in panel.message.value
    assert Chain.from_json((tmp_path / "bright.json").read_text()) == saved
    panel.load_button.click()
    assert studio.chain == saved
    studio.editor.edit("undo")  # loading was one step: the hand edit before it is back
    assert studio.chain.names == ("delay",)
    panel.paste.value = '[{"name": "flanger", "arguments": {}}]'
    panel.import_button.click()
    assert "flanger" in panel.message.value and "role='alert'" in panel.message.value
    assert studio.chain.names == ("delay",)  # a bad import changes nothing
    panel.paste.value = json.dumps([{"name": "panner", "arguments": {"pan": 0.5}}])
    panel.import_button.click()
    assert studio.chain.names == ("panner",)
    panel.name.value = "../oops"
    panel.save_button.click()
    assert "not allowed" in panel.message.value and panel.menu.options == ("bright",)
    panel.delete_button.click()
    assert panel.menu.options == () and not (tmp_path / "bright.json").exists()


def test_preset_panel_takes_an_uploaded_chain_file_and_refuses_a_bad_one(tmp_path):
    from llm2fx_lab.ui.presets import PresetPanel

    got = []
    panel = PresetPanel(lambda: Chain(()), got.append, folder=tmp_path)
    panel._on_upload({"new": [{"name": "mine.json", "content": b'[{"name": "gain", "arguments": {"gain_db": 3}}]'}]})
    assert [c.names for c in got] == [("gain",)] and "imported mine.json" in panel.message.value
    panel._on_upload({"new": [{"name": "bad.json", "content": b"\xff\xfe not json"}]})
    assert len(got) == 1 and "not UTF-8" in panel.message.value
    panel._on_upload({"new": [{"name": "big.json", "content": b" " * 70000}]})
    assert len(got) == 1 and "at most 65536 bytes" in panel.message.value
    panel.load(None)
    assert "no preset chosen" in panel.message.value
