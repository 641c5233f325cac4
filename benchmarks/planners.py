"""Benchmark of the planners on LP-Fx-style generated test pairs, beside the paper's numbers.

Pairs: General MIDI dry segments (FluidSynth), chains sampled as the reference generator
does, the MR-STFT similarity filter; ``--per-length`` pairs for each chain length 1..9 (the
LP-Fx test split has 100 per length, 900 in all). The paper's rows were measured on LP-Fx
(MedleyDB stems): different audio, so compare with care. The calibration rows ("empty
chain", "true modules, mid params") are measured on our pairs.

Run: ``.venv/bin/python benchmarks/planners.py [--per-length 100] [--planners analysis analysis+refine]
[--refine-subset 2]``; ``--subset K`` keeps the first K pairs per length, ``--set analysis.NAME=VALUE``
and ``--set refine.NAME=VALUE`` change an :class:`AnalysisConfig` or :class:`RefineConfig`
setting (how ``docs/decisions.md`` measures its choices; such runs print with ``--no-write``).

The section keeps the rows of planners not run this time when the earlier run used the same
pairs (same note line), and says which rows come from which run; ``--replace`` drops them.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPORT, write_section  # noqa: E402
from _report import markdown_table as md_table

from llm2fx_lab.planners import get_planner  # noqa: E402
from llm2fx_lab.planners.bench import first_per_length, make_test_pairs, markdown_table, run_bench  # noqa: E402
from llm2fx_lab.planners.registry import base_name  # noqa: E402


def settings(pairs: list[str]) -> dict[str, dict]:
    """``["analysis.gain_override_db=6", "refine.toggle_steps=4"]`` -> ``{"analysis": {...}, "refine": {...}}``.

    Values are Python literals (``None``, ``4``, ``0.5``); the configs check names and ranges.
    """
    out: dict[str, dict] = {"analysis": {}, "refine": {}}
    for item in pairs:
        key, sep, value = item.partition("=")
        which, _, name = key.partition(".")
        if not sep or which not in out or not name:
            raise SystemExit(f"--set takes analysis.NAME=VALUE or refine.NAME=VALUE, got {item!r}")
        try:
            out[which][name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise SystemExit(f"--set {item!r}: the value must be a Python literal (4, 0.5, None)") from None
    return out


def planner_for(name: str, changes: dict[str, dict]):
    """The planner ``name`` with the ``--set`` changes that apply to it."""
    base = base_name(name)
    options = dict(changes["analysis"]) if base == "analysis" else {}
    if base != name and changes["refine"]:
        options["refine_options"] = dict(changes["refine"])
    return get_planner(name, **options)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-length", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--subset", type=int, default=None, help="keep only the first K pairs of each chain length")
    parser.add_argument("--planners", nargs="+", default=["analysis"])
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="CONFIG.NAME=VALUE",
                        help="change an analysis.* (AnalysisConfig) or refine.* (RefineConfig) setting")
    parser.add_argument("--refine-subset", type=int, default=None,
                        help="run '+refine' and '+search' planners on only this many pairs per length (slow on CPU)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    parser.add_argument("--replace", action="store_true",
                        help="drop the rows of planners not run now (default: keep them when the pairs match)")
    args = parser.parse_args(argv)
    changes = settings(args.settings)
    if (args.settings or args.subset) and not args.no_write:
        parser.error("--set and --subset runs are experiments: add --no-write (docs/benchmarks.md keeps the defaults)")

    t0 = time.perf_counter()
    pairs = make_test_pairs(args.per_length, seed=args.seed)
    if args.subset:
        pairs = first_per_length(pairs, args.per_length, args.subset)
    print(f"{len(pairs)} pairs made in {time.perf_counter() - t0:.0f} s", flush=True)
    rows, seconds, sections = {}, {}, []
    cache: dict = {}  # each pair's audible modules, measured once for all planners
    for name in args.planners:
        subset = pairs
        if name.endswith(("+refine", "+search")) and args.refine_subset:
            subset = first_per_length(pairs, args.subset or args.per_length, args.refine_subset)
        # calibration rows from the first run over all the pairs (a subset's would mislead)
        calibration = not any(k.startswith("calibration") for k in rows) and (
            len(subset) == len(pairs) or name == args.planners[-1])
        t = time.perf_counter()
        summary, _, secs = run_bench(planner_for(name, changes), subset, progress=True, audibility_crop_seconds=3.0,
                                     calibration=calibration, cache=cache)
        print(f"{name}: planned and scored in {time.perf_counter() - t:.0f} s", flush=True)
        everything = summary[summary["chain_length"] == "all"].set_index("method")
        label = f"{name} ({len(subset)} pairs)"
        rows[label] = everything.loc["prediction"].to_dict()
        seconds[label] = float(np.mean(secs))
        if calibration:
            for method in ("empty chain", "true modules, mid params"):
                suffix = "" if len(subset) == len(pairs) else f", {len(subset)} pairs"
                rows[f"calibration: {method}{suffix}"] = everything.loc[method].to_dict()
        per_length = summary[summary["method"] == "prediction"][
            ["chain_length", "n_examples", "acc", "rank_corr", "mae", "mrs", "audible_acc", "audible_order_acc",
             "recovered"]]
        sections.append(f"Per chain length, `{name}`:\n\n" + md_table(list(per_length.columns),
                                                                       per_length.values.tolist()))
        print(per_length.to_string(index=False), flush=True)
    note = (f"{len(pairs)} generated pairs ({args.per_length} per chain length 1..9, seed {args.seed}); "
            "MRS L/R is auraloss MR-STFT on left/right; Acc over the 9 modules; Rank Corr and MAE over modules "
            "present in both chains. Paper rows: LP-Fx test set (MedleyDB stems), **different audio**.")
    table = markdown_table(rows, seconds, note)
    if not args.replace:
        table, sections = merge_previous(table, sections, args.planners, note)
    body = table + "\n" + "\n\n".join(sections) + "\n"
    print(body)
    if not args.no_write:
        print("wrote", write_section("planners", "Planners (LP-Fx-style generated test pairs)", body))


def _previous_section(path: Path = REPORT) -> str:
    text = path.read_text() if path.exists() else ""
    m = re.search(r"<!-- BEGIN planners -->(.*?)<!-- END planners -->", text, re.S)
    return m.group(1) if m else ""


def merge_previous(table: str, sections: list[str], planners: list[str], note: str,
                   previous: str | None = None) -> tuple[str, list[str]]:
    """Keep the earlier section's rows and per-length tables of planners not run now.

    Only when the earlier run measured the same pairs (its note line equals ``note``); the
    kept rows are marked with the run they come from. Returns the new (table, sections).
    """
    previous = _previous_section() if previous is None else previous
    if note not in previous:
        return table, sections
    provenance = re.findall(r"^- (date|command): (.*)$", previous, re.M)
    kept_rows, kept_names = [], []
    # calibration rows over all the pairs depend on the pairs only: kept when this run measured
    # them on a subset (", N pairs" in the label) or not at all
    labels = {line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")}
    calibration = [line for line in previous.splitlines()
                   if line.startswith("| calibration: ") and not re.search(r", \d+ pairs$", line.split("|")[1].strip())
                   and line.split("|")[1].strip() not in labels]
    for line in previous.splitlines():
        m = re.match(r"^\| (\S+) \((\d+) pairs\) \|", line)
        if m and m.group(1) not in planners:
            kept_rows.append(line)
            kept_names.append(m.group(1))
    if not kept_rows and not calibration:
        return table, sections
    kept_rows = calibration + kept_rows
    blocks = re.findall(r"(Per chain length, `([^`]+)`:\n\n(?:\|.*\n?)+)", previous)
    kept_sections = [b.strip() for b, name in blocks if name in kept_names]
    lines = table.splitlines()
    # rows from a run before a column was added get "-" in it
    width = next(line for line in lines if line.startswith("| method ")).count("|")
    kept_rows = [line + " - |" * (width - line.count("|")) for line in kept_rows]
    at = next(i for i, line in enumerate(lines) if "(paper)" in line)
    lines[at:at] = kept_rows
    # rows an earlier merge already carried keep their own provenance line
    notes, carried = [], set()
    for line in re.findall(r"^Rows for .* are kept from the earlier run on the same pairs .*$", previous, re.M):
        head, tail = line.split(" are kept", 1)
        names = [n for n in re.findall(r"`([^`]+)`", head) if n in kept_names and n not in carried]
        if names:  # still-kept rows keep the provenance of the run that measured them
            notes.append(f"Rows for {', '.join(f'`{n}`' for n in names)} are kept{tail}")
            carried.update(names)
    if calibration:
        notes.append("Calibration rows over all the pairs are kept from the earlier run on the same pairs "
                     "(they depend on the pairs only).")
    fresh = [n for n in kept_names if n not in carried]
    if fresh:
        where = "; ".join(f"{k} {v}" for k, v in provenance)
        listed = ", ".join(f"`{n}`" for n in fresh)
        notes.append(f"Rows for {listed} are kept from the earlier run on the same pairs ({where}).")
    table = "\n".join(lines) + "\n\n" + "\n\n".join(notes) + "\n"
    return table, kept_sections + sections


if __name__ == "__main__":
    main()
