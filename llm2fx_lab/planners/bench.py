"""Benchmark planners on LP-Fx-style test pairs: the paper's metrics per chain length.

:func:`make_test_pairs` builds the test split the way the reference does (General MIDI dry
segments, chains sampled as its generator does, the MR-STFT similarity filter) with
``per_length`` pairs for each chain length 1..9 (the LP-Fx test split has 100 per length);
:func:`load_pairs_folder` reads any folder of dry clips with chains. :func:`run_bench` runs a
planner over the pairs and scores them with :func:`llm2fx_lab.analysis.score` (calibration
rows included), in this process or, given a :class:`~llm2fx_lab.data.cluster.ClusterConfig`,
on local processes or a Dask cluster (chunks of pairs; each worker builds the planner from its
name, once, so no loaded model is ever shipped); :func:`markdown_table` formats the result
beside the paper's numbers.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from llm2fx_lab.analysis.mrstft import ClipSpectra
from llm2fx_lab.analysis.scoring import score_examples, summarize
from llm2fx_lab.audio.io import load_audio
from llm2fx_lab.data.chains import sample_chain
from llm2fx_lab.data.cluster import ClusterConfig, map_units
from llm2fx_lab.data.similarity import similarity_filter as official_filter
from llm2fx_lab.data.sources import iter_segments, make_source
from llm2fx_lab.errors import Llm2FxError, PlannerError
from llm2fx_lab.events import collect
from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.fx.render import render
from llm2fx_lab.planners.registry import get_planner

log = logging.getLogger(__name__)

#: The paper's Table (LP-Fx test set, real stems): method -> (Acc, Rank Corr, MAE, MRS L/R).
PAPER_ROWS = {
    "Regression (paper)": (0.55, -0.03, 0.20, 3.81),
    "MultiTask (paper)": (0.61, 0.00, 0.23, 3.17),
    "Gemini 2.5 Flash (paper)": (0.78, 0.54, 0.32, 3.42),
    "LLM2Fx-Tools (paper)": (0.80, 0.56, 0.23, 3.13),
}


def make_test_pairs(per_length: int = 100, seed: int = 1234, source: str = "midi", split: str = "test",
                    lengths: Sequence[int] = tuple(range(1, 10)), seconds: float | None = None,
                    similarity_filter: bool = True) -> list[dict[str, Any]]:
    """LP-Fx-style test pairs: ``per_length`` chains of each length over fresh dry segments.

    Returns
    -------
    list of dict
        ``{"dry", "reference_audio", "sample_rate", "reference" (Chain), "id"}``.
    """
    rng = np.random.default_rng(seed)
    segments = iter_segments(make_source(source, seed=seed), split, 10 ** 9)
    out = []
    for n in lengths:
        made = 0
        while made < per_length:
            seg = next(segments)
            dry = seg.audio if seconds is None else seg.audio[:, : int(seconds * seg.sample_rate)]
            dry_spectra = ClipSpectra(dry) if similarity_filter else None  # filled in as the filter needs it
            for _ in range(20):
                chain = sample_chain(n, rng)
                wet = render(dry, seg.sample_rate, chain)
                if not similarity_filter or official_filter(wet, dry_spectra, n).passed:
                    break
            else:
                continue
            out.append({"dry": dry, "reference_audio": wet, "sample_rate": float(seg.sample_rate),
                        "reference": chain, "id": f"{seg.source_id}-{n}-{made}", "group": seg.group})
            made += 1
    return out


def style_pairs(pairs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Style-transfer pairs from :func:`make_test_pairs` output: each pair's dry clip, with as
    reference *another piece's* dry clip through this pair's chain (the pair at the same place
    in the next piece, by ``group``), and as ``target`` this dry clip through that chain (the
    pair's own reference audio). What a perfect style transfer would output is the target.

    Returns
    -------
    list of dict
        ``{"dry", "reference_audio", "target", "sample_rate", "reference" (Chain), "id"}``.
    """
    groups = sorted({p["group"] for p in pairs})
    if len(groups) < 2:
        raise Llm2FxError(f"style pairs need dry clips from at least 2 pieces; these {len(pairs)} pairs come from "
                          f"{len(groups)}")
    members = {g: [p for p in pairs if p["group"] == g] for g in groups}
    out = []
    for i, g in enumerate(groups):
        others = members[groups[(i + 1) % len(groups)]]
        for j, p in enumerate(members[g]):
            other = others[j % len(others)]["dry"]
            n = min(p["dry"].shape[1], other.shape[1])
            out.append({"dry": p["dry"][:, :n], "target": p["reference_audio"][:, :n],
                        "reference_audio": render(other[:, :n], p["sample_rate"], p["reference"]),
                        "sample_rate": p["sample_rate"], "reference": p["reference"], "id": f"style:{p['id']}"})
    return out


