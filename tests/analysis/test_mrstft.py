"""The one MR-STFT (analysis/mrstft.py): the NumPy distance equals auraloss, the torch loss equals it."""

import numpy as np
import pytest
import torch

from llm2fx_lab.analysis.mrstft import ClipSpectra, mrstft_distance, mrstft_loss, mrstft_spectra, torch_magnitudes
from llm2fx_lab.errors import AudioError
from llm2fx_lab.examples import example_pair, load_example
from llm2fx_lab.fx import Chain, render
from tests._pairs import STRONG, rendered_pair


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


def test_lazy_dry_spectra_equal_the_eager_ones_whatever_the_order():
    dry, wet = rendered_pair(chain=STRONG, seconds=2.0)
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


def test_torch_loss_is_the_numpy_distance_batched():
    dry, wet = rendered_pair(chain=STRONG, seconds=1.0)
    _, quiet = rendered_pair(-6.0, seconds=1.0)
    estimates = torch.from_numpy(np.stack([wet, quiet, dry]))
    target = torch.from_numpy(dry)[None]
    loss = mrstft_loss(estimates, target)
    assert loss.shape == (3,)
    for value, est in zip(loss.tolist(), (wet, quiet, dry)):
        assert value == pytest.approx(mrstft_distance(est, dry), rel=1e-3, abs=1e-6)
    # precomputed target magnitudes give the same numbers, and the loss has a gradient
    assert torch.equal(mrstft_loss(estimates, torch_magnitudes(target)), loss)
    x = estimates[:1].clone().requires_grad_(True)
    mrstft_loss(x, target).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
