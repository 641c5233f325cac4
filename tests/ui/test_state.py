"""Pure session logic: incremental rendering, undo/redo, loudness matching, WAV bytes, traces."""

import io
import threading
import time
import wave

import numpy as np
import pytest

from llm2fx_lab.analysis.plot_data import band_levels_db, gain_reduction_data, log_frequencies, preview_levels_db
from llm2fx_lab.errors import BackendError
from llm2fx_lab.fx import Chain, render
from llm2fx_lab.ui import DynamicsView, SpectrumView
from llm2fx_lab.ui.state import History, LatestWorker, StageCache, first_difference, loudness_match_gains_db, wav_bytes

CHAIN = Chain.from_tool_calls([
    {"name": "equalizer", "arguments": {"high_gain_db": 6, "high_cutoff_freq": 5000}},
    {"name": "compressor", "arguments": {"threshold_db": -30, "ratio": 4}},
    {"name": "gain", "arguments": {"gain_db": -3}},
    {"name": "delay", "arguments": {"delay_seconds": 0.1, "feedback": 0.3, "mix_ratio": 0.3}},
])


def test_first_difference():
    assert first_difference(None, CHAIN) == 0
    assert first_difference(CHAIN, CHAIN) == len(CHAIN)
    assert first_difference(CHAIN, CHAIN.with_params("gain", gain_db=2)) == 2
    assert first_difference(CHAIN, CHAIN.moved("delay", 0)) == 0
    assert first_difference(CHAIN, CHAIN.with_bypass("delay")) == 3


def test_incremental_render_matches_full_render_and_reuses_stages(noise, sr):
    cache = StageCache(noise, sr, tail_seconds=0.2)
    first = cache.render(CHAIN)
    assert first.recomputed == 4
    edited = CHAIN.with_params("gain", gain_db=4)
    second = cache.render(edited)
    assert second.recomputed == 2
    # Stages before the edit are the very same arrays (reused, not recomputed).
    assert all(a[1] is b[1] for a, b in zip(first.stages[:3], second.stages[:3]))
    np.testing.assert_array_equal(second.output, render(noise, sr, edited, tail_seconds=0.2))
    assert not np.allclose(first.output, second.output)
    bypassed = cache.render(edited.with_bypass("delay"))
    assert bypassed.recomputed == 1 and bypassed.output is bypassed.stages[-2][1]


def test_stage_cache_rejects_unknown_backend(noise, sr):
    with pytest.raises(BackendError, match="backend must be"):
        StageCache(noise, sr).set_backend("gpu-magic")


def test_history_undo_redo():
    h = History(CHAIN)
    assert not h.can_undo
    a = h.push(CHAIN.with_params("gain", gain_db=1))
    b = h.push(a.without("delay"))
    assert h.undo() == a and h.undo() == CHAIN and h.undo() == CHAIN
    assert h.redo() == a
    h.push(a.with_bypass("gain"))
    assert not h.can_redo and h.current["gain"].bypass
    assert b != h.current


def test_loudness_match_gains():
    assert loudness_match_gains_db({"dry": -20.0, "render": -14.0, "reference": -17.5}) == \
        {"dry": 0.0, "render": -6.0, "reference": -2.5}
    assert loudness_match_gains_db({"dry": float("-inf"), "render": -10.0}) == {"dry": 0.0, "render": 0.0}
    assert loudness_match_gains_db({}) == {}


def test_wav_bytes_roundtrip(sr):
    x = np.stack([np.linspace(-1, 1, 1000), np.zeros(1000)]).astype(np.float32) * 1.5
    data = wav_bytes(x, sr)
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 2, sr, 1000)
        pcm = np.frombuffer(w.readframes(1000), "<i2").reshape(-1, 2)
    assert pcm[0, 0] == -32767 and pcm[-1, 0] == 32767  # clipped, not wrapped
    assert len(data) == 44 + 4000


def test_spectrum_of_a_sine_peaks_at_its_frequency(sr):
    from tests.conftest import sine

    freqs = log_frequencies(sr, 200)
    level = band_levels_db(sine(1000.0, 1.0, 0.5), sr, freqs)
    assert freqs.shape == level.shape == (200,)
    assert abs(freqs[np.argmax(level)] - 1000) < 60
    # Levels are power per bin: doubling the amplitude adds 6.02 dB at the peak.
    louder = band_levels_db(sine(1000.0, 1.0, 1.0), sr, freqs)
    assert abs(louder.max() - level.max() - 6.0206) < 0.01


