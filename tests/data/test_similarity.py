"""The official similarity filter (data/similarity.py): decisions as the full MR-STFT distance's."""

import numpy as np
import pytest

from llm2fx_lab.analysis.mrstft import ClipSpectra, mrstft_distance
from llm2fx_lab.data.similarity import passes_similarity_filter, similarity_filter, similarity_threshold
from llm2fx_lab.errors import AudioError
from llm2fx_lab.examples import load_example
from llm2fx_lab.fx import Chain, render
from tests._pairs import STRONG, rendered_pair


def test_filter_rejects_near_identity_and_keeps_strong_chain():
    x, sr = load_example("guitar")
    x = x[:, : int(4 * sr)]
    weak = Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": 0.5}}])
    strong = Chain.from_tool_calls([{"name": "distortion", "arguments": {"drive_db": 18}},
                                    {"name": "reverb", "arguments": {"room_size": 0.8, "damping": 0.2, "width": 0.9, "mix_ratio": 0.6}}])
    assert not passes_similarity_filter(mrstft_distance(render(x, sr, weak), x), 1)
    assert passes_similarity_filter(mrstft_distance(render(x, sr, strong), x), 2)
    assert similarity_threshold(4) == 0.3 and similarity_threshold(5) == 2.0


@pytest.mark.parametrize("gain_db,chain,n_modules", [
    (0.3, None, 1), (-1.0, None, 1), (2.0, None, 1), (-6.0, None, 4), (-6.0, None, 5),
    (None, STRONG, 2), (None, STRONG, 5), (None, STRONG, 9)])
def test_filter_decides_as_the_full_distance(gain_db, chain, n_modules):
    dry, wet = rendered_pair(gain_db, chain)
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
    dry, wet = rendered_pair(chain=STRONG)
    clip = ClipSpectra(dry)
    d = similarity_filter(wet, clip, 2)
    computed = sum(int(np.isfinite(n).sum()) for n in clip.block_sq_norms)
    total = sum(n.size for n in clip.block_sq_norms)
    assert d.passed and not d.exact and computed < total / 4
    # a near-identity chain on the same (partly computed) dry: every block, the exact distance
    _, weak = rendered_pair(0.3)
    r = similarity_filter(weak, clip, 2)
    assert not r.passed and r.exact and r.distance == mrstft_distance(weak, dry)
    assert all(np.isfinite(n).all() for n in clip.block_sq_norms)


def test_filter_bad_input():
    dry, wet = rendered_pair(2.0, seconds=1.0)
    with pytest.raises(AudioError, match="differ in shape"):
        similarity_filter(wet[:, :-10], ClipSpectra(dry), 1)
    bad = wet.copy()
    bad[0, 5] = np.nan
    with pytest.raises(AudioError, match="finite"):
        similarity_filter(bad, dry, 1)
    with pytest.raises(AudioError, match="too short"):
        ClipSpectra(np.zeros((2, 512), np.float32))
