"""Refinement (render -> measure -> refine) time and quality, CPU against GPU, on the same pairs.

On each device, each pair is planned by the ``analysis`` planner with that device (its order
search renders there: pedalboard on the CPU, the batched torch renderer on a GPU), then its
chain is refined with :func:`llm2fx_lab.planners.refine.refine` (its defaults: 25 gradient
steps, structure search, 15 s budget, 1.5 s crop after 2 s of pre-roll) there, as
``get_planner("analysis+refine", device=...)`` does, except that all pairs are planned
before any is refined: the presence check then measures each pair again (``measure_pair`` keeps
only the last 2 pairs), which ``analysis+refine`` does not, so "total" overstates it by about
0.24 s per pair on 2 CPU cores (more on a slower CPU). Reported per device: seconds per example (the
analysis planner's time plus refinement, as ``analysis+refine`` costs), how many pairs ran
into the time budget, the loss before and after, and the paper's metrics of the refined
chains (audible metrics left out: they do not depend on the device). Targets (the Planners
issue): with refinement <= 20 s per example on CPU and <= 2 s on one GPU.

Run: ``.venv/bin/python benchmarks/refine.py [--folder PAIRS | --per-length N [--subset K] --seed S]
[--devices cpu cuda] [--json OUT] [--merge other.json ...] [--no-write]``; ``--save-pairs DIR``
writes the generated pairs for a GPU host and stops (``benchmarks/gpu_run.sh`` takes DIR). Pairs: a folder of
``NAME.flac`` dry clips with ``NAME.json`` chains (``llm2fx bench --folder``'s format), or
generated LP-Fx-style test pairs (needs FluidSynth). ``--merge`` adds rows measured on another
machine (a GPU host) from its ``--json`` output.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import soundfile as sf
from _report import machine, markdown_table, write_section  # noqa: E402

from llm2fx_lab.analysis.scoring import score_examples, summarize  # noqa: E402
from llm2fx_lab.fx.torch_render import resolve_device  # noqa: E402
from llm2fx_lab.planners import get_planner  # noqa: E402
from llm2fx_lab.planners.analysis_planner import clear_measurements  # noqa: E402
from llm2fx_lab.planners.bench import first_per_length, load_pairs_folder, make_test_pairs, run_planner  # noqa: E402
from llm2fx_lab.planners.refine import RefineConfig, refine  # noqa: E402

#: refinement's defaults, named in the report; the budget counts budget hits
DEFAULTS = RefineConfig()
BUDGET_SECONDS = DEFAULTS.budget_seconds
PREROLL_SECONDS = DEFAULTS.preroll_seconds


def refine_device(device: str) -> torch.device:
    """The device refinement runs on (quietly the CPU for "auto" without CUDA)."""
    return resolve_device(device, warn_cpu_fallback=False)


def overall(pairs: list[dict], chains: list) -> dict:
    summary = summarize(score_examples(pairs, chains, audibility=False, calibration=False))
    row = summary[(summary["method"] == "prediction") & (summary["chain_length"] == "all")].iloc[0]
    return {k: float(row[k]) for k in ("acc", "rank_corr", "mae", "mrs_l", "mrs_r")}


def device_label(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


def plan_on(pairs: list[dict], device: str | None) -> tuple[list, float]:
    """The analysis planner's chains with its order search on ``device`` (None: the CPU), and
    its mean seconds per example after one untimed warm-up."""
    planner = get_planner("analysis", **({} if device is None else {"device": device}))
    run_planner(planner, pairs[:1])  # warm-up: CUDA context, kernels compiled at first use
    clear_measurements()  # or the first timed pair would reuse the warm-up's measurements
    planned, seconds = run_planner(planner, pairs)
    return planned, float(np.mean(seconds))


def run_device(pairs: list[dict], device: str, cpu_plans: tuple[list, float] | None = None) -> dict:
    """Plan on ``device`` and refine there (on the CPU the analysis plans may be given)."""
    dev = refine_device(device)
    planned, analysis_s = cpu_plans if cpu_plans is not None and dev.type == "cpu" else plan_on(pairs, str(dev))
    # warm-up (CUDA context, kernels compiled at first use): one short refinement, not timed
    refine(planned[0], pairs[0]["dry"], pairs[0]["reference_audio"], pairs[0]["sample_rate"], device=dev, steps=2,
           structure=False)
    seconds, before, after, chains = [], [], [], []
    for pair, chain in zip(pairs, planned):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t = time.perf_counter()
        res = refine(chain, pair["dry"], pair["reference_audio"], pair["sample_rate"], device=dev,
                     budget_seconds=BUDGET_SECONDS)
        seconds.append(time.perf_counter() - t)
        before.append(res.loss_before)
        after.append(res.loss_after)
        chains.append(res.chain)
        print(f"{dev.type}: {pair['id']}: {seconds[-1]:.2f} s, loss {res.loss_before:.3f} -> {res.loss_after:.3f}",
              flush=True)
    return {"device": device_label(dev), "device_type": dev.type, "n": len(pairs), "analysis_s": analysis_s,
            "refine_s": float(np.mean(seconds)), "refine_s_max": float(np.max(seconds)),
            "budget_hits": int(sum(s >= 0.98 * BUDGET_SECONDS for s in seconds)),
            "loss_before": float(np.mean(before)), "loss_after": float(np.mean(after)),
            "seconds": seconds, **overall(pairs, chains)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, help="pairs folder (NAME.flac + NAME.json)")
    ap.add_argument("--per-length", type=int, default=1, help="generated pairs per chain length (without --folder)")
    ap.add_argument("--subset", type=int, default=None,
                    help="keep only the first K generated pairs of each chain length (e.g. --per-length 100 --subset 2: "
                         "the first 2 per length of the 900-pair test split)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--save-pairs", type=Path, default=None,
                    help="write the generated pairs to this new folder (NAME.flac + NAME.json, README.txt) and stop; "
                         "for a GPU host without FluidSynth, then --folder there")
    ap.add_argument("--devices", nargs="+", default=None,
                    help="devices to compare (default: cpu, and cuda when available)")
    ap.add_argument("--json", type=Path, help="write the rows here as JSON")
    ap.add_argument("--merge", type=Path, action="append", default=[], help="rows from another machine (--json)")
    ap.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    ap.add_argument("--note", default="", help="a paragraph added to the section (e.g. how merged rows were made)")
    args = ap.parse_args(argv)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    for d in devices:
        refine_device(d)  # a clear error before any work
    if args.save_pairs and (args.folder or args.save_pairs.exists()):
        ap.error(f"--save-pairs needs a new folder and generated pairs (no --folder); {args.save_pairs} "
                 + ("exists" if args.save_pairs.exists() else "was given with --folder"))
    if args.folder:
        pairs = load_pairs_folder(args.folder)
        readme = args.folder / "README.txt"
        source = (readme.read_text().strip().splitlines()[0] if readme.is_file()
                  else f"the {len(pairs)} pairs of folder `{args.folder.name}`")
    else:
        pairs = make_test_pairs(args.per_length, seed=args.seed)
        source = f"{len(pairs)} generated pairs ({args.per_length} per chain length 1..9, seed {args.seed})"
        if args.subset:
            pairs = first_per_length(pairs, args.per_length, args.subset)
            source = (f"{len(pairs)} generated pairs: the first {args.subset} per chain length of "
                      f"{args.per_length} per length (seed {args.seed})")
        if args.save_pairs:
            save_pairs(pairs, args.save_pairs, source)
            return
    base = {"machine": machine(), "pairs": source}
    rows, cpu_plans = [], None
    if any(refine_device(d).type == "cpu" for d in devices):
        cpu_plans = plan_on(pairs, None)
        rows.append({**base, "device": "none (analysis alone)", "device_type": "none", "n": len(pairs),
                     "analysis_s": cpu_plans[1], "refine_s": 0.0, "refine_s_max": 0.0, "budget_hits": 0,
                     "loss_before": float("nan"), "loss_after": float("nan"), "seconds": [],
                     **overall(pairs, cpu_plans[0])})
    for d in devices:
        rows.append({**base, **run_device(pairs, d, cpu_plans)})
        print({k: v for k, v in rows[-1].items() if k != "seconds"}, flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    merged = [r for path in args.merge for r in json.loads(path.read_text())]
    text = report(rows + merged) + (f"\n\n{args.note}" if args.note else "")
    print(text)
    if not args.no_write:
        write_section("refine", "Refinement: CPU and GPU", text)


def save_pairs(pairs: list[dict], folder: Path, source: str) -> None:
    """Write pairs as ``llm2fx bench --folder`` reads them: 16-bit FLAC dry clips and chain JSON."""
    folder.mkdir(parents=True, exist_ok=False)  # never into a user's existing folder
    for p in pairs:
        name = p["id"].replace(":", "_")
        sf.write(folder / f"{name}.flac", np.asarray(p["dry"]).T, int(p["sample_rate"]), subtype="PCM_16")
        (folder / f"{name}.json").write_text(json.dumps(p["reference"].to_tool_calls()))
    (folder / "README.txt").write_text(f"{source}, dry clips as 16-bit FLAC\nwritten by: {' '.join(sys.argv)}\n")
    print(f"{len(pairs)} pairs written to {folder}")


def report(rows: list[dict]) -> str:
    machines = list(dict.fromkeys(r["machine"] for r in rows))
    table = []
    for r in rows:
        cpu = next((c for c in rows if c["machine"] == r["machine"] and c["device_type"] == "cpu"), None)
        total = r["analysis_s"] + r["refine_s"]
        ratio = ((cpu["analysis_s"] + cpu["refine_s"]) / total
                 if cpu is not None and r["device_type"] == "cuda" else None)
        table.append([f"machine {machines.index(r['machine']) + 1}", r["device"], r["n"], r["analysis_s"],
                      r["refine_s"], r["refine_s_max"], r["budget_hits"], total,
                      "-" if ratio is None else f"{ratio:.1f}x",
                      "-" if r["device_type"] == "none" else f"{r['loss_before']:.3f} -> {r['loss_after']:.3f}",
                      f"{100 * r['acc']:.0f}%", f"{r['rank_corr']:.2f}", f"{r['mae']:.3f}",
                      f"{r['mrs_l']:.2f} / {r['mrs_r']:.2f}"])
    lines = [f"Pairs: {rows[0]['pairs']}. On each device each pair is planned by `analysis` with its order search "
             "there (pedalboard on the CPU, the batched torch renderer on a GPU), and its chain refined there by "
             f"`refine()` with its defaults ({DEFAULTS.steps} gradient steps, structure search, "
             f"{BUDGET_SECONDS:g} s budget, {DEFAULTS.crop_seconds:g} s crop after {PREROLL_SECONDS:g} s of pre-roll), "
             "as `analysis+refine` with that device does, after one untimed warm-up of each. Seconds are per example; \"total\" is what "
             "`analysis+refine` costs (analysis + refinement). Targets: <= 20 s per example on CPU, <= 2 s on one GPU. "
             "Metrics: the paper's (audible metrics left out).", ""]
    lines += [f"- machine {i + 1}: {m}" for i, m in enumerate(machines)]
    lines += ["", markdown_table(["machine", "device", "pairs", "analysis s", "refine s (mean)", "refine s (max)",
                                  "budget hits", "total s / example", "speed-up vs CPU (same machine)",
                                  "loss before -> after", "Acc", "Rank Corr", "MAE", "MRS L/R"], table)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
