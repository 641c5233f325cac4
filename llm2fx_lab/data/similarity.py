"""The official similarity filter: a sampled chain is kept only when it audibly changes the dry clip.

The official generator (``preprocessing/fx_processor/fx_sampling_ndsp.py``) drops a chain when
``auraloss.freq.MultiResolutionSTFTLoss()(wet, dry)`` is below a threshold that depends on the
chain's length. The distance is :mod:`llm2fx_lab.analysis.mrstft`'s; this module is the rule, and
it stops measuring as soon as a chain is certain to pass
(:func:`~llm2fx_lab.analysis.mrstft.bounded_distance`), so the decision is the full
computation's at a fraction of its cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llm2fx_lab.analysis.mrstft import ClipSpectra, as_clip, bounded_distance, fits
from llm2fx_lab.errors import AudioError

#: Official thresholds: below these a chain barely changes the audio and is dropped.
THRESHOLD_SHORT = 0.3
THRESHOLD_LONG = 2.0
#: Chains of this many modules or more take :data:`THRESHOLD_LONG`.
LONG_CHAIN = 5


def similarity_threshold(n_modules: int) -> float:
    """The official threshold: 0.3 below 5 modules, 2.0 from 5 modules on."""
    return THRESHOLD_LONG if n_modules >= LONG_CHAIN else THRESHOLD_SHORT


def passes_similarity_filter(distance: float, n_modules: int) -> bool:
    """True when a chain changes the audio enough to be kept (official rule, ``>=`` keeps)."""
    return float(distance) >= similarity_threshold(n_modules)


@dataclass(frozen=True)
class FilterDecision:
    """:func:`similarity_filter`'s answer. ``distance`` is the exact MR-STFT distance when
    ``exact``; otherwise a lower bound of it that already reached the threshold."""

    passed: bool
    distance: float
    exact: bool


def similarity_filter(wet: Any, dry: Any, n_modules: int, exact: bool = False) -> FilterDecision:
    """The official keep/drop decision for a chain of ``n_modules`` that turned ``dry`` into
    ``wet`` (both ``(channels, samples)``); ``dry`` may be a :class:`ClipSpectra` (reused
    across candidate chains).

    Stops early once the chain is certain to pass unless ``exact``.

    Raises
    ------
    AudioError
        ``wet`` and ``dry`` differ in shape, or either is not finite.
    """
    clip = dry if isinstance(dry, ClipSpectra) else ClipSpectra(dry)
    x = as_clip(wet)
    if not fits(x, clip):
        raise AudioError(f"wet and dry differ in shape: {x.shape} vs {(clip.n_channels, clip.n_samples)}")
    threshold = similarity_threshold(n_modules)
    distance, is_exact = bounded_distance(x, clip, None if exact else threshold)
    return FilterDecision(passes_similarity_filter(distance, n_modules), distance, is_exact)
