"""The NumPy MR-STFT distance equals auraloss; the official similarity filter."""

import numpy as np
import pytest
import torch

from llm2fx_lab.data.mrstft import (
    ClipSpectra, mrstft_distance, mrstft_spectra, passes_similarity_filter, similarity_filter, similarity_threshold,
)
from llm2fx_lab.errors import AudioError
from llm2fx_lab.examples import example_pair, load_example
from llm2fx_lab.fx import Chain, render


def _auraloss(est, ref):
    from auraloss.freq import MultiResolutionSTFTLoss

    with torch.no_grad():
        return float(MultiResolutionSTFTLoss()(torch.from_numpy(est[None].copy()), torch.from_numpy(ref[None].copy())))


@pytest.mark.parametrize("name", ["piano", "drums"])
def test_matches_auraloss(name):
    dry, wet, sr, _ = example_pair(name)
    n = int(3 * sr)
    dry, wet = dry[:, :n], wet[:, :n]
    ref = _auraloss(wet, dry)
    assert mrstft_distance(wet, dry) == pytest.approx(ref, rel=1e-4)
    assert mrstft_distance(wet, mrstft_spectra(dry)) == pytest.approx(ref, rel=1e-4)


def test_identity_is_zero_and_bad_input():
    x, _ = load_example("bass")
    assert mrstft_distance(x[:, :44100], x[:, :44100]) == 0.0
    with pytest.raises(AudioError):
        mrstft_distance(x[:, :44100], x[:, :22050])
    with pytest.raises(AudioError):
        mrstft_spectra(np.full((2, 4096), np.nan, np.float32))


def test_filter_rejects_near_identity_and_keeps_strong_chain():
    x, sr = load_example("guitar")
    x = x[:, : int(4 * sr)]
    weak = Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": 0.5}}])
    strong = Chain.from_tool_calls([{"name": "distortion", "arguments": {"drive_db": 18}},
                                    {"name": "reverb", "arguments": {"room_size": 0.8, "damping": 0.2, "width": 0.9, "mix_ratio": 0.6}}])
    assert not passes_similarity_filter(mrstft_distance(render(x, sr, weak), x), 1)
    assert passes_similarity_filter(mrstft_distance(render(x, sr, strong), x), 2)
    assert similarity_threshold(4) == 0.3 and similarity_threshold(5) == 2.0


