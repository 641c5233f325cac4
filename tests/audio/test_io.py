import numpy as np
import pytest
import soundfile as sf

from llm2fx_lab.audio import (
    crop_or_pad,
    load_audio,
    load_audio_bytes,
    resample,
    save_audio,
    to_stereo,
)
from llm2fx_lab.errors import AudioError
from tests.conftest import SR, sine


def write(path, data, sr=SR, **kw):
    sf.write(str(path), np.asarray(data).T if np.ndim(data) == 2 else data, sr, **kw)
    return path


def raw(path, data: bytes):
    path.write_bytes(data)
    return path


def zero_frame_wav() -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, np.zeros((0, 2), np.float32), SR, format="WAV")
    return buf.getvalue()


def test_load_wav_flac_ogg_mono_and_stereo(tmp_path):
    x = sine(440, 0.5)
    for name, kw in (("a.wav", {}), ("a.flac", {}), ("a.ogg", {"format": "OGG", "subtype": "VORBIS"})):
        y, sr = load_audio(write(tmp_path / name, x, **kw))
        assert y.shape[0] == 2 and y.dtype == np.float32 and sr == SR
        assert abs(y.shape[1] - x.shape[1]) < 2048
    y, _ = load_audio(write(tmp_path / "mono.wav", x[0]))
    np.testing.assert_allclose(y[0], y[1])


def test_load_mp3(tmp_path):
    path = tmp_path / "a.mp3"
    try:
        sf.write(str(path), sine(440, 1.0).T, SR, format="MP3")
    except Exception as exc:  # libsndfile without mp3 encoding
        pytest.skip(f"cannot write mp3 here: {exc}")
    y, sr = load_audio(path)
    assert y.shape[0] == 2 and sr == SR


def test_load_resamples_with_soxr(tmp_path):
    y, sr = load_audio(write(tmp_path / "a.wav", sine(440, 1.0, sr=48000), sr=48000), sample_rate=SR)
    assert sr == SR and abs(y.shape[1] - SR) <= 1


def test_resample_keeps_a_tone():
    x = sine(1000, 1.0, sr=48000)
    y = resample(x, 48000, 16000)
    assert y.shape == (2, 16000)
    spectrum = np.abs(np.fft.rfft(y[0]))
    assert np.argmax(spectrum) == pytest.approx(1000, abs=1)


@pytest.mark.parametrize("make, match", [
    (lambda p: p / "missing.wav", "no such file"),
    (lambda p: p, "is a folder"),
    (lambda p: raw(p / "empty.wav", b""), "empty file"),
    (lambda p: raw(p / "bad.wav", b"RIFF not really a wav" * 10), "could not be decoded"),
    (lambda p: raw(p / "notes.txt", b"hi"), "unsupported extension '.txt'"),
    (lambda p: write(p / "silent.wav", np.zeros((2, SR), np.float32)), "silent"),
    (lambda p: raw(p / "zero.wav", zero_frame_wav()), "zero length"),
    (lambda p: write(p / "six.wav", np.zeros((6, SR), np.float32) + 0.1), "6 channels"),
])
def test_audio_errors(tmp_path, make, match):
    with pytest.raises(AudioError, match=match):
        load_audio(make(tmp_path))


def test_too_short_and_nan(tmp_path):
    with pytest.raises(AudioError, match="at least 1 s"):
        load_audio(write(tmp_path / "short.wav", sine(440, 0.1)), min_seconds=1.0)
    x = sine(440, 0.2)
    x[0, 10] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        load_audio(write(tmp_path / "nan.wav", x, subtype="FLOAT"))


def test_silent_allowed_when_asked(tmp_path):
    y, _ = load_audio(write(tmp_path / "s.wav", np.zeros((2, 100), np.float32)), allow_silent=True)
    assert y.shape == (2, 100)


def test_load_bytes(tmp_path):
    data = write(tmp_path / "a.flac", sine(440, 0.3)).read_bytes()
    y, sr = load_audio_bytes(data, "upload.flac")
    assert y.shape[0] == 2 and sr == SR
    with pytest.raises(AudioError, match="empty"):
        load_audio_bytes(b"", "x.wav")
    with pytest.raises(AudioError, match="could not be decoded"):
        load_audio_bytes(b"garbage" * 100, "x.wav")
    with pytest.raises(AudioError, match="unsupported extension"):
        load_audio_bytes(data, "x.pdf")


def test_crop_or_pad():
    x = sine(440, 2.0)
    assert crop_or_pad(x, SR, 1.0).shape == (2, SR)
    padded = crop_or_pad(x, SR, 3.0)
    assert padded.shape == (2, 3 * SR) and not padded[:, 2 * SR:].any()
    np.testing.assert_array_equal(crop_or_pad(x, SR, 0.5, offset_seconds=1.0), x[:, SR: SR + SR // 2])
    with pytest.raises(AudioError, match="past the end"):
        crop_or_pad(x, SR, 1.0, offset_seconds=5.0)


def test_to_stereo():
    assert to_stereo(np.ones(5)).shape == (2, 5)


def test_save_never_overwrites_unless_asked(tmp_path):
    x = sine(440, 0.2)
    path = save_audio(tmp_path / "out.flac", x, SR)
    before = path.read_bytes()
    with pytest.raises(AudioError, match="exists; pass overwrite=True"):
        save_audio(path, x * 0.5, SR)
    assert path.read_bytes() == before
    save_audio(path, x * 0.5, SR, overwrite=True)
    y, _ = load_audio(path)
    np.testing.assert_allclose(y, x * 0.5, atol=1e-4)


def test_save_round_trip_wav_float_and_bad_targets(tmp_path):
    x = sine(440, 0.2) * 3  # above 0 dBFS survives float WAV
    save_audio(tmp_path / "x.wav", x, SR)
    y, _ = load_audio(tmp_path / "x.wav")
    np.testing.assert_allclose(y, x, atol=1e-6)
    with pytest.raises(AudioError, match="can only write"):
        save_audio(tmp_path / "x.mp3", x, SR)
    with pytest.raises(AudioError, match="does not exist"):
        save_audio(tmp_path / "nope" / "x.wav", x, SR)
