"""The stretch of a pair that render-based decisions are measured on: a loud crop with pre-roll.

Rendering a whole 10 s pair for every candidate order or parameter set is too slow, so the
order search, the gain and refinement render the loudest ``crop_seconds`` only. The reference
was rendered from the whole clip, so its crop holds reverb and echo tails and compressor state
from before the crop: the dry clip is rendered from ``preroll_seconds`` before it and the
pre-roll cut off again (:meth:`Span.tail`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from llm2fx_lab.errors import ParameterError

#: Seconds of dry clip rendered before a crop: 2 s gives the true chain an MR-STFT distance of
#: 0.000 to its own reference's crop (median over development pairs; docs/decisions.md).
PREROLL_SECONDS = 2.0


@dataclass(frozen=True)
class Span:
    """The stretch of a pair that render-based decisions are measured on.

    ``dry`` starts ``preroll_samples`` before the crop, so that rendering it gives the
    reverb and echo tails and the compressor state that enter the crop in the reference
    (rendered from the whole clip); :meth:`tail` keeps the rendered crop.
    """

    dry: np.ndarray
    reference: np.ndarray
    preroll_samples: int

    def tail(self, rendered: Any) -> Any:
        """The crop of a render of :attr:`dry` (NumPy array or torch tensor, samples last)."""
        return rendered[..., self.preroll_samples:self.preroll_samples + self.reference.shape[-1]]


def loudest_span(x: np.ndarray, y: np.ndarray, sr: float, seconds: float,
                 preroll_seconds: float | None = None) -> Span:
    """The loudest ``seconds`` of the pair (by dry energy), with up to ``preroll_seconds``
    (default :data:`PREROLL_SECONDS`) of the dry clip before it.

    Parameters
    ----------
    x, y : ndarray, shape (2, samples), float32
        The dry clip and the reference.
    sr : float
        Sample rate in Hz.
    seconds : float
        Length of the crop.

    Raises
    ------
    ParameterError
        ``preroll_seconds`` negative, NaN or infinite.
    """
    preroll_seconds = PREROLL_SECONDS if preroll_seconds is None else float(preroll_seconds)
    if not (math.isfinite(preroll_seconds) and preroll_seconds >= 0):
        raise ParameterError(f"preroll_seconds must be a finite number >= 0 (or None for the default "
                             f"{PREROLL_SECONDS:g} s), got {preroll_seconds}")
    n = min(x.shape[1], y.shape[1])
    k = int(seconds * sr)
    if n <= k:
        return Span(x[:, :n], y[:, :n], 0)
    hop = max(k // 4, 1)
    energy = [(float(np.mean(x[:, s:s + k] ** 2)), s) for s in range(0, n - k + 1, hop)]
    s = max(energy)[1]
    start = max(0, s - int(round(preroll_seconds * sr)))
    return Span(x[:, start:s + k], y[:, s:s + k], s - start)