def test_cached_dry_spectra_give_the_uncached_distance_exactly():
    # the generator computes the dry spectra once and reuses them for every retried chain
    dry, sr = load_example("piano")
    cached = mrstft_spectra(dry)
    for gain_db in (-6.0, 3.0):
        wet = np.clip(render(dry, sr, Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": gain_db}}])),
                      -1.0, 1.0).astype(np.float32)
        d = mrstft_distance(wet, cached)
        assert d > 0.1
        assert d == mrstft_distance(wet, dry)  # bit for bit, not approximately
        assert d == mrstft_distance(wet, mrstft_spectra(dry))


# --- the early-stopping filter and the lazily computed dry spectra (issue #6) -------------

def _pair(gain_db=None, chain=None, name="piano", seconds=4.0):
    dry, sr = load_example(name)
    dry = dry[:, : int(seconds * sr)]
    calls = chain or [{"name": "gain", "arguments": {"gain_db": gain_db}}]
    wet = np.clip(render(dry, sr, Chain.from_tool_calls(calls)), -1.0, 1.0).astype(np.float32)
    return dry, wet


STRONG = [{"name": "distortion", "arguments": {"drive_db": 18}},
          {"name": "reverb", "arguments": {"room_size": 0.8, "damping": 0.2, "width": 0.9, "mix_ratio": 0.6}}]


@pytest.mark.parametrize("gain_db,chain,n_modules", [
    (0.3, None, 1), (-1.0, None, 1), (2.0, None, 1), (-6.0, None, 4), (-6.0, None, 5),
    (None, STRONG, 2), (None, STRONG, 5), (None, STRONG, 9)])
def test_filter_decides_as_the_full_distance(gain_db, chain, n_modules):
    dry, wet = _pair(gain_db, chain)
    full = mrstft_distance(wet, dry)
    d = similarity_filter(wet, ClipSpectra(dry), n_modules)
    assert d.passed == passes_similarity_filter(full, n_modules)
    if d.exact:
        assert d.distance == full
    else:  # stopped early: a lower bound that already reached the threshold
        assert d.passed and similarity_threshold(n_modules) <= d.distance <= full
    exact = similarity_filter(wet, dry, n_modules, exact=True)
    assert exact.exact and exact.distance == full and exact.passed == d.passed


def test_filter_stops_early_on_a_strong_chain_and_measures_a_rejected_one_in_full():
    dry, wet = _pair(chain=STRONG)
    clip = ClipSpectra(dry)
    d = similarity_filter(wet, clip, 2)
    computed = sum(int(np.isfinite(n).sum()) for n in clip.block_sq_norms)
    total = sum(n.size for n in clip.block_sq_norms)
    assert d.passed and not d.exact and computed < total / 4
    # a near-identity chain on the same (partly computed) dry: every block, the exact distance
    _, weak = _pair(0.3)
    r = similarity_filter(weak, clip, 2)
    assert not r.passed and r.exact and r.distance == mrstft_distance(weak, dry)
    assert all(np.isfinite(n).all() for n in clip.block_sq_norms)


def test_lazy_dry_spectra_equal_the_eager_ones_whatever_the_order():
    dry, wet = _pair(chain=STRONG, seconds=2.0)
    eager = mrstft_spectra(dry)
    clip = ClipSpectra(dry)
    for r, ch, b in reversed(clip.schedule):  # another order than the filter's
        clip.block(r, ch, b)
    lazy = clip.complete()
    assert lazy.sq_norms == eager.sq_norms
    for (m1, l1), (m2, l2) in zip(lazy, eager):
        assert np.array_equal(m1, m2) and np.array_equal(l1, l2)
    assert mrstft_distance(wet, clip) == mrstft_distance(wet, eager) == mrstft_distance(wet, dry)


@pytest.mark.parametrize("kind", ["noise", "dc", "nyquist", "piano", "silence"])
def test_parseval_bound_holds_and_is_tight(kind):
    n = 44100
    rng = np.random.default_rng(0)
    x = {"noise": lambda: rng.standard_normal((2, n)) * 0.1,
         "dc": lambda: np.full((2, n), 0.5) + rng.standard_normal((2, n)) * 1e-3,  # X_0 carries the energy
         "nyquist": lambda: np.tile([0.5, -0.5], (2, n // 2)),  # X_{N/2} carries the energy
         "piano": lambda: load_example("piano")[0][:, :n],
         "silence": lambda: np.zeros((2, n))}[kind]().astype(np.float32)
    clip = ClipSpectra(x)
    for r in range(len(clip.grids)):
        upper, exact = clip.norm_upper(r), clip.sq_norm(r)
        assert exact <= upper <= 2.0 * exact + 1e-3  # floor-only spectra: the EPS term
        # once blocks are computed their exact norms replace the bounds
        assert clip.norm_upper(r) == pytest.approx(1.001 * exact, rel=1e-9)


def test_schedule_visits_every_block_once_spread_over_time():
    clip = ClipSpectra(np.zeros((2, 44100 * 10), np.float32))
    sched = clip.schedule
    expected = {(r, ch, b) for r, g in enumerate(clip.grids) for ch in range(2) for b in range(g.n_blocks)}
    assert len(sched) == len(expected) and set(sched) == expected
    # the first tenth of the visits already reaches both halves of the clip at every resolution
    head = sched[: len(sched) // 10]
    for r, g in enumerate(clip.grids):
        blocks = [b for rr, _, b in head if rr == r]
        assert min(blocks) < g.n_blocks / 2 and max(blocks) >= (g.n_blocks - 1) / 2


def test_filter_bad_input():
    dry, wet = _pair(2.0, seconds=1.0)
    with pytest.raises(AudioError, match="differ in shape"):
        similarity_filter(wet[:, :-10], ClipSpectra(dry), 1)
    bad = wet.copy()
    bad[0, 5] = np.nan
    with pytest.raises(AudioError, match="finite"):
        similarity_filter(bad, dry, 1)
    with pytest.raises(AudioError, match="too short"):
        ClipSpectra(np.zeros((2, 512), np.float32))
