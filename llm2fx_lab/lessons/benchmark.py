"""Helpers of ``05_benchmark``: the paper's metrics beside the paper's rows."""

from __future__ import annotations

from typing import Mapping

import pandas as pd
from matplotlib.figure import Figure

from llm2fx_lab.errors import ParameterError
from llm2fx_lab.planners.bench import PAPER_ROWS

#: The paper's metrics as the benchmark notebook labels them, in the order of ``PAPER_ROWS``.
METRICS = ("Acc", "Rank Corr", "MAE", "MRS L")


def benchmark_rows(tables: Mapping[str, pd.DataFrame], n_pairs: int) -> pd.DataFrame:
    """Our benchmark summaries as one table, in the notebook's column names.

    Parameters
    ----------
    tables : mapping of planner name to DataFrame
        Summaries from :func:`llm2fx_lab.planners.bench.run_bench` (one row per method and
        chain length, as :func:`llm2fx_lab.analysis.summarize` makes them).
    n_pairs : int
        How many test pairs were scored (shown in the ``audio`` column).

    Returns
    -------
    pandas.DataFrame
        Columns ``row`` (the planner, or ``calibration: METHOD``), ``chain length`` (``"1"``..
        ``"9"``, ``"all"``), ``n``, ``Acc``, ``Rank Corr``, ``MAE``, ``MRS L``, ``MRS R`` and
        ``audio``. The calibration rows, the same for every planner, appear once.
    """
    if not tables:
        raise ParameterError("benchmark_rows needs at least one planner's summary table")
    rows = []
    for name, t in tables.items():
        for _, r in t.iterrows():
            label = name if r["method"] == "prediction" else f"calibration: {r['method']}"
            rows.append({"row": label, "chain length": r["chain_length"], "n": r["n_examples"], "Acc": r["acc"],
                         "Rank Corr": r["rank_corr"], "MAE": r["mae"], "MRS L": r["mrs_l"], "MRS R": r["mrs_r"],
                         "audio": f"ours: {n_pairs} generated pairs"})
    return pd.DataFrame(rows).drop_duplicates(["row", "chain length"]).reset_index(drop=True)


def paper_rows() -> pd.DataFrame:
    """The LLM2Fx-Tools paper's rows (Table 2, 900 LP-Fx test pairs) in :func:`benchmark_rows`' columns.

    The paper gives one MR-STFT number; it is shown under ``MRS L`` (``MRS R`` is NaN).
    """
    return pd.DataFrame([{"row": k, "chain length": "all", "n": 900, "Acc": a, "Rank Corr": rc, "MAE": mae,
                          "MRS L": mrs, "MRS R": float("nan"), "audio": "paper: LP-Fx (different audio)"}
                         for k, (a, rc, mae, mrs) in PAPER_ROWS.items()])


def per_length_figure(ours: pd.DataFrame) -> Figure:
    """Each metric against chain length, one line per row of ``ours``, the paper's result dashed.

    Parameters
    ----------
    ours : pandas.DataFrame
        From :func:`benchmark_rows`; its rows with a numeric chain length are drawn.
    """
    per_length = ours[ours["chain length"] != "all"].copy()
    if per_length.empty:
        raise ParameterError("per_length_figure needs rows with a chain length 1..9; got only 'all' rows")
    per_length["length"] = per_length["chain length"].astype(int)
    paper = dict(zip(METRICS, PAPER_ROWS["LLM2Fx-Tools (paper)"]))
    fig = Figure(figsize=(14, 3.2), layout="constrained")
    axes = fig.subplots(1, len(METRICS))
    for ax, metric in zip(axes, METRICS):
        for label, part in per_length.groupby("row"):
            ax.plot(part["length"], part[metric], "o-", label=label)
        ax.axhline(paper[metric], ls="--", color="k", label="LLM2Fx-Tools (paper, different audio)")
        ax.set_title(metric)
        ax.set_xlabel("chain length")
    axes[0].legend(fontsize=7)
    return fig
