"""The NumPy MR-STFT distance equals auraloss; the official similarity filter."""

import numpy as np
import pytest
import torch

from llm2fx_lab.data.mrstft import (
    mrstft_distance, mrstft_spectra, passes_similarity_filter, similarity_threshold,
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
