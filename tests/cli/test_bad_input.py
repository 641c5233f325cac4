"""Bad input on the command line (issue 34): each failure a user met, and a fuzz test over the
CLI's inputs. Every run ends with exit 0 and valid output, or exit 2 and one short line; inputs
are never modified; an existing output is never replaced without ``--overwrite``."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm2fx_lab.audio.io import BlockWriter, load_audio, load_audio_bytes, read_blocks
from llm2fx_lab.cli import main
from llm2fx_lab.cli.planners import ESTIMATE_SECONDS
from llm2fx_lab.errors import AudioError, ToolCallError
from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.fx.render import StreamRenderer, render, render_file
from llm2fx_lab.fx.spec import MODULE_NAMES

SR = 44100
GAIN = [{"name": "gain", "arguments": {"gain_db": -6}}]
LONGEST_LINE = 300


def wav_bytes(audio: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio.T, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((2, int(seconds * SR)))).astype(np.float32)


def with_rate_zero(data: bytes) -> bytes:
    """The same WAV with 0 Hz (and 0 bytes per second) in its header."""
    b = bytearray(data)
    b[24:32] = struct.pack("<II", 0, 0)
    return bytes(b)


def one_line_error(err: str) -> str:
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert len(lines[0]) <= LONGEST_LINE and "Traceback" not in lines[0], lines[0]
    return lines[0]


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``llm2fx ARGV`` in process: (exit code, stdout, stderr); argparse's exits included."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "gain.json").write_text(json.dumps(GAIN))
    (tmp_path / "ok.wav").write_bytes(wav_bytes(noise(1.5)))
    return tmp_path


# --- the five failures of the issue, one by one ----------------------------------------------

def test_a_wav_whose_header_says_0_hz(folder, capsys):
    (folder / "zero.wav").write_bytes(with_rate_zero(wav_bytes(noise(0.5))))
    for argv in (["render", "--chain", "gain.json", "zero.wav", "out.wav"],
                 ["estimate", "zero.wav", "ok.wav", "--planner", "regression"]):
        code, _, err = cli([str(folder / a) if a.endswith((".wav", ".json")) else a for a in argv], capsys)
        assert code == 2 and "zero.wav: its header gives a sample rate of 0 Hz" in one_line_error(err)
    with pytest.raises(AudioError, match="sample rate of 0 Hz; readable files have 1000 to 768000 Hz"):
        load_audio(folder / "zero.wav")
    with pytest.raises(AudioError, match=r"^upload.wav could not be decoded as audio \(its header is incomplete"):
        load_audio_bytes(with_rate_zero(wav_bytes(noise(0.5))), "upload.wav")  # the studio's upload path
    assert not (folder / "out.wav").exists()


def test_a_chain_file_that_is_not_utf8(folder, capsys):
    (folder / "latin1.json").write_bytes('[{"name": "gain", "arguments": {}}] # café'.encode("latin-1"))
    code, _, err = cli(["describe", str(folder / "latin1.json")], capsys)
    assert code == 2 and "not UTF-8 text (byte 0xe9 at position" in one_line_error(err)
    with pytest.raises(ToolCallError, match="not UTF-8"):
        Chain.from_json("[] é".encode("latin-1"))


def test_an_undecodable_file_is_one_line_and_the_decoders_stay_quiet(folder, capfd):
    (folder / "noise.mp3").write_bytes(bytes(range(256)) * 40)  # mpg123 "resyncs" through it, noisily
    code = main(["render", "--chain", str(folder / "gain.json"), str(folder / "noise.mp3"), str(folder / "o.wav")])
    err = capfd.readouterr().err
    assert code == 2 and "noise.mp3 could not be decoded as audio" in one_line_error(err)
    assert "resync" not in err and "does not exist" not in err


def test_very_long_strings_are_cut_short(folder, capsys):
    (folder / "name.json").write_text(json.dumps([{"name": "x" * 100_000, "arguments": {}}]))
    (folder / "value.json").write_text(json.dumps([{"name": "gain", "arguments": {"gain_db": "9" * 100_000}}]))
    (folder / "param.json").write_text(json.dumps([{"name": "gain", "arguments": {"y" * 100_000: 1}}]))
    for name, needle in (("name", "unknown module 'xxx"), ("value", "must be a number, got the string '999"),
                         ("param", "gain has no parameter 'yyy")):
        code, _, err = cli(["describe", str(folder / f"{name}.json")], capsys)
        line = one_line_error(err)
        assert code == 2 and needle in line and "… (100000 characters)" in line
    assert "allowed: " + ", ".join(MODULE_NAMES) in one_line_error(cli(["describe", str(folder / "name.json")],
                                                                       capsys)[2])


def test_a_long_recording_renders_in_bounded_memory(tmp_path):
    """Three minutes through a reverb and an EQ: the output equals rendering the whole, and
    the arrays held at once stay those of one block (the whole file would be 85 MB as float64)."""
    chain = [{"name": "equalizer", "arguments": {"low_gain_db": 6}}, {"name": "compressor", "arguments": {}},
             {"name": "reverb", "arguments": {"mix_ratio": 0.4}}, {"name": "delay", "arguments": {}}]
    src = tmp_path / "long.wav"
    with BlockWriter(src, SR, subtype="PCM_16") as out:
        for i in range(18):
            out.write(noise(10, seed=i))
    tracemalloc.start()
    try:
        seconds, rate = render_file(src, tmp_path / "out.wav", chain, tail_seconds=2.0, block_seconds=5.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (seconds, rate) == (182.0, SR) and peak < 30e6, peak
    whole, _ = load_audio(src)
    expected = render(whole, SR, chain, tail_seconds=2.0)
    got, _ = load_audio(tmp_path / "out.wav")
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_stream_renderer_equals_render_for_every_module(tmp_path):
    rng = np.random.default_rng(5)
    x = noise(2.0)
    from llm2fx_lab.data.chains import sample_chain
    chain = sample_chain(9, rng)
    stream = StreamRenderer(SR, chain)
    blocks = [stream.process(x[:, i:i + 7000]) for i in range(0, x.shape[1], 7000)]
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), render(x, SR, chain))


def test_estimate_hears_a_bounded_excerpt_and_says_so(folder, capsys):
    long = folder / "long.wav"
    with BlockWriter(long, SR, subtype="PCM_16") as out:
        for i in range(7):
            out.write(noise(10, seed=i))
    code, out, err = cli(["estimate", str(long), str(long), "--planner", "regression", "--json", "--out",
                          str(folder / "est.wav")], capsys)
    assert code == 0, err
    body = json.loads(out)
    assert body["input_notes"] == [f"long.wav is 70.0 s long: the planner hears its first {ESTIMATE_SECONDS:g} s"] * 2
    rendered, _ = load_audio(folder / "est.wav")
    assert rendered.shape[1] == 70 * SR  # --out renders the whole dry file
    code, out, _ = cli(["estimate", str(long), str(long), "--planner", "regression"], capsys)
    assert code == 0 and "[input]\nlong.wav is 70.0 s long: the planner hears its first 60 s." in out


def test_read_blocks_checks_the_header_and_bounds_whole_decodes(folder, monkeypatch):
    rate, frames, blocks = read_blocks(folder / "ok.wav", block_seconds=0.5)
    assert (rate, frames) == (SR, int(1.5 * SR)) and [b.shape[1] for b in blocks] == [SR // 2] * 3
    (folder / "zero.wav").write_bytes(with_rate_zero(wav_bytes(noise(0.5))))
    with pytest.raises(AudioError, match="sample rate of 0 Hz"):
        read_blocks(folder / "zero.wav")
    from llm2fx_lab.audio import io as audio_io
    monkeypatch.setattr(audio_io, "WHOLE_DECODE_MAX_SECONDS", 1.0)
    monkeypatch.setattr(audio_io.sf, "info", lambda *_a, **_k: (_ for _ in ()).throw(RuntimeError("no")))
    with pytest.raises(AudioError, match="can only be decoded whole and is longer than 1 s"):
        read_blocks(folder / "ok.wav")


def test_an_output_the_system_cannot_write_is_one_line(folder, capsys):
    code, _, err = cli(["render", "--chain", str(folder / "gain.json"), str(folder / "ok.wav"),
                        str(folder / "ok.wav" / "out.wav")], capsys)  # a file where a folder should be
    assert code == 2 and "does not exist" in one_line_error(err)
    with pytest.raises(AudioError, match="cannot write"):
        BlockWriter("/proc/version.wav", SR)  # a folder nothing may be written into


def test_usage_errors_are_one_line_and_help_is_not(capsys):
    code, _, err = cli(["render", "--tail-seconds", "abc"], capsys)
    assert code == 2 and "(see llm2fx render --help)" in one_line_error(err)
    code, out, _ = cli(["render", "--help"], capsys)
    assert code == 0 and "any length" in out and "usage: llm2fx render" in out


# --- the fuzz test -----------------------------------------------------------------------------

def _json_values():
    leaves = st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=30) | \
        st.sampled_from(MODULE_NAMES + ("gain_db", "arguments", "name"))
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["name", "arguments", "gain_db", "pan", "mix_ratio", "x"]) | st.text(max_size=8),
        inner, max_size=4), max_leaves=12)


def _chain_files():
    valid = st.lists(st.sampled_from(MODULE_NAMES), max_size=4, unique=True).map(
        lambda names: json.dumps([{"name": n, "arguments": {}} for n in names]).encode())
    # valid chains as often as broken ones, so that runs get past the chain to the audio
    return valid | valid | valid | _json_values().map(lambda v: json.dumps(v).encode()) | st.binary(max_size=200)


def _audio_files():
    valid = st.tuples(st.sampled_from([0.05, 0.3, 1.2, 3.0, 3.0]), st.sampled_from([1, 2]),
                      st.sampled_from(["PCM_16", "FLOAT"])).map(
        lambda t: wav_bytes(noise(t[0])[: t[1]], subtype=t[2]))
    return (valid | valid | valid | valid.map(with_rate_zero) | valid.map(lambda b: b[: len(b) // 2])
            | st.binary(max_size=400) | st.just(b"") | st.just(wav_bytes(np.zeros((2, 4410), np.float32))))


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(["render", "describe", "estimate"]), chain=_chain_files(), audio=_audio_files(),
       extension=st.sampled_from([".wav"] * 5 + [".flac", ".mp3", ".ogg", ".txt", ""]),
       out_extension=st.sampled_from([".wav", ".wav", ".flac", ".mp3"]),
       tail=st.sampled_from(["0"] * 4 + ["1.5", "-1", "nan", "1e309", "abc", "61"]),
       overwrite=st.booleans(), existing_output=st.booleans())
def test_fuzz_every_run_ends_in_valid_output_or_one_short_line(tmp_path_factory, capsys, command, chain, audio,
                                                               extension, out_extension, tail, overwrite,
                                                               existing_output):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "chain.json").write_bytes(chain)
    clip = folder / f"clip{extension}"
    clip.write_bytes(audio)
    out = folder / f"out{out_extension}"
    if existing_output:
        out.write_bytes(b"the user's own file")
    before = _digest(folder)
    if command == "describe":
        argv = ["describe", str(folder / "chain.json")]
    elif command == "render":
        argv = ["render", "--chain", str(folder / "chain.json"), str(clip), str(out), "--tail-seconds", tail]
    else:
        argv = ["estimate", str(clip), str(clip), "--planner", "regression", "--json", "--out", str(out),
                "--tail-seconds", tail]
    argv += ["--overwrite"] if overwrite and command != "describe" else []
    code, stdout, err = cli(argv, capsys)
    assert code in (0, 2), (code, err)
    if code == 2:
        one_line_error(err)
    elif command == "estimate":
        assert isinstance(json.loads(stdout)["chain"], list)
    after = _digest(folder)
    for name, digest in before.items():  # inputs never change; the output only on success, when asked
        if name != out.name or not (code == 0 and overwrite and command != "describe"):
            assert after.get(name) == digest, name
    if code == 0 and command != "describe":
        rendered, _ = load_audio(out)
        assert np.isfinite(rendered).all()
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]  # no half-written file left
