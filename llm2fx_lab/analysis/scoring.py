"""Score a list of predictions against references: one table, as the paper reports it.

:func:`score_examples` gives one row per (method, example); :func:`score` aggregates them
into per-chain-length rows plus an ``"all"`` row, for three methods computed on the same
examples: ``"prediction"`` and two calibration rows, ``"empty chain"`` (predict nothing)
and ``"true modules, mid params"`` (the true modules in the true order with every
parameter at the middle of its range). The calibrations tell how much of a score is free.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from llm2fx_lab.analysis import audibility as A
from llm2fx_lab.analysis import metrics as M
from llm2fx_lab.errors import ParameterError
from llm2fx_lab.fx.chain import Chain, as_chain
from llm2fx_lab.fx.render import render

METHODS = ("prediction", "empty chain", "true modules, mid params")
#: Columns averaged over examples (nan values are left out of each mean).
SCORE_COLUMNS = ("acc", "rank_corr", "mae", "mrs_l", "mrs_r", "mrs", "recovered", "emb_sim",
                 "audible_acc", "order_acc", "audible_order_acc")
#: A pair counts as recovered when the estimate renders within this MR-STFT distance (mean of
#: left and right) of the reference: the recovery rate is the mean of ``recovered``. Exact
#: chains score 0; 0.05 is well below what any audible difference of one grid step gives.
RECOVERY_MRSTFT = 0.05


def _get(example: Any, key: str, default: Any = None) -> Any:
    if isinstance(example, Mapping):
        return example.get(key, default)
    return getattr(example, key, default)


def score_examples(examples: Sequence[Any], predictions: Sequence[Any], *,
                   encoder: Callable[[np.ndarray, float], Any] | None = None,
                   mrstft: bool = True, mrstft_crop_seconds: float | None = None,
                   audibility: bool = True, threshold_db: float = A.AUDIBLE_THRESHOLD_DB,
                   audibility_crop_seconds: float | None = None, calibration: bool = True,
                   cache: dict | None = None) -> "Any":
    """One row per (method, example) with every metric.

    Parameters
    ----------
    examples : sequence of mappings or objects
        Each with ``dry`` (audio ``(channels, samples)``), ``sample_rate`` (Hz) and
        ``reference`` (the true chain); optionally ``reference_audio`` (else the dry is
        rendered with the reference chain, without tail, as the official data).
    predictions : sequence of chains
        One per example (a :class:`Chain`, tool-call data or JSON text).
    encoder : callable, optional
        ``encoder(audio, sample_rate) -> embedding``; adds ``emb_sim``.
    mrstft : bool, default True
        MR-STFT L/R costs about 0.1 s per 10 s example and method on this CPU (the reference's
        spectra, computed once per example, about 0.15 s more); False skips it.
    mrstft_crop_seconds, audibility_crop_seconds : float, optional
        Measure only the first seconds (faster, not the paper's numbers).
    audibility : bool, default True
        Compute the audible-module and audible-order metrics (renders the reference once per
        module and once per module pair).
    threshold_db : float
        Audibility threshold (see :mod:`llm2fx_lab.analysis.audibility`).
    calibration : bool, default True
        Also score the two calibration methods ("empty chain", "true modules, mid params");
        they depend on the examples only, so a benchmark of several planners needs them once.
    cache : dict, optional
        Keeps each example's audible modules and pairs between calls (several planners scored
        on the same examples, or on a subset of them), keyed by the example objects' identity:
        keep the examples alive and unchanged while the cache is in use.

    Returns
    -------
    pandas.DataFrame
        Columns ``method, example, chain_length`` and :data:`SCORE_COLUMNS`, plus
        ``n_audible_modules`` and ``n_audible_pairs``.
    """
    import pandas as pd

    if len(examples) != len(predictions):
        raise ParameterError(f"need one prediction per example, got {len(predictions)} for {len(examples)}")
    rows = []
    for i, (example, predicted) in enumerate(zip(examples, predictions)):
        dry, sr = _get(example, "dry"), float(_get(example, "sample_rate"))
        reference = as_chain(_get(example, "reference")).active
        ref_audio = _get(example, "reference_audio")
        if ref_audio is None:
            ref_audio = render(dry, sr, reference)
        audible: set[str] = set()
        audible_pairs: list[tuple[str, str]] = []
        if audibility:
            key = ("audibility", id(example), threshold_db, audibility_crop_seconds)
            found = cache.get(key) if cache is not None else None
            if found is None:
                found = ({m for m, d in A.module_audibility(dry, sr, reference, audibility_crop_seconds).items()
                          if d > threshold_db},
                         [p for p, d in A.order_audibility(dry, sr, reference, audibility_crop_seconds).items()
                          if d > threshold_db])
                if cache is not None:
                    cache[key] = found
            audible, audible_pairs = found
        chains = {"prediction": as_chain(predicted, "lenient")}
        if calibration:
            chains.update({"empty chain": Chain(), "true modules, mid params": M.mid_range_chain(reference)})
        ref_spectra = None  # the reference's MR-STFT spectra, made once for all methods
        for method, chain in chains.items():
            row: dict[str, Any] = {
                "method": method, "example": i, "chain_length": len(reference),
                "acc": M.module_accuracy(chain, reference),
                "rank_corr": M.rank_correlation(chain, reference),
                "mae": M.parameter_mae(chain, reference),
                "order_acc": A.pairwise_order_accuracy(chain, reference),
            }
            if audibility:
                row.update(audible_acc=A.audible_module_accuracy(chain, reference, audible),
                           audible_order_acc=A.pairwise_order_accuracy(chain, reference, audible_pairs),
                           n_audible_modules=len(audible), n_audible_pairs=len(audible_pairs))
            if mrstft or encoder is not None:
                estimate = render(dry, sr, chain)
                if estimate.shape != np.shape(ref_audio) and np.ndim(ref_audio) == 2:
                    n = min(estimate.shape[1], np.shape(ref_audio)[1])
                    estimate, ref_audio = estimate[:, :n], np.asarray(ref_audio)[:, :n]
                if mrstft:
                    if ref_spectra is None or ref_spectra.n_samples != estimate.shape[-1]:
                        ref_spectra = M.reference_spectra(ref_audio, sr, mrstft_crop_seconds)
                    left, right = M.mrstft_lr(ref_spectra, estimate, sr, mrstft_crop_seconds)
                    row.update(mrs_l=left, mrs_r=right, mrs=(left + right) / 2,
                               recovered=float((left + right) / 2 <= RECOVERY_MRSTFT))
                if encoder is not None:
                    row["emb_sim"] = M.embedding_similarity(ref_audio, estimate, sr, encoder)
            rows.append(row)
    frame = pd.DataFrame(rows)
    for column in SCORE_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    return frame


def summarize(per_example: "Any") -> "Any":
    """Aggregate :func:`score_examples` rows: mean per (method, chain length) and over all.

    ``n_examples`` counts the examples of the group; ``rank_corr_n`` how many of them had at
    least 2 common modules and so entered the Rank Corr mean.
    """
    import pandas as pd

    out = []
    for method in [m for m in METHODS if m in set(per_example["method"])]:
        part = per_example[per_example["method"] == method]
        groups = [(n, part[part["chain_length"] == n]) for n in sorted(set(part["chain_length"]))]
        for length, group in groups + [("all", part)]:
            row: dict[str, Any] = {"method": method, "chain_length": str(length),
                                   "n_examples": len(group),
                                   "rank_corr_n": int(group["rank_corr"].notna().sum())}
            row.update({c: float(group[c].mean()) for c in SCORE_COLUMNS})
            out.append(row)
    return pd.DataFrame(out)


def score(examples: Sequence[Any], predictions: Sequence[Any], **options: Any) -> "Any":
    """Score predictions as the paper does, plus audibility metrics and calibration rows.

    Takes the arguments of :func:`score_examples` and returns :func:`summarize` of it: a
    pandas DataFrame with one row per method (``"prediction"``, ``"empty chain"``,
    ``"true modules, mid params"``) and chain length (``"1"`` .. ``"9"``, ``"all"``).
    Acc, accuracies and MAE are fractions in [0, 1] (the paper prints Acc in %).
    """
    return summarize(score_examples(examples, predictions, **options))
