"""The player's timeline (pictures, preview patches, playhead, loop, keys), the microphone
recorder and the studio's help, on the Python side (the browser side: test_browser.py)."""

import io

import numpy as np
import pytest
import soundfile as sf

from llm2fx_lab.analysis.plot_data import spectrogram_data
from llm2fx_lab.errors import ParameterError
from llm2fx_lab.ui import AudioInput, Player
from llm2fx_lab.ui.listening import SHORTCUTS
from llm2fx_lab.ui.recorder import Recorder
from llm2fx_lab.ui.studio import help_html
from llm2fx_lab.ui.timeline import TimelineConfig, timeline, timeline_patch
from tests.conftest import sine
from tests.ui.scripted import CHAIN


def _spec(t, meta=None):
    meta = meta or t.meta
    return np.frombuffer(t.spectrogram, np.uint8).reshape(meta["freqs"], -1)


def _wave(t):
    return np.frombuffer(t.wave, np.int8).reshape(2, -1)


def _wav(x: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x.T if x.ndim == 2 else x, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


# --- pictures ----------------------------------------------------------------------------

def test_timeline_pictures_show_where_and_what_frequency_the_sound_is(sr):
    # 1 s of silence, then 1 s of a 1 kHz tone at -6 dBFS, then silence.
    x = np.zeros((2, 3 * sr), np.float32)
    x[:, sr: 2 * sr] = sine(1000.0, 1.0, 0.5)
    t = timeline(x, sr)
    spec, wave, meta = _spec(t), _wave(t), t.meta
    assert meta["seconds"] == 3.0 and spec.shape == (128, meta["columns"]) and meta["columns"] <= 400
    assert len(t.spectrogram) + len(t.wave) < 60_000
    times = (np.arange(meta["columns"]) + 0.5) * meta["hop_seconds"]
    tone = (times > 1.1) & (times < 1.9)
    quiet = (times < 0.9) | (times > 2.1)
    freqs = np.geomspace(meta["low_hz"], meta["high_hz"], meta["freqs"])
    peak_hz = freqs[np.argmax(spec[:, tone].mean(axis=1))]
    assert abs(np.log2(peak_hz / 1000.0)) < 0.1
    assert spec[:, quiet].max() == 0 and spec[:, tone].max() > 200
    # the waveform: min and max per column, +-0.5 -> +-64 of 127
    col_t = (np.arange(meta["wave_columns"]) + 0.5) * meta["wave_seconds"]
    assert np.all(wave[:, (col_t < 0.95)] == 0)
    mid = (col_t > 1.1) & (col_t < 1.9)
    assert abs(int(wave[1, mid].max()) - 64) <= 1 and abs(int(wave[0, mid].min()) + 64) <= 1


def test_timeline_levels_share_one_scale_so_sources_compare(noise, sr):
    cfg = TimelineConfig()
    loud, soft = _spec(timeline(noise, sr)), _spec(timeline(noise * 10 ** (-12 / 20), sr))
    step_db = (cfg.top_db - cfg.floor_db) / 255
    inside = (loud > 40) & (loud < 250)
    assert abs(np.median(loud[inside].astype(int) - soft[inside]) * step_db - 12) < 0.5
    # the same cells as the analysis spectrogram, quantised
    ref = spectrogram_data(noise, sr, cfg.spectrogram_columns, cfg.spectrogram_freqs).level_db
    expected = np.clip(np.round((ref - cfg.floor_db) * 255 / (cfg.top_db - cfg.floor_db)), 0, 255)
    np.testing.assert_array_equal(loud, expected)


def test_timeline_patch_is_exactly_the_columns_of_the_full_picture(sr):
    rng = np.random.default_rng(1)
    x = (0.2 * rng.standard_normal((2, 5 * sr)) * np.linspace(0, 1, 5 * sr)).astype(np.float32)
    full = timeline(x, sr)
    a, b = int(1.3 * sr), int(3.8 * sr)
    patch = timeline_patch(x[:, a:b], a, x.shape[1], sr)
    m = patch.meta
    assert m["count"] > 50 and m["wave_count"] > 100
    t0, t1 = m["first"] * full.meta["hop_seconds"], (m["first"] + m["count"]) * full.meta["hop_seconds"]
    assert 1.3 <= t0 < 1.4 and 3.7 < t1 <= 3.8
    np.testing.assert_array_equal(_spec(patch, full.meta), _spec(full)[:, m["first"]: m["first"] + m["count"]])
    np.testing.assert_array_equal(_wave(patch), _wave(full)[:, m["wave_first"]: m["wave_first"] + m["wave_count"]])
    # at the clip's ends, columns are exact too (silence beyond them)
    head = timeline_patch(x[:, : sr], 0, x.shape[1], sr)
    assert head.meta["first"] == 0
    np.testing.assert_array_equal(_spec(head, full.meta), _spec(full)[:, : head.meta["count"]])
    # a window narrower than one column updates nothing
    assert timeline_patch(x[:, a: a + 100], a, x.shape[1], sr) is None


def test_timeline_config_checks_its_values():
    with pytest.raises(ParameterError, match="spectrogram_columns in \\[16, 4000\\]"):
        TimelineConfig(spectrogram_columns=2)
    with pytest.raises(ParameterError, match="floor_db must be below top_db"):
        TimelineConfig(floor_db=0, top_db=-10)


# --- the player --------------------------------------------------------------------------

def test_player_sends_pictures_with_each_source_and_drops_them_with_it(noise, sr):
    p = Player()
    p.set_source("dry", noise, sr)
    assert p.timeline["dry"]["seconds"] == 1.0 and len(p.dry_spec) == 128 * p.timeline["dry"]["columns"]
    assert len(p.dry_wave) == 2 * p.timeline["dry"]["wave_columns"] and p.render_spec == b""
    p.set_source("dry", None)
    assert p.timeline["dry"] is None and p.dry_spec == b"" and p.dry_wave == b""
    assert Player(timeline_config=None).timeline == {}


def test_player_preview_patch_goes_out_as_one_small_message(noise, sr):
    p = Player()
    x = np.concatenate([noise] * 4, axis=1)
    p.set_source("render", x, sr)
    sent = []
    p.send = lambda msg, buffers=None: sent.append((msg, buffers))
    edited = x[:, sr: 3 * sr] * 0.5
    n = p.show_preview(edited, sr, sr)
    (msg, (spec, wave)), = sent
    assert msg["op"] == "patch" and msg["key"] == "render" and msg["version"] == p.versions["render"]
    assert n == len(spec) + len(wave) < 30_000 and len(spec) == 128 * msg["count"]
    expected = timeline_patch(edited, sr, x.shape[1], sr)
    assert spec == expected.spectrogram and wave == expected.wave
    # nothing to patch while a stage (not the full chain) is being heard
    p.set_stages([("input", x), ("gain", x)], sr)
    p.stage = 0
    assert p.show_preview(edited, sr, sr) == 0 and len(sent) == 1


def test_player_loop_seek_and_view_are_checked(noise, sr):
    p = Player()
    sent = []
    p.send = lambda msg, buffers=None: sent.append(msg)
    p.set_loop(1.0, 2.5)
    assert p.loop_seconds == [1.0, 2.5]
    for bad in ((2.0, 1.0), (-1.0, 1.0), (1.0, 1.01), (1.0, None), (float("nan"), 2.0)):
        with pytest.raises(ParameterError, match="a loop region is \\[start, end\\] seconds"):
            p.set_loop(*bad)
    assert p.loop_seconds == [1.0, 2.5]
    p.loop_seconds = [3.0, 1.0]   # what a bad value from the front-end or code does: refused inline
    assert p.loop_seconds == [1.0, 2.5] and "a loop region is [start, end] seconds" in p.error
    p.set_loop(None)
    assert p.loop_seconds == []
    p.seek(2.5)
    assert p.position_seconds == 2.5 and sent[-1] == {"op": "seek", "seconds": 2.5}
    with pytest.raises(ParameterError, match="seek position must be a time >= 0 s"):
        p.seek(-1)
    p.view = "waterfall"
    assert p.view == "stack" and "timeline view must be one of stack, difference" in p.error
    p.view = "difference"
    assert p.view == "difference"


def test_shortcuts_are_unique_and_all_in_the_studio_help():
    keys = [k for k, _a, _w in SHORTCUTS]
    actions = [a for _k, a, _w in SHORTCUTS]
    assert len(set(keys)) == len(keys) and len(set(actions)) == len(actions)
    assert {"play", "dry", "reference", "render"} <= set(actions)
    text = help_html()
    for _k, _a, what in SHORTCUTS:
        assert what in text
    assert "<kbd>Space</kbd>" in text and "<kbd>Esc</kbd>" in text and "<kbd>1</kbd>" in text
    player_js = (Player._esm if isinstance(Player._esm, str) else "")
    for action in actions:   # every action the table names has a handler in the front-end
        assert f"{action}:" in player_js or f"{action}: " in player_js


# --- the studio ----------------------------------------------------------------------------

def test_studio_edit_patches_the_timeline_under_the_playhead(studio):
    dry, _ref, sr = studio.inputs.pair()
    studio.chain = CHAIN
    assert studio.wait_render(30)
    spec_before = studio.player.render_spec
    sent = []
    send = studio.player.send
    studio.player.send = lambda msg, buffers=None: (sent.append((msg, buffers)), send(msg, buffers))
    studio.player.position_seconds = 7.0      # the browser reports the playhead
    assert studio.preview_center_seconds == 7.0
    studio.editor.edit("set_param", module="equalizer", param="high_gain_db", value=-12, final=False)
    assert studio.wait_render(30)
    patches = [(m, b) for m, b in sent if m["op"] == "patch"]
    assert len(patches) == 1
    msg, (spec, _wave) = patches[0]
    hop = studio.player.timeline["render"]["hop_seconds"]
    assert msg["first"] * hop < 7.0 < (msg["first"] + msg["count"]) * hop   # centred on the playhead
    # the full render then replaced the whole picture; the patch (rendered from 1 s of pre-roll,
    # so dynamics and reverb state are close, not equal) was all but its columns
    assert studio.player.render_spec != spec_before
    full = np.frombuffer(studio.player.render_spec, np.uint8).reshape(128, -1)
    patch = np.frombuffer(spec, np.uint8).reshape(128, -1)
    diff_db = np.abs(full[:, msg["first"]: msg["first"] + msg["count"]].astype(int) - patch) * 90 / 255
    assert np.median(diff_db) == 0 and np.percentile(diff_db, 99) <= 1.0


# --- the microphone ----------------------------------------------------------------------

def test_recording_fills_the_dry_slot_and_bad_recordings_say_why(sr):
    inputs = AudioInput()
    rec = inputs.dry.recorder
    assert rec is not None and inputs.reference.recorder is None
    changed = []
    inputs.on_change(lambda: changed.append(inputs.pair()))
    tone = sine(440.0, 1.5, 0.3, sr=48000)[0]
    rec._on_front_end_msg(rec, {"op": "recorded", "seconds": 1.5}, [_wav(tone, 48000)])
    assert inputs.dry.source == "microphone recording 1 (1.5 s)" and inputs.dry.sample_rate == 48000
    assert inputs.dry.audio.shape == (2, 72000) and len(changed) == 1 and rec.error == ""
    for data, why in ((_wav(np.zeros(48000, np.float32), 48000), "silent"),
                      (_wav(tone[:480], 48000), "at least 0.25 s"),
                      (b"RIFF....garbage", "could not be decoded"),
                      (_wav(np.tile(tone, 30), 48000), "over the 30 s limit")):
        assert not rec.receive(data)
        assert rec.error.startswith("not used:") and why in rec.error, rec.error
    rec._on_front_end_msg(rec, {"op": "recorded"}, [])
    assert "no audio" in rec.error
    assert inputs.dry.source == "microphone recording 1 (1.5 s)" and len(changed) == 1   # the recording stays


def test_recorder_limit_is_checked():
    with pytest.raises(ParameterError, match="max_seconds must be in \\[1, 600\\] s"):
        Recorder(max_seconds=0.5)
    rec = Recorder(max_seconds=10)
    rec.max_seconds = 5000
    assert rec.max_seconds == 10 and "max_seconds must be in [1, 600]" in rec.error