def test_eq_curve_closed_form(sr):
    view = SpectrumView(sr)
    view.freqs_hz = np.array([50.0, 1000.0, 15000.0])
    chain = Chain.from_tool_calls([{"name": "equalizer", "arguments": {"mid_gain_db": 6, "mid_cutoff_freq": 1000}}])
    view.set_chain(chain, sr)
    curve = view.figure.data[3].y
    assert abs(curve[1] - 6.0) < 0.05 and abs(curve[0]) < 0.3
    view.set_chain(chain.with_bypass("equalizer"), sr)
    assert len(view.figure.data[3].y) == 0  # no curve for a bypassed equalizer
    view.set_chain(Chain(), sr)
    assert len(view.figure.data[3].y) == 0


COMPRESSOR = Chain.from_tool_calls([{"name": "compressor", "arguments": {"threshold_db": -30, "ratio": 10, "attack_ms": 1}}])


def test_gain_reduction_sign(noise, sr):
    loud = noise * 5
    stages = StageCache(loud, sr, 0).render(COMPRESSOR).stages
    gr = gain_reduction_data(stages[0][1], sr, COMPRESSOR["compressor"], 0.02, output=stages[1][1])
    assert gr.module == "compressor" and np.median(gr.gain_db) < -6
    view = DynamicsView(sr)  # the studio's trace: the compressor's, none for the absent limiter
    view.set_stages(COMPRESSOR, stages, sr)
    assert np.median(view.figure.data[4].y) < -6 and len(view.figure.data[5].y) == 0


def test_latest_worker_coalesces():
    seen = []

    def job(item):
        time.sleep(0.05)
        seen.append(item)

    errors = []
    worker = LatestWorker(job, errors.append)
    for i in range(10):
        worker.submit(i)
    assert worker.wait(5)
    assert seen[-1] == 9 and len(seen) < 10 and not errors
    worker2 = LatestWorker(lambda item: 1 / 0, errors.append)
    worker2.submit(1)
    assert worker2.wait(5) and isinstance(errors[0], ZeroDivisionError)
    assert threading.active_count() >= 1


def test_preview_renders_the_window_from_the_cached_stage(noise, sr):
    from llm2fx_lab.ui.state import preview_window

    x = np.tile(noise, 4)  # 4 s
    cache = StageCache(x, sr, tail_seconds=0.2)
    assert cache.preview(CHAIN, (0, sr)) is None  # nothing rendered yet
    cache.render(CHAIN)
    window = preview_window(cache.dry_samples, sr, window_seconds=1.0)
    assert window == (int(1.5 * sr), int(2.5 * sr))
    assert preview_window(cache.dry_samples, sr, center_seconds=0.1, window_seconds=1.0) == (0, sr)
    edited = CHAIN.with_params("gain", gain_db=3)
    p = cache.preview(edited, window, preroll_seconds=0.5)
    assert p.recomputed == 2 and p.output.shape == p.previous.shape == (2, sr)
    full = render(x, sr, edited, tail_seconds=0.2)[:, window[0]:window[1]]
    # gain + delay after 0.5 s of pre-roll: the delay line (0.1 s, feedback 0.3) has nearly
    # settled (the echoes of audio before the pre-roll are below 0.3**5 of the signal).
    np.testing.assert_allclose(p.output, full, atol=5e-3)
    assert cache.chain == CHAIN  # the cache is not touched by a preview
    freqs = log_frequencies(sr, 120)
    full_db = band_levels_db(cache.render(CHAIN).output, sr, freqs)
    estimate = preview_levels_db(full_db, p.output, p.previous, sr, freqs)
    truth = band_levels_db(render(x, sr, edited, tail_seconds=0.2), sr, freqs)
    assert np.median(np.abs(estimate - truth)) < 0.5


def test_cancelled_render_leaves_the_cache_alone(noise, sr):
    from llm2fx_lab.ui.state import RenderCancelled

    cache = StageCache(noise, sr, tail_seconds=0.2)
    first = cache.render(CHAIN)
    with pytest.raises(RenderCancelled):
        cache.render(CHAIN.with_params("equalizer", high_gain_db=0), cancelled=lambda: True)
    assert cache.chain == CHAIN
    assert cache.render(CHAIN).recomputed == 0 and cache.render(CHAIN).output is first.output


def test_latest_worker_superseded_and_wait_for_newer():
    worker = LatestWorker(lambda item: None, lambda exc: None)
    flags = []

    def job(item):
        flags.append((item, worker.superseded(), worker.wait_for_newer(0.3 if item == 0 else 0.01)))
        time.sleep(0.01)

    worker._fn = job
    worker.submit(0)
    time.sleep(0.1)
    worker.submit(1)
    assert worker.wait(5)
    assert flags[0] == (0, False, True) and flags[-1][0] == 1