def bundled_style_pairs() -> list[dict[str, Any]]:
    """Style-transfer pairs of the bundled clips (``llm2fx_lab/examples``): for each ordered pair
    of two different clips, the first as dry, the second through its demonstration chain as the
    reference, the first through that chain as the target (keys as :func:`style_pairs`)."""
    from llm2fx_lab.examples import example_chain, list_examples, load_example

    out = []
    for a in list_examples():
        for b in list_examples():
            if a == b:
                continue
            dry, sr = load_example(a)
            other, other_sr = load_example(b, sr)
            chain = example_chain(b)
            n = min(dry.shape[1], other.shape[1])
            out.append({"dry": dry[:, :n], "target": render(dry[:, :n], sr, chain),
                        "reference_audio": render(other[:, :n], sr, chain), "sample_rate": float(sr),
                        "reference": chain, "id": f"style:{a}<-{b}"})
    return out


def first_per_length(pairs: Sequence[dict[str, Any]], per_length: int, k: int) -> list[dict[str, Any]]:
    """The first ``k`` pairs of each chain length of :func:`make_test_pairs` output made with
    ``per_length`` pairs per length (e.g. the first 10 per length of the 900-pair split)."""
    return [p for i, p in enumerate(pairs) if i % per_length < k]


def load_pairs_folder(folder: str | Path) -> list[dict[str, Any]]:
    """Pairs from a folder: ``*.wav``/``*.flac`` dry clips, each with ``NAME.json`` holding its chain.

    The reference audio is the dry clip rendered through the chain (as the official data).
    """
    folder = Path(folder)
    out = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in (".wav", ".flac")):
        meta = path.with_suffix(".json")
        if not meta.exists():
            continue
        chain = Chain.from_tool_calls(json.loads(meta.read_text()))
        dry, sr = load_audio(path)
        out.append({"dry": dry, "reference_audio": render(dry, sr, chain), "sample_rate": float(sr),
                    "reference": chain, "id": path.stem})
    if not out:
        raise Llm2FxError(f"no dry clips with chains (NAME.wav + NAME.json) in {folder}")
    return out


def run_planner(planner: Any, pairs: Sequence[dict[str, Any]], blind: bool = False,
                progress: bool = False) -> tuple[list[Any], list[float]]:
    """Run ``planner`` over the pairs: (predicted chains, seconds per example)."""
    chains, seconds = [], []
    items: Iterable = pairs
    if progress:
        items = tqdm(pairs, desc=getattr(planner, "name", "planner"))
    for pair in items:
        t0 = time.perf_counter()
        result = collect(planner.plan(None if blind else pair["dry"], pair["reference_audio"], pair["sample_rate"]))
        seconds.append(time.perf_counter() - t0)
        chains.append(result.chain)
    return chains, seconds


