"""What could be heard: audible modules and audible orders, and the metrics built on them.

The paper's Acc and Rank Corr hide two things. Many sampled settings are nearly inaudible
(a +2 dB gain, a widener near width 1, a compressor whose threshold sits above the music),
yet a planner is marked wrong for missing them. And about a third of module pairs commute
(gain, EQ and delay commute with every linear module), so their order cannot be heard, yet
Rank Corr scores it. We therefore measure, on the very reference being scored:

- a module is **audible** when bypassing it changes the rendered reference by more than
  ``threshold_db`` (:func:`band_level_distance_db`);
- a pair of modules is **audibly ordered** when swapping their positions changes the
  rendered reference by more than ``threshold_db``.

The distance is the mean absolute difference of 1/3-octave band levels per channel and
per 46 ms frame, in dB, over the cells within 60 dB of the loudest cell. A level change
of ``g`` dB gives exactly ``|g|``. The default threshold, 2.5 dB, sits just above the
official sampler's smallest gain step (2 dB), so that step counts as inaudible, as the
issue asks; pass a smaller one (1 dB is about a level JND) for a stricter view.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np

from llm2fx_lab.analysis.features import THIRD_OCTAVE_CENTRES_HZ, stft_power
from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.errors import AudioError
from llm2fx_lab.fx.chain import Chain, as_chain
from llm2fx_lab.fx.render import render
from llm2fx_lab.fx.spec import MODULE_NAMES

#: Default audibility threshold (dB of mean band-level difference).
AUDIBLE_THRESHOLD_DB = 2.5
#: Cells more than this far below the loudest cell are ignored (dB).
DYNAMIC_RANGE_DB = 60.0
_N_FFT = 4096


@functools.lru_cache(maxsize=8)
def _band_matrix(sample_rate: float, n_fft: int) -> np.ndarray:
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    centres = np.array(THIRD_OCTAVE_CENTRES_HZ)
    centres = centres[centres * 10 ** 0.05 <= sample_rate / 2]
    lows, highs = centres * 10 ** -0.05, centres * 10 ** 0.05
    m = ((freqs[:, None] >= lows) & (freqs[:, None] < highs)).astype(np.float32)
    return m[:, m.sum(axis=0) > 0]


def _band_levels_db(x: np.ndarray, sample_rate: float) -> np.ndarray:
    power = stft_power(x, _N_FFT, _N_FFT // 2)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(power @ _band_matrix(sample_rate, _N_FFT) + 1e-30)


def band_level_distance_db(a: Any, b: Any, sample_rate: float) -> float:
    """Mean |difference| (dB) of per-channel, per-frame 1/3-octave band levels.

    Parameters
    ----------
    a, b : array_like, shape (samples,) or (channels, samples)
        Same length.
    sample_rate : float

    Returns
    -------
    float
        0 for identical clips, ``|g|`` for a gain of ``g`` dB; 0 when both are silent.

    Raises
    ------
    AudioError
        Different lengths, NaN/inf samples.
    """
    sr = check_sample_rate(sample_rate)
    xa, xb = as_stereo_float32(a, "a"), as_stereo_float32(b, "b")
    if xa.shape != xb.shape:
        raise AudioError(f"clips must have the same length, got {xa.shape[1]} and {xb.shape[1]} samples")
    la, lb = _band_levels_db(xa, sr), _band_levels_db(xb, sr)
    top = max(float(la.max()), float(lb.max()))
    keep = (la > top - DYNAMIC_RANGE_DB) | (lb > top - DYNAMIC_RANGE_DB)
    if not np.any(keep) or top <= -290:
        return 0.0
    floor = top - DYNAMIC_RANGE_DB
    return float(np.mean(np.abs(np.maximum(la, floor) - np.maximum(lb, floor))[keep]))


def _crop(dry: Any, sample_rate: float, crop_seconds: float | None) -> np.ndarray:
    x = as_stereo_float32(dry, "dry")
    if crop_seconds is not None:
        x = x[:, :max(int(round(crop_seconds * sample_rate)), 1)]
    return x


def module_audibility(dry: Any, sample_rate: float, reference: Any,
                      crop_seconds: float | None = None) -> dict[str, float]:
    """For each module of the reference chain, the distance (dB) its bypass makes.

    Renders the reference once and once per module without it (``crop_seconds`` renders
    only the first seconds, for speed).
    """
    chain = as_chain(reference).active
    x = _crop(dry, sample_rate, crop_seconds)
    full = render(x, sample_rate, chain)
    return {name: band_level_distance_db(full, render(x, sample_rate, chain.without(name)), sample_rate)
            for name in chain.names}


def _swapped(chain: Chain, a: str, b: str) -> Chain:
    calls = list(chain.calls)
    i, j = chain.names.index(a), chain.names.index(b)
    calls[i], calls[j] = calls[j], calls[i]
    return Chain(tuple(calls))


def order_audibility(dry: Any, sample_rate: float, reference: Any,
                     crop_seconds: float | None = None) -> dict[tuple[str, str], float]:
    """For each pair ``(a, b)`` with ``a`` before ``b`` in the reference, the distance (dB) their swap makes."""
    chain = as_chain(reference).active
    x = _crop(dry, sample_rate, crop_seconds)
    full = render(x, sample_rate, chain)
    return {(a, b): band_level_distance_db(full, render(x, sample_rate, _swapped(chain, a, b)), sample_rate)
            for a, b in itertools.combinations(chain.names, 2)}


def audible_module_accuracy(predicted: Any, reference: Any, audible: set[str] | frozenset[str]) -> float:
    """Presence accuracy over the modules whose answer can be heard.

    The evaluated modules are the audible modules of the reference (they should be
    predicted present) and the modules absent from the reference (they should be predicted
    absent); inaudible reference modules are left out, so either answer is accepted.
    ``nan`` when nothing is left to evaluate (all 9 modules in the reference, none audible:
    met once in the 900-pair benchmark); the scoring tables' means skip it.
    """
    pred, ref = set(as_chain(predicted).active.names), set(as_chain(reference).active.names)
    evaluated = [m for m in MODULE_NAMES if m not in ref or m in audible]
    if not evaluated:
        return float("nan")
    return sum((m in pred) == (m in ref) for m in evaluated) / len(evaluated)


def pairwise_order_accuracy(predicted: Any, reference: Any,
                            pairs: list[tuple[str, str]] | None = None) -> float:
    """Share of reference pairs ``(a before b)`` that the prediction has in the same order.

    A pair with a module missing from the prediction counts as wrong (so predicting nothing
    cannot score well). ``pairs`` restricts the pairs (e.g. to the audible ones); ``nan``
    when there are none.
    """
    pred, ref = as_chain(predicted).active.names, as_chain(reference).active.names
    pairs = list(itertools.combinations(ref, 2)) if pairs is None else pairs
    if not pairs:
        return float("nan")
    return sum(a in pred and b in pred and pred.index(a) < pred.index(b) for a, b in pairs) / len(pairs)
