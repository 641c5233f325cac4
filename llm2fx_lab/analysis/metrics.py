"""The paper's metrics, and two of ours that say what could be heard.

Definitions (``shared/reference/llm2fx-tools.md``; the paper released no evaluation script,
these reproduce its baseline rows):

- **Acc** (:func:`module_accuracy`): for each of the 9 modules, is "present" predicted
  correctly; the mean over modules, then over examples. Always predicting all 9 scores
  ``E[n]/9``.
- **Rank Corr** (:func:`rank_correlation`): Spearman correlation between the predicted and the
  true positions of the modules present in both chains. With fewer than 2 common modules it
  is undefined: the example is left out of the mean and the table reports how many were used.
- **MAE** (:func:`parameter_mae`): mean absolute error of parameters of modules present in
  both, each normalised *linearly* over its official range (:func:`normalize_linear`).
- **MRS L/R** (:func:`mrstft_lr`): auraloss ``MultiResolutionSTFTLoss`` with its defaults
  (computed without torch, equal to auraloss to 1e-4 relative), on the left and on the right
  channel, between the reference and the dry rendered with the predicted chain.
- **Embedding similarity** (:func:`embedding_similarity`): cosine similarity of embeddings
  of those two signals under any encoder passed in.

Ours (see :mod:`llm2fx_lab.analysis.audibility`): audible-module accuracy and audible
order accuracy. :func:`score` puts all of them in one table with per-chain-length rows and
two calibration methods computed on the same examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from llm2fx_lab.analysis.mrstft import ClipSpectra, mrstft_distance
from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.errors import AudioError, ParameterError
from llm2fx_lab.fx.chain import Chain, as_chain
from llm2fx_lab.fx.spec import MODULE_NAMES, TOOLSET


def _names(chain: Any) -> tuple[str, ...]:
    """Rendered module names (bypassed ones do not count)."""
    return as_chain(chain).active.names


def normalize_linear(module_name: str, param_name: str, value: float) -> float:
    """Min-max normalise a value over the official range: ``(v - min) / (max - min)``.

    The official code (``normalize_param``) normalises every parameter linearly, also the
    log-scale ones (attack and release times), and the paper's MAE is computed that way.
    :meth:`~llm2fx_lab.fx.spec.ParamSpec.normalize` uses a log shape for log-scale
    parameters (right for sliders, not comparable with the paper), so MAE uses this.

    Examples
    --------
    >>> normalize_linear("compressor", "attack_ms", 250.0)
    0.5
    """
    spec = TOOLSET[module_name].param(param_name) if module_name in TOOLSET else None
    if spec is None:
        raise ParameterError(f"unknown module {module_name!r}; allowed: {', '.join(MODULE_NAMES)}")
    return (float(value) - spec.minimum) / (spec.maximum - spec.minimum)


def module_accuracy(predicted: Any, reference: Any) -> float:
    """Presence accuracy over the 9 modules, in [0, 1].

    Examples
    --------
    >>> module_accuracy([{"name": "gain", "arguments": {}}], [{"name": "reverb", "arguments": {}}])
    0.7777777777777778
    """
    pred, ref = set(_names(predicted)), set(_names(reference))
    return sum((m in pred) == (m in ref) for m in MODULE_NAMES) / len(MODULE_NAMES)


def _ranks(values: Sequence[float]) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ranks


def rank_correlation(predicted: Any, reference: Any) -> float:
    """Spearman correlation of the positions of the modules present in both chains.

    Positions are ranked among the common modules (a module only one chain has does not
    shift the others), so the result is in [-1, 1]; ``nan`` with fewer than 2 common
    modules (the correlation is undefined there, and :func:`score` leaves such examples
    out of the mean and reports how many it used).
    """
    pred, ref = _names(predicted), _names(reference)
    common = [m for m in ref if m in pred]
    if len(common) < 2:
        return float("nan")
    rp = _ranks([pred.index(m) for m in common])
    rr = _ranks([ref.index(m) for m in common])
    rp, rr = rp - rp.mean(), rr - rr.mean()
    return float(np.dot(rp, rr) / math.sqrt(np.dot(rp, rp) * np.dot(rr, rr)))


def parameter_mae(predicted: Any, reference: Any) -> float:
    """Mean |normalised predicted - normalised true| over the parameters of common modules.

    ``nan`` when no module is in both chains.
    """
    pred, ref = as_chain(predicted).active, as_chain(reference).active
    errors = [abs(normalize_linear(call.name, k, pred[call.name][k]) - normalize_linear(call.name, k, v))
              for call in ref if call.name in pred.names for k, v in call.arguments]
    return float(np.mean(errors)) if errors else float("nan")


@dataclass(frozen=True)
class ReferenceSpectra:
    """A reference's per-channel MR-STFT spectra for :func:`mrstft_lr`, computed once
    (:func:`reference_spectra`) and reused for every estimate scored against it."""

    channels: tuple  # one data.mrstft.ClipSpectra per channel (left, right)
    n_samples: int  # the reference's length before any crop
    crop_seconds: float | None
    sample_rate: float


def _crop(x: np.ndarray, sample_rate: float, crop_seconds: float | None) -> np.ndarray:
    return x if crop_seconds is None else x[:, : max(int(round(crop_seconds * sample_rate)), 1)]


def reference_spectra(reference: Any, sample_rate: float, crop_seconds: float | None = None) -> ReferenceSpectra:
    """The left and right spectra of ``reference`` that :func:`mrstft_lr` compares with."""
    check_sample_rate(sample_rate)
    ref = as_stereo_float32(reference, "reference")
    cropped = _crop(ref, sample_rate, crop_seconds)
    return ReferenceSpectra(tuple(ClipSpectra(cropped[c][None]) for c in (0, 1)), ref.shape[1],
                            crop_seconds, float(sample_rate))


def mrstft_lr(reference: Any, estimate: Any, sample_rate: float,
              crop_seconds: float | None = None) -> tuple[float, float]:
    """Multi-resolution STFT distance on the left and right channels (auraloss defaults).

    auraloss ``MultiResolutionSTFTLoss()``: FFT 1024/2048/512, hop 120/240/50, window
    600/1200/240, Hann, spectral convergence + log magnitude, mean over resolutions. Computed
    by :mod:`llm2fx_lab.analysis.mrstft` (the same number as auraloss to 1e-4 relative, tested;
    about 5x faster, and without torch). ``reference`` may be :func:`reference_spectra`'s result,
    to score several estimates against one reference; ``crop_seconds`` measures only the
    first seconds (faster, not the paper's number).

    Returns
    -------
    (left, right) : tuple of float
        0 for identical signals.

    Raises
    ------
    AudioError
        Different lengths, NaN/inf samples, bad shapes, spectra made with another crop or rate.
    """
    check_sample_rate(sample_rate)
    if isinstance(reference, ReferenceSpectra):
        if (reference.crop_seconds, reference.sample_rate) != (crop_seconds, float(sample_rate)):
            raise AudioError(f"reference spectra were made with crop_seconds={reference.crop_seconds} at "
                             f"{reference.sample_rate:g} Hz, not crop_seconds={crop_seconds} at {sample_rate:g} Hz")
        spectra = reference
    else:
        spectra = None
        ref = as_stereo_float32(reference, "reference")
    est = as_stereo_float32(estimate, "estimate")
    n_ref = spectra.n_samples if spectra is not None else ref.shape[1]
    if n_ref != est.shape[1]:
        raise AudioError(f"reference and estimate must have the same length, got {n_ref} and {est.shape[1]} samples")
    if spectra is None:
        spectra = reference_spectra(ref, sample_rate, crop_seconds)
    est = _crop(est, sample_rate, crop_seconds)
    left, right = (mrstft_distance(est[c][None], spectra.channels[c]) for c in (0, 1))
    return left, right


def embedding_similarity(reference: Any, estimate: Any, sample_rate: float,
                         encoder: Callable[[np.ndarray, float], Any]) -> float:
    """Cosine similarity of ``encoder(reference)`` and ``encoder(estimate)``.

    ``encoder(audio (2, samples) float32, sample_rate) -> array``; embeddings with more than
    one axis (e.g. frames x features) are averaged over all axes but the last first.
    """
    def embed(x: Any, name: str) -> np.ndarray:
        e = np.asarray(encoder(as_stereo_float32(x, name), sample_rate), dtype=np.float64)
        e = e.reshape(-1, e.shape[-1]).mean(axis=0) if e.ndim > 1 else e.ravel()
        if not np.all(np.isfinite(e)) or not np.any(e):
            raise AudioError(f"the {name} embedding is zero or not finite; cosine similarity is undefined")
        return e

    a, b = embed(reference, "reference"), embed(estimate, "estimate")
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def mid_range_chain(chain: Any) -> Chain:
    """The same modules in the same order, every parameter at the middle of its official range."""
    return Chain.from_tool_calls(
        [{"name": c.name,
          "arguments": {p.name: (p.minimum + p.maximum) / 2 for p in TOOLSET[c.name].params}}
         for c in as_chain(chain).active])