def run_bench(planner: Any, pairs: Sequence[dict[str, Any]], progress: bool = False,
              cluster: ClusterConfig | None = None, planner_options: dict[str, Any] | None = None,
              pairs_per_task: int = 4, **score_options: Any) -> tuple[Any, Any, list[float]]:
    """Run and score a planner: (summary table, per-example table, seconds per example).

    Parameters
    ----------
    planner : Planner or str
        A planner, or its name for :func:`~llm2fx_lab.planners.registry.get_planner` (with
        ``planner_options``). With ``cluster``, a name: each worker builds the planner once.
    pairs : sequence of dict
        From :func:`make_test_pairs` or :func:`load_pairs_folder`.
    progress : bool
        A progress bar of pairs.
    cluster : ClusterConfig, optional
        Run chunks of ``pairs_per_task`` pairs on local processes or a Dask cluster
        (:func:`~llm2fx_lab.data.cluster.map_units`); the pairs travel to the workers, the
        scores come back. A deterministic planner scores exactly as in this process; a
        time-budgeted one (``+refine``, ``+search``, style mode) depends on each worker's speed.
    **score_options
        For :func:`~llm2fx_lab.analysis.scoring.score_examples` (its ``cache`` is kept in
        this process only).
    """
    if cluster is None:
        if isinstance(planner, str):
            planner = get_planner(planner, **(planner_options or {}))
        chains, seconds = run_planner(planner, pairs, progress=progress)
        per_example = score_examples(pairs, chains, **score_options)
        return summarize(per_example), per_example, seconds
    if not isinstance(planner, str):
        raise PlannerError(f"run_bench on {cluster.describe()} takes the planner's name (e.g. 'analysis', with "
                           f"planner_options): each worker builds its own; got a {type(planner).__name__} object")
    if pairs_per_task < 1:
        raise Llm2FxError(f"pairs_per_task must be >= 1, got {pairs_per_task}")
    score_options.pop("cache", None)
    items = [(planner, dict(planner_options or {}), list(pairs[first:first + pairs_per_task]), first, score_options)
             for first in range(0, len(pairs), pairs_per_task)]
    done = dict(map_units(_bench_unit, items, cluster, weights=[len(item[2]) for item in items], progress=progress,
                          desc=planner, unit="pair"))
    per_example = pd.concat([done[i][0] for i in range(len(items))], ignore_index=True)
    seconds = [s for i in range(len(items)) for s in done[i][1]]
    return summarize(per_example), per_example, seconds


#: Planners a worker has built, by name and options: a model loads once per worker process.
_WORKER_PLANNERS: dict[str, Any] = {}


def _bench_unit(name: str, options: dict[str, Any], pairs: list[dict[str, Any]], first: int,
                score_options: dict[str, Any]) -> tuple[Any, list[float]]:
    """One chunk of :func:`run_bench` on a worker: its per-example scores (``example``
    numbered from ``first``, as in one table of all pairs) and seconds per pair."""
    key = json.dumps([name, options], sort_keys=True, default=str)
    if key not in _WORKER_PLANNERS:
        _WORKER_PLANNERS[key] = get_planner(name, **options)
    chains, seconds = run_planner(_WORKER_PLANNERS[key], pairs)
    per_example = score_examples(pairs, chains, **score_options)
    per_example["example"] += first
    return per_example, seconds


def markdown_table(rows: dict[str, Any], seconds: dict[str, float], note: str = "") -> str:
    """Markdown table: our planners (and calibration rows) beside the paper's rows.

    Parameters
    ----------
    rows : dict of label -> summary DataFrame row (a mapping with acc, rank_corr, mae, mrs, ...)
    seconds : dict of label -> mean seconds per example (missing for calibration rows)
    """
    head = ("| method | audio | Acc | Rank Corr | MAE | MRS L/R | audible Acc | audible order Acc | s / example "
            "| recovery |\n|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    fmt = lambda v, p="{:.2f}": "-" if v is None or not np.isfinite(v) else p.format(v)  # noqa: E731
    for label, r in rows.items():
        lines.append(f"| {label} | ours (generated GM) | {fmt(r['acc'] * 100, '{:.0f}%')} | {fmt(r['rank_corr'])} | "
                     f"{fmt(r['mae'], '{:.3f}')} | {fmt(r['mrs_l'])} / {fmt(r['mrs_r'])} | "
                     f"{fmt(r.get('audible_acc', np.nan) * 100, '{:.0f}%')} | "
                     f"{fmt(r.get('audible_order_acc', np.nan) * 100, '{:.0f}%')} | {fmt(seconds.get(label))} | "
                     f"{fmt(r.get('recovered', np.nan) * 100, '{:.0f}%')} |")
    for label, (acc, rc, mae, mrs) in PAPER_ROWS.items():
        lines.append(f"| {label} | paper (LP-Fx, MedleyDB stems; different audio) | {acc * 100:.0f}% | {rc:.2f} | "
                     f"{mae:.2f} | {mrs:.2f} | - | - | - | - |")
    return (note + "\n\n" if note else "") + head + "\n".join(lines) + "\n"


def report_rows(summary: Any) -> list[dict[str, Any]]:
    """The summary table as JSON-ready rows (nan as None)."""
    rows = []
    for record in summary.to_dict("records"):
        rows.append({k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in record.items()})
    return rows
