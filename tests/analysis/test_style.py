"""Style statistics, their distance, and whether two clips hold the same material."""

import numpy as np
import pytest

from llm2fx_lab.analysis.style import (
    STYLE_SCALES,
    content_match,
    style_distance,
    style_stats,
    style_transfer_scores,
)
from llm2fx_lab.errors import AudioError
from llm2fx_lab.fx import Chain, render
from llm2fx_lab.planners.bench import make_test_pairs, style_pairs
from tests._pairs import noise_bursts

SR = 44100


def test_stats_follow_what_an_effect_changes():
    dry = noise_bursts(1, side_level=0.3)
    base = style_stats(dry, SR)
    louder = style_stats(render(dry, SR, Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": 6}}])), SR)
    assert louder.loudness_lufs - base.loudness_lufs == pytest.approx(6.0, abs=0.1)
    narrow = style_stats(render(dry, SR, Chain.from_tool_calls(
        [{"name": "stereo_widener", "arguments": {"width": 0.5}}])), SR)
    assert narrow.width_db - base.width_db == pytest.approx(20 * np.log10(0.5), abs=0.3)
    wet = style_stats(render(dry, SR, Chain.from_tool_calls(
        [{"name": "reverb", "arguments": {"room_size": 0.8, "mix_ratio": 0.5}}])), SR)
    assert wet.decay_seconds > base.decay_seconds + 0.2


def test_distance_is_zero_for_one_clip_and_counts_each_gap_in_its_scale():
    dry = noise_bursts(2)
    a = style_stats(dry, SR)
    assert style_distance(a, a).total == 0.0
    b = style_stats(render(dry, SR, Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": -4}}])), SR)
    d = style_distance(a, b)
    assert set(d.gaps) == set(STYLE_SCALES)
    assert d.gaps["loudness_lu"] == pytest.approx(4.0, abs=0.1)
    assert d.gaps["envelope_db"] < 0.05  # a gain moves no band against another
    assert d.total == pytest.approx(sum(g / STYLE_SCALES[k] for k, g in d.gaps.items()))


def test_transfer_scores_are_ratios_to_the_untouched_dry_clip():
    dry = noise_bursts(3)
    chain = Chain.from_tool_calls([{"name": "equalizer", "arguments": {"high_gain_db": 9}}])
    target = render(dry, SR, chain)
    perfect = style_transfer_scores(dry, target, target, SR)
    assert perfect["mrstft_ratio"] == pytest.approx(0.0, abs=1e-6) and perfect["feature_ratio"] == 0.0
    untouched = style_transfer_scores(dry, target, dry, SR)
    assert untouched["mrstft_ratio"] == pytest.approx(1.0) and untouched["feature_ratio"] == pytest.approx(1.0)
    assert untouched["mrstft_dry"] > 0 and untouched["feature_distance_dry"] > 0


@pytest.fixture(scope="module")
def midi_pairs():
    return make_test_pairs(per_length=2, seed=2468)


def test_detection_fires_on_different_songs_and_not_on_one_song_through_a_chain(midi_pairs):
    # measured (docs/decisions.md): the only same-song pairs it misses are chains that bury the
    # notes (a 0.8 reverb mix with 20 dB of drive and 12:1 compression: 2 of these 18); it
    # missed 2 of 36 pairs of different pieces on another seed
    same = [content_match(p["dry"], p["reference_audio"], p["sample_rate"]) for p in midi_pairs]
    assert sum(m.same_content for m in same) >= len(same) - 2, [m for m in same if not m.same_content]
    for m, p in zip(same, midi_pairs):
        if len(p["reference"]) <= 5:  # a chain that leaves the notes audible is always recognised
            assert m.same_content, (p["reference"], m)
    other = [content_match(p["dry"], p["reference_audio"], p["sample_rate"]) for p in style_pairs(midi_pairs)]
    assert len(other) == len(midi_pairs)
    assert sum(not m.same_content for m in other) >= len(other) - 2
    flagged = next(m for m in other if not m.same_content)
    assert "do not seem to hold the same recording" in flagged.sentence() and "--style" in flagged.sentence()


def test_detection_is_not_fooled_by_two_pieces_at_one_tempo():
    # noise bursts of two seeds share a rhythm's rate, not which bands sound when
    for seed in range(4):
        a, b = noise_bursts(10 + seed), noise_bursts(20 + seed)
        assert not content_match(a, b, SR).same_content
        heard = render(a, SR, Chain.from_tool_calls([{"name": "compressor", "arguments": {"threshold_db": -30,
                                                                                          "ratio": 8}}]))
        assert content_match(a, heard, SR).same_content


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 44100), np.float32), "silent"),
    (np.full((2, 44100), np.nan, np.float32), "NaN"),
    (np.zeros((2, 0), np.float32), "empty"),
])
def test_bad_audio_gets_a_clear_error(bad, message):
    with pytest.raises(AudioError, match=message):
        style_stats(bad, SR)
    good = noise_bursts(5)
    with pytest.raises(AudioError, match=message):
        content_match(good, bad, SR)


def test_too_short_clips_are_refused_by_the_content_check():
    with pytest.raises(AudioError, match="at least 0.5 s"):
        content_match(noise_bursts(6), noise_bursts(6)[:, :1000], SR)


def test_style_pairs_hold_another_piece_through_the_same_chain(midi_pairs):
    pairs = style_pairs(midi_pairs)
    assert len(pairs) == len(midi_pairs)
    for pair, source in zip(sorted(pairs, key=lambda p: p["id"]), sorted(midi_pairs, key=lambda p: p["id"])):
        assert pair["id"] == f"style:{source['id']}" and pair["reference"] == source["reference"]
        np.testing.assert_array_equal(pair["target"], source["reference_audio"][:, : pair["target"].shape[1]])
        assert not np.array_equal(pair["reference_audio"], pair["target"])
