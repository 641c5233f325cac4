"""libfluidsynth in-process rendering equals the fluidsynth program, sample for sample."""

import numpy as np
import pytest

from llm2fx_lab.data import midi
from llm2fx_lab.data.fluidlib import library_synth, to_pcm16_float
from llm2fx_lab.errors import Llm2FxError

needs_fluidsynth = pytest.mark.skipif(
    not midi.SOUNDFONT.exists() or midi.shutil.which("fluidsynth") is None
    or library_synth(midi.SOUNDFONT) is None, reason="fluidsynth program, library or GM soundfont missing")


def _piece(seed: int, seconds: float, roles=None):
    return midi.random_piece(np.random.default_rng(seed), seconds, roles)


@needs_fluidsynth
@pytest.mark.parametrize("seed,gain,roles", [(0, 0.5, ("melody",)), (4, 0.5, ("bass", "chords", "drums")),
                                             (1, 3.0, ("drums", "chords"))])
def test_library_render_is_sample_identical_to_the_program(seed, gain, roles):
    # two pieces in a row through the same per-process library synth: nothing carries over;
    # gain 3 drives the output past full scale, so the program's clipping is covered too
    for k in range(2):
        piece = _piece(seed + 10 * k, 2.0, roles)
        slow = midi.render_piece(piece, gain=gain, engine="program")
        fast = midi.render_piece(piece, gain=gain, engine="library")
        assert fast.dtype == np.float32 and fast.shape == slow.shape
        np.testing.assert_array_equal(fast, slow)
    if gain > 1:
        assert slow.max() == np.float32(32767 / 32768) and slow.min() == -1.0


def test_pcm16_conversion_matches_libsndfile_rule():
    # libsndfile writes rint(x * 2**31) clipped to int32, keeping the upper 16 bits
    x = np.array([0.0, 1e-9, -1e-9, 6 / 32768 - 2.4e-6 / 32768, 6 / 32768 - 9e-6 / 32768, 0.99999, 1.5, -1.0, -2.0],
                 np.float32)
    expected = np.array([0, 0, -1, 6, 5, 32767, 32767, -32768, -32768], np.float32) / 32768
    np.testing.assert_array_equal(to_pcm16_float(x), expected)


def test_render_piece_rejects_unknown_engine():
    with pytest.raises(Llm2FxError):
        midi.render_piece(_piece(0, 1.0), engine="timidity")


@needs_fluidsynth
def test_early_stop_is_the_start_of_the_full_render():
    piece = _piece(2, 3.0, ("chords",))
    full = midi.render_piece(piece, engine="program")
    part = midi.render_piece(piece, engine="library", max_samples=44100)
    assert 44100 <= part.shape[1] < 44100 + 64 < full.shape[1]
    np.testing.assert_array_equal(part, full[:, : part.shape[1]])
