"""Reproduce llm2fx-mini from scratch: data -> two-stage training -> evaluation -> model card.

This is what ``make mini`` runs. Each phase is skipped when its output exists (so an
interrupted run resumes), and every phase's wall time goes into ``RUN/report.json``:

1. ``llm2fx data generate RUN/data``: LP-Fx-style dialogues (General MIDI through
   FluidSynth, chains sampled as the paper's code does, grounded chain-of-thought);
2. ``llm2fx train --preset mini-probe --data RUN/data --out RUN/model`` (both stages; the
   shipped model's preset, ``PRESET``);
3. evaluation on LP-Fx-style test pairs (``planners.bench.make_test_pairs``, seed 1234, the
   benchmark's pairs; never the training data): ``mini``, ``mini-guided`` (the presence-guided
   option), ``mini+refine`` and ``analysis+refine`` on a subset, and the ``analysis`` planner
   on the same pairs, with the paper's metrics;
4. ``RUN/model/MODEL_CARD.md`` written from the measured numbers;
5. with ``--install``: checkpoint and card copied to ``llm2fx_lab/model/weights/mini``
   (refuses to replace shipped weights unless ``--overwrite``).

Run: ``.venv/bin/python scripts/make_mini.py [--run runs/mini] [--install] [--overwrite]``
(data and training about two hours on 2 CPU cores, then the evaluation; ``--eval-only`` re-scores an existing checkpoint;
``--rescore mini+refine analysis+refine --refine-per-length 10`` re-scores only those rows of
``RUN/report.json`` on the same test pairs, keeps the others, and the card says which rows
were re-scored, when and by what command; ``--compare OTHER/report.json LABEL`` adds another
run of the recipe to the card's reproducibility table). An interrupted run (Ctrl-C, SIGTERM)
resumes where it stopped when started again with the same ``--run``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from llm2fx_lab.events import collect
from llm2fx_lab.examples import example_pair
from llm2fx_lab.model.config import preset
from llm2fx_lab.model.generate import resolve_decoder
from llm2fx_lab.model.guide import PRESENCE_FLOOR, PRESENCE_THRESHOLD
from llm2fx_lab.model.llm import Llm2FxModel
from llm2fx_lab.planners import get_planner
from llm2fx_lab.planners.bench import PAPER_ROWS, first_per_length, make_test_pairs, report_rows, run_bench

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

#: The recipe. Changing any of these changes the shipped model: record it in the card.
SEED = 2026
N_TRAIN, N_VALIDATION = 4000, 200
#: The evaluation: the benchmark's 900 test pairs (docs/benchmarks.md) and its 90-pair refine
#: subset, so the card's scores are the benchmark's (pass --eval-per-length 6 for a quick look).
EVAL_SEED, EVAL_PER_LENGTH, REFINE_PER_LENGTH = 1234, 100, 10
#: The shipped model's preset (see llm2fx_lab/model/config.py).
PRESET = "mini-probe"
INSTALL_DIR = ROOT / "llm2fx_lab" / "model" / "weights" / "mini"
CLI = [sys.executable, "-m", "llm2fx_lab.cli"]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    return f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def git_commit() -> str | None:
    """The checkout's commit (with ``+changes`` when its tracked files differ), or None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if dirty else "")


def run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def phase_data(run_dir: Path, workers: int | None) -> list[str]:
    cmd = CLI + ["data", "generate", str(run_dir / "data"), "--n", str(N_TRAIN), "--n-validation",
                 str(N_VALIDATION), "--splits", "train", "validation", "--seed", str(SEED)]
    if workers:
        cmd += ["--workers", str(workers)]
    run(cmd)
    return cmd


def phase_train(run_dir: Path) -> list[str]:
    cmd = CLI + ["train", "--preset", PRESET, "--data", str(run_dir / "data"), "--out", str(run_dir / "model")]
    progress = run_dir / "model" / "state" / "progress.json"
    if progress.is_file():
        saved = json.loads(progress.read_text())
        if saved.get("stage") == 2 and saved.get("step", 0) >= preset(PRESET).train.stage2_steps:
            print(f"training already finished ({progress}: {saved})", flush=True)
            return cmd
        cmd.append("--resume")
    run(cmd)
    return cmd


#: The rows :func:`evaluate` scores: label -> (planner name, {"all" | "subset"}, planner options).
#: ``mini`` decodes as ``get_planner("mini")`` does; ``mini-guided`` with its presence guide
#: (:mod:`llm2fx_lab.model.guide`, an option).
EVAL_ROWS = {"mini": ("model:{model}", "all", {}), "mini-guided": ("model:{model}", "all", {"presence_guide": True}),
             "analysis": ("analysis", "all", {}), "mini+refine": ("model:{model}+refine", "subset", {}),
             "analysis+refine": ("analysis+refine", "subset", {})}


def evaluate(model_dir: Path, per_length: int, refine_per_length: int, labels: tuple[str, ...] = tuple(EVAL_ROWS),
             previous: dict | None = None, on_row=None) -> dict:
    """Score the :data:`EVAL_ROWS` planners on the same generated test pairs (``+refine`` rows
    on the first ``refine_per_length`` pairs of each length).

    ``labels`` picks the rows to (re)score; the others are kept from ``previous`` (an earlier
    report's ``evaluation``), whose ``per_length`` must then match. ``on_row(evaluation)`` is
    called after each row with what is scored so far (a run saves it, to resume from it).
    """
    if previous:
        if previous["per_length"] != per_length:
            raise ValueError(f"re-scoring {list(labels)} on {per_length} pairs per length, but the report's other "
                             f"rows were scored on {previous['per_length']}: pass --eval-per-length "
                             f"{previous['per_length']} or re-score every row")
        kept = [label for label in previous["results"] if label not in labels and EVAL_ROWS[label][1] == "subset"]
        if not any(EVAL_ROWS[label][1] == "subset" for label in labels):
            refine_per_length = previous["refine_per_length"]
        elif kept and previous["refine_per_length"] != refine_per_length:
            raise ValueError(f"the kept rows {kept} were scored on the first {previous['refine_per_length']} pairs "
                             f"per length: re-score them too or pass --refine-per-length "
                             f"{previous['refine_per_length']}")
    results: dict = dict(previous["results"]) if previous else {}

    def scored() -> dict:
        return {"eval_seed": EVAL_SEED, "per_length": per_length, "refine_per_length": refine_per_length,
                "results": dict(results)}

    if not labels:  # nothing left to score (a run stopped after its last row)
        return scored()
    pairs = make_test_pairs(per_length, seed=EVAL_SEED)
    subset = first_per_length(pairs, per_length, refine_per_length)
    cache: dict = {}  # audibility of each reference, measured once for all planners
    for label in labels:
        name, which, options = EVAL_ROWS[label]
        items = pairs if which == "all" else subset
        # the card's calibration rows come from the "mini" entry; the others skip them
        planner = get_planner(name.format(model=model_dir), **options)
        summary, per_example, seconds = run_bench(planner, items, progress=True,
                                                  audibility_crop_seconds=3.0, calibration=label == "mini",
                                                  cache=cache)
        results[label] = {"n_pairs": len(items), "seconds_per_example": float(np.mean(seconds)),
                          "rows": report_rows(summary)}
        print(label, overall(results[label]["rows"]), flush=True)
        if on_row is not None:
            on_row(scored())
    return scored()


def weights_digest(model_dir: Path) -> str:
    """SHA-256 (first 16 hex digits) of the checkpoint's weights: which model a partial evaluation scored."""
    return hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()[:16]


def latency(model_dir: Path) -> dict:
    """Time to first reasoning token and a full estimate on a bundled 10 s pair (median of 3)."""
    planner = get_planner(f"model:{model_dir}")
    dry, wet, sr, _ = example_pair("guitar")
    firsts, totals = [], []
    for _ in range(3):
        result = collect(planner.plan(dry, wet, sr))
        firsts.append(result.timings.first_token_seconds)
        totals.append(result.timings.total_seconds)

    return {"first_token_seconds": float(np.median(firsts)), "total_seconds": float(np.median(totals)),
            "decoder": resolve_decoder(planner.model.llm)}  # what the planner's default used


def training_facts(model_dir: Path) -> dict:
    """Last logged losses per stage, up to the step the saved checkpoint holds."""
    saved = json.loads((model_dir / "state" / "progress.json").read_text())
    rows = [r for r in csv.DictReader((model_dir / "log.csv").open())
            if int(r["stage"]) < saved["stage"] or (int(r["stage"]) == saved["stage"] and int(r["step"]) <= saved["step"])]
    last = {s: [r for r in rows if r["stage"] == s][-1] for s in ("1", "2") if any(r["stage"] == s for r in rows)}
    val = [r for r in rows if r.get("val_loss")]
    return {"saved": saved,
            "stages": {s: {"steps": int(r["step"]), "loss": float(r["loss"]), "ce": float(r["ce"]),
                           "ntl": float(r["ntl"]), "lr": float(r["lr"]),
                           **({"aux": float(r["aux"])} if r.get("aux") else {})} for s, r in last.items()},
            "last_validation": ({k: float(val[-1][k]) for k in ("val_loss", "val_ce", "val_ntl", "val_aux",
                                                                "val_probe_accuracy") if val[-1].get(k)}
                                if val else None)}


def overall(rows: list[dict], method: str = "prediction") -> dict | None:
    """The ``chain_length == "all"`` row of ``method`` in a report's rows."""
    return next((r for r in rows if r["method"] == method and r["chain_length"] == "all"), None)


def _fmt_row(label: str, r: dict, seconds: float | None, n: int) -> str:
    f = lambda v, p="{:.2f}": "-" if v is None else p.format(v)  # noqa: E731
    return (f"| {label} | {n} | {f(r['acc'] * 100 if r['acc'] is not None else None, '{:.1f}%')} | "
            f"{f(r['rank_corr'])} | {f(r['mae'], '{:.3f}')} | {f(r['mrs_l'])} / {f(r['mrs_r'])} | "
            f"{f(seconds)} |")


def model_card(report: dict, model_dir: Path) -> str:
    """MODEL_CARD.md text from a finished run's report."""
    model = Llm2FxModel.from_pretrained(model_dir)
    cfg = model.cfg
    count = lambda m: sum(p.numel() for p in m.parameters()) if m is not None else 0  # noqa: E731
    shipped = [model_dir / "model.safetensors", model_dir / "config.json", *(model_dir / "tokenizer").rglob("*")]
    size_mb = sum(p.stat().st_size for p in shipped if p.is_file()) / 1e6
    ev = report["evaluation"]["results"]
    table = ["| planner | pairs | Acc | Rank Corr | MAE | MRS L/R | s / example |", "|---|---|---|---|---|---|---|"]
    for label in ("mini", "mini-guided", "mini+refine", "analysis", "analysis+refine"):
        if label in ev:
            r = overall(ev[label]["rows"])
            table.append(_fmt_row(label, r, ev[label]["seconds_per_example"], ev[label]["n_pairs"]))
    for label in ("empty chain", "true modules, mid params"):
        r = overall(ev["mini"]["rows"], label)
        if r:
            table.append(_fmt_row(f"calibration: {label}", r, None, ev["mini"]["n_pairs"]))
    for label, (acc, rc, mae, mrs) in PAPER_ROWS.items():
        table.append(f"| {label}, LP-Fx stems (different audio) | 900 | {acc * 100:.0f}% | {rc:.2f} | {mae:.2f} | "
                     f"{mrs:.2f} | - |")
    per_length = ["| chain length | Acc | Rank Corr | MAE | MRS |", "|---|---|---|---|---|"]
    for r in ev["mini"]["rows"]:
        if r["method"] == "prediction" and r["chain_length"] != "all":
            f = lambda v, p="{:.2f}": "-" if v is None else p.format(v)  # noqa: E731
            per_length.append(f"| {r['chain_length']} | {f(r['acc'] * 100, '{:.0f}%')} | {f(r['rank_corr'])} | "
                              f"{f(r['mae'], '{:.3f}')} | {f(r['mrs'])} |")
    tf = report["training"]
    stage_lines = "\n".join(f"- stage {s}: {v['steps']} steps, last batch loss {v['loss']:.3f} "
                            f"(CE {v['ce']:.3f}, NTL {v['ntl']:.3f}"
                            + (f", probe {v['aux']:.3f}" if "aux" in v else "") + ")" for s, v in tf["stages"].items())
    stage2 = tf["stages"].get("2", {})
    if stage2 and stage2["steps"] < cfg.train.stage2_steps:
        stage_lines += (f"\n\n**Stopped early:** this checkpoint is stage 2 at step {stage2['steps']} of the preset's "
                        f"{cfg.train.stage2_steps} (learning rate then {stage2['lr']:.2g}, "
                        f"{stage2['lr'] / cfg.train.stage2_lr:.0%} of its peak), to fit the session that trained "
                        "it; `make mini` runs the whole schedule.")
    val = tf["last_validation"]
    val_line = (f"- last validation ({N_VALIDATION} dialogues): loss {val['val_loss']:.3f}, CE {val['val_ce']:.3f}, "
                f"NTL {val['val_ntl']:.3f}" if val else "")
    if val and "val_probe_accuracy" in val:
        val_line += (f", chain probe {val['val_aux']:.3f} (its module presence accuracy "
                     f"{val['val_probe_accuracy'] * 100:.1f}%: what the audio tokens carry)")
    if cfg.train.aux_coef > 0 and not cfg.train.stage1_language_loss:
        stage1_text = "encoder + adapters + chain probe, on the probe loss alone; the LLM is not run"
    else:
        stage1_text = "encoder + adapters, LLM frozen"
    probe_text = (f"\n- Training only: a chain probe (pooled dry, reference and comparison tokens -> module "
                  f"presence and normalised parameters; BCE + L1) adds {cfg.train.aux_coef:g} x its loss, so the "
                  "audio tokens must carry what the chain did. Ours, not the paper's: without it a model this "
                  "small trained from scratch ignored the audio (its adapters collapsed). "
                  f"{count(model.chain_probe) / 1e6:.2f} M parameters; unused at inference unless its "
                  "module presences guide decoding (an option, below)."
                  if model.chain_probe is not None else "")
    guide_text = _guide_text(ev) if model.chain_probe is not None else ""
    lat = report.get("latency", {})
    minutes = {k: v / 60 for k, v in report["phase_seconds"].items()}
    return f"""# llm2fx-mini model card

**What it is.** A small audio-conditioned language model with the LLM2Fx-Tools architecture,
trained from scratch by this project on its own synthetic data, on a CPU. It is the embedded
learned planner of llm2fx-lab (`get_planner("mini")`, `ModelPlanner()`, the studio's planner
menu, `llm2fx estimate --planner mini`); `default_planner()` picks it only when the evaluation
below shows it at least as accurate as the `analysis` planner.
**It is not the paper's Qwen3-4B model** and it does not reproduce the paper's numbers: it is
about a thousand times smaller, never saw real recordings, and was trained for
{sum(v['steps'] for v in tf['stages'].values())} steps instead of 500,000.

## Architecture ({count(model) / 1e6:.2f} M parameters, {size_mb:.1f} MB on disk)

- Audio encoder: the built-in effects encoder (`llm2fx_lab/model/encoders.py`): mid/side
  log band energies at STFT sizes {list(cfg.encoder.n_ffts)} ({cfg.encoder.n_bands} bands, hop
  {cfg.encoder.hop_samples}), frame loudness and band dynamics statistics, {cfg.encoder.n_conv} strided convs and
  {cfg.encoder.n_layers} transformer layer(s), width {cfg.encoder.dim}; {count(model.encoder) / 1e6:.2f} M parameters.
  Clips are cut to their first {cfg.encoder.clip_seconds:g} s. Not Fx-Encoder++ (its weights are
  CC BY-NC and need a download).
- Pair comparison tokens (dry vs reference band differences, gain curve, deconvolved transfer
  function and impulse-response envelope): {cfg.encoder.n_pair_queries} extra tokens.
- Adapter: {cfg.adapter.n_queries} learned queries, {cfg.adapter.n_layers} cross-attention + GEGLU blocks, width
  {cfg.adapter.dim} (the paper's design, smaller); {(count(model.adapter) + count(model.pair_adapter)) / 1e6:.2f} M parameters.
- LLM: Qwen3 architecture from scratch (`transformers.Qwen3ForCausalLM`): {cfg.llm.n_layers} layers, hidden
  {cfg.llm.hidden_size}, {cfg.llm.n_heads} query / {cfg.llm.n_kv_heads} key-value heads, MLP {cfg.llm.intermediate_size};
  {count(model.llm) / 1e6:.2f} M parameters; project BPE tokenizer ({len(model.tokenizer)} tokens, single digits,
  Qwen3 chat template and special tokens). Full fine-tuning (no LoRA: there is no pretrained
  model to adapt).
- Loss: cross-entropy + {cfg.train.ntl_coef} x Number Token Loss (Wasserstein-1 over digits), as the paper.{probe_text}

{guide_text}## Training data

`llm2fx data generate` (seed {SEED}): {N_TRAIN} training and {N_VALIDATION} validation dialogues,
10 s stereo 44.1 kHz General MIDI parts rendered with FluidSynth and the FluidR3 GM soundfont,
chains of 1-9 modules sampled as the paper's public code does (the MR-STFT similarity filter
included), dialogues in the paper's format with a grounded three-step chain-of-thought
(every audible claim is backed by a measurement of that pair); 30 % blind rows (dry masked),
15 % style requests, 10 % refinement turns (first turn used). No real recordings.

## Training

Command: `make mini` (= `python scripts/make_mini.py --run runs/mini`; add `--install --overwrite`
to replace the shipped weights), which runs
`{' '.join(report['commands']['data'][2:])}` then `{' '.join(report['commands']['train'][2:])}`.
Seed {cfg.train.seed}. Stage 1 ({stage1_text}): {cfg.train.stage1_steps} steps at lr
{cfg.train.stage1_lr:g}; stage 2 (everything): {cfg.train.stage2_steps} steps at lr {cfg.train.stage2_lr:g},
batch {cfg.train.batch_size}, {cfg.train.schedule} schedule, batches grouped by length.

{stage_lines}
{val_line}

Machine: {report['machine']}. Wall time: data {minutes.get('data', 0):.0f} min, training
{minutes.get('train', 0):.0f} min, evaluation {minutes.get('evaluate', 0):.0f} min ({report['date']}).{_sittings_text(report)}
{report.get('timing_note', '')}

## Scores

{_eval_command_line(report)}LP-Fx-style test pairs made by `llm2fx_lab.planners.bench.make_test_pairs(per_length={report['evaluation']['per_length']},
seed={report['evaluation']['eval_seed']})` (fresh General MIDI material, never in training), the paper's metrics
(`llm2fx_lab/analysis/scoring.py`); `+refine` rows on the first {report['evaluation']['refine_per_length']} pairs of each
length. The paper's rows were measured on real stems: different audio, compare with care.

{chr(10).join(table)}

Per chain length (mini, no refinement):

{chr(10).join(per_length)}

Latency on this machine, bundled 10 s guitar pair (median of 3): first reasoning token
{lat.get('first_token_seconds', float('nan')):.2f} s, full estimate {lat.get('total_seconds', float('nan')):.2f} s
({_decoder_note(lat.get('decoder', 'hf'))}).

{_reproducibility_text(report)}## Known failure modes

{chr(10).join(f"- {line}" for line in report.get("findings", []))}
- Trained on synthetic General MIDI material only: real mixes, vocals and recordings with
  their own room sound are out of distribution.
- It hears only the first {cfg.encoder.clip_seconds:g} s of each clip.
- The numbers it quotes in its reasoning are generated, not measured: unlike the
  `analysis` planner, its claims are not checked against the audio (the studio's
  claim checker can do that).
- Parameters of subtle modules (a compressor that barely acts, a delay mixed low) are
  close to guesses; compare the scores above with the calibration rows.
- The chain is parsed leniently: out-of-range values are clamped and reported as repairs.

## License

GPL-3.0-or-later, like the rest of llm2fx-lab (the weights were produced by its code from
data it generated; FluidR3 GM is MIT-licensed).
"""


#: The evaluation rows the reproducibility table compares across runs (mini+refine on the
#: first ``--refine-per-length`` pairs of each length, the others on all).
REPRODUCED_ROWS = ("mini", "analysis", "mini+refine")


def run_summary(report: dict, label: str) -> dict:
    """What the card's reproducibility table keeps of another run's ``report.json``: when, where,
    how long, how many steps, and its scores of :data:`REPRODUCED_ROWS` on its test pairs. A run
    whose evaluation was stopped part way gives the rows it had scored (``partial``)."""
    ev = report.get("evaluation") or report["evaluation_partial"]
    rows = {k: overall(ev["results"][k]["rows"]) for k in REPRODUCED_ROWS if k in ev["results"]}
    return {"label": label, "date": report.get("date"), "commit": report.get("commit"),
            "machine": report.get("machine"), "minutes": {k: round(v / 60, 1) for k, v in report["phase_seconds"].items()},
            "steps": {s: v["steps"] for s, v in report.get("training", {}).get("stages", {}).items()},
            "pairs": {"per_length": ev["per_length"], "eval_seed": ev["eval_seed"]},
            "partial": "evaluation" not in report,
            "scores": {k: {m: r[m] for m in ("acc", "rank_corr", "mae", "mrs_l", "mrs_r")} for k, r in rows.items() if r}}


def _reproducibility_text(report: dict) -> str:
    """The card's table of this run against the other runs listed with ``--compare`` (their
    summaries are kept in the report, so the card can be rewritten without their files)."""
    others = report.get("other_runs", [])
    if not others:
        return ""
    this = run_summary(report, "this checkpoint")

    def line(run: dict) -> str:
        m, a, refined = (run["scores"].get(k) for k in REPRODUCED_ROWS)
        f = lambda r, k, p: "-" if r is None or r.get(k) is None else p.format(r[k] * (100 if k == "acc" else 1))  # noqa: E731
        steps = " + ".join(f"{v:,}" for _, v in sorted(run["steps"].items())) or "-"
        minutes = sum(v for k, v in run["minutes"].items() if k in ("data", "train"))
        label = run["label"] + (" (evaluation stopped part way: the scored rows only)" if run.get("partial") else "")
        return (f"| {label} | {run['date'] or '-'} | {steps} | {minutes:.0f} min | {f(m, 'acc', '{:.1f}%')} | "
                f"{f(m, 'rank_corr', '{:.2f}')} | {f(m, 'mae', '{:.3f}')} | {f(m, 'mrs_l', '{:.2f}')} / "
                f"{f(m, 'mrs_r', '{:.2f}')} | {f(refined, 'acc', '{:.1f}%')} | {f(refined, 'mrs_l', '{:.2f}')} / "
                f"{f(refined, 'mrs_r', '{:.2f}')} | {f(a, 'acc', '{:.1f}%')} |")

    same = all(o["pairs"] == this["pairs"] for o in others)
    return ("## Reproducibility\n\n"
            "The same recipe run again (or an earlier run of it), scored the same way. "
            + ("All rows use the same test pairs." if same else "**Rows differ in their test pairs** (see each run's "
               "report), so compare with care.")
            + " Stage steps: stage 1 + stage 2; minutes: data generation + training.\n\n"
            "| run | date | steps | data + training | mini Acc | Rank Corr | MAE | MRS L/R | mini+refine Acc | "
            "mini+refine MRS L/R | analysis Acc (same pairs) |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n"
            + "\n".join(line(r) for r in [this, *others]) + "\n\n")


def _guide_text(ev: dict) -> str:
    """The card's section on presence-guided decoding, with the guided and default scores."""
    def row(label: str) -> str:
        r = overall(ev[label]["rows"]) if label in ev else None
        if not r:
            return "not scored"
        return f"module accuracy {r['acc'] * 100:.1f}%, MRS L/R {r['mrs_l']:.2f} / {r['mrs_r']:.2f}"

    return f"""## Decoding option: the presence guide

The language model alone names too few modules ({row('mini')}, row `mini`), while the
chain probe, reading the same audio tokens, hears more. `get_planner("mini",
presence_guide=True)` lets the probe choose: modules with a probability above
{PRESENCE_THRESHOLD:g} must be named (the most likely one when none passes), those below {PRESENCE_FLOOR:g}
never are, and those between are left to the model (`presence_threshold`, `presence_floor`).
A logits processor (`llm2fx_lab/model/guide.py`) then holds the text to that choice. Each
selection clause opens with one of the chosen modules, and the summary, the signal flow and
the parameter clauses list each of them once. The tool calls are exactly those modules. Every
word is still the language model's choice among what is left. Each result's repairs say what
the probe chose and how many tokens were steered.

Guided ({row('mini-guided')}, row `mini-guided`) it names many more of the right modules, but
its renders are further from the reference. The parameters it writes for the modules it would
not have named itself are guesses. In a one-off look at 36 dev pairs, EQ and distortion
settings far off the true ones caused most of the loss. Giving those modules mid-range
settings instead still left the mean MRS above the default's. So the guide is an option, not
the default. With refinement it did not help in a one-off run on 18 dev pairs (accuracy 80.9%
guided against 82.7%), because the refinement's presence check already re-examines every
module. The threshold was chosen on 270 dev pairs (seed 4321), never on the test pairs:
`python scripts/tune_presence_guide.py --per-length 30 --seed 4321`. The two rows' times come
from different runs; in one run on 36 dev pairs the guided model took 0.73 s per pair against
0.45 s, as it writes longer chains.

"""


def _terminate(signum: int, frame) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=ROOT / "runs" / "mini", help="working folder")
    p.add_argument("--workers", type=int, default=None, help="data generation processes (default: all cores)")
    p.add_argument("--eval-per-length", type=int, default=None,
                   help=f"test pairs per chain length (default {EVAL_PER_LENGTH}; with --rescore, the report's)")
    p.add_argument("--refine-per-length", type=int, default=None,
                   help=f"+refine rows: the first N pairs per length (default {REFINE_PER_LENGTH}; with --rescore, "
                        "the report's)")
    p.add_argument("--rescore", nargs="+", choices=list(EVAL_ROWS), metavar="ROW",
                   help=f"re-score only these rows of RUN/report.json ({', '.join(EVAL_ROWS)}), keep the others "
                        "and record the command in the card")
    p.add_argument("--eval-only", action="store_true", help="skip data and training (re-score RUN/model)")
    p.add_argument("--card-only", action="store_true", help="rewrite MODEL_CARD.md from RUN/report.json")
    p.add_argument("--install", action="store_true", help=f"copy the result into {INSTALL_DIR.relative_to(ROOT)}")
    p.add_argument("--overwrite", action="store_true", help="replace already installed weights")
    p.add_argument("--compare", nargs=2, action="append", metavar=("REPORT", "LABEL"), default=[],
                   help="list another run's report.json under LABEL in the card's reproducibility table "
                        "(kept in RUN/report.json; repeatable)")
    args = p.parse_args(argv)
    run_dir = args.run.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    report_path = run_dir / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {"phase_seconds": {}, "commands": {}}

    def save() -> None:
        report_path.write_text(json.dumps(report, indent=2))
    if args.install and INSTALL_DIR.exists() and any(INSTALL_DIR.iterdir()) and not args.overwrite:
        print(f"{INSTALL_DIR} already holds weights; pass --overwrite to replace them", file=sys.stderr)
        return 2
    for path, label in args.compare:
        try:
            summary = run_summary(json.loads(Path(path).read_text()), label)
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"--compare {path}: not the report.json of an evaluated run ({type(e).__name__}: {e})", file=sys.stderr)
            return 2
        report["other_runs"] = [r for r in report.get("other_runs", []) if r["label"] != label] + [summary]
        save()

    def timed(name: str, fn, *a):
        """Run a phase and add its wall time to the report. Every phase resumes from what is on
        disk (data shards, training checkpoints, scored evaluation rows), so an interrupted
        sitting (Ctrl-C, SIGTERM) keeps its time too and counts the interruption: a run done in
        several sittings reports their sum."""
        t0 = time.perf_counter()
        try:
            return fn(*a)
        except BaseException:
            interrupted = report.setdefault("interrupted", {})
            interrupted[name] = interrupted.get(name, 0) + 1
            raise
        finally:
            report["phase_seconds"][name] = report["phase_seconds"].get(name, 0.0) + time.perf_counter() - t0
            save()

    model_dir = run_dir / "model"

    def finish(save_report: bool = True) -> int:
        """Write the report (unless only the card is asked for) and the card; install with --install."""
        if save_report:
            save()
        (model_dir / "MODEL_CARD.md").write_text(model_card(report, model_dir))
        print(f"wrote {model_dir / 'MODEL_CARD.md'}")
        return install(run_dir, report) if args.install else 0

    if args.rescore:
        if "evaluation" not in report:
            print(f"--rescore needs an evaluated run: {report_path} has no evaluation", file=sys.stderr)
            return 2
        previous = report["evaluation"]
        per_length = args.eval_per_length or previous["per_length"]
        refine_per_length = args.refine_per_length or previous["refine_per_length"]
        t0 = time.perf_counter()
        try:
            report["evaluation"] = evaluate(model_dir, per_length, refine_per_length, tuple(args.rescore), previous)
        except ValueError as e:
            print(e, file=sys.stderr)
            return 2
        report["evaluation"]["rescored"] = previous.get("rescored", []) + [{
            "rows": list(args.rescore), "date": dt.date.today().isoformat(), "machine": machine(),
            "minutes": round((time.perf_counter() - t0) / 60, 1),
            "command": (f"python scripts/make_mini.py --run RUN --rescore {' '.join(args.rescore)} "
                        f"--eval-per-length {per_length} --refine-per-length {refine_per_length}")}]
        return finish()
    args.eval_per_length = args.eval_per_length or EVAL_PER_LENGTH
    args.refine_per_length = args.refine_per_length or REFINE_PER_LENGTH
    if args.card_only:
        return finish(save_report=False)
    # where and when (the last sitting's); written at once, so a stopped run's report has them too
    report["machine"], report["date"], report["commit"] = machine(), dt.date.today().isoformat(), git_commit()
    save()
    if not args.eval_only:
        report["commands"]["data"] = timed("data", phase_data, run_dir, args.workers)
        report["commands"]["train"] = timed("train", phase_train, run_dir)
    report["training"] = training_facts(model_dir)
    # The evaluation resumes too: each scored row is saved with the weights' digest, and a new
    # sitting with the same weights and pairs scores only the rows still missing.
    digest = weights_digest(model_dir)
    partial = report.get("evaluation_partial")
    if not (partial and partial["weights"] == digest and partial["eval_seed"] == EVAL_SEED
            and (partial["per_length"], partial["refine_per_length"]) == (args.eval_per_length, args.refine_per_length)):
        partial = None
        report.pop("evaluation_partial", None)
        report["phase_seconds"].pop("evaluate", None)  # timed afresh, not added to an earlier evaluation
        report.get("interrupted", {}).pop("evaluate", None)

    def save_row(evaluation: dict) -> None:
        report["evaluation_partial"] = {**evaluation, "weights": digest}
        save()

    remaining = tuple(label for label in EVAL_ROWS if not partial or label not in partial["results"])
    report["evaluation"] = timed("evaluate", evaluate, model_dir, args.eval_per_length, args.refine_per_length,
                                 remaining, partial, save_row)
    report.pop("evaluation_partial", None)
    report["commands"]["evaluate"] = (f"python scripts/make_mini.py --run RUN{' --eval-only' if args.eval_only else ''} "
                                      f"--eval-per-length {args.eval_per_length} "
                                      f"--refine-per-length {args.refine_per_length}")
    report["latency"] = latency(model_dir)
    report["machine"], report["date"], report["commit"] = machine(), dt.date.today().isoformat(), git_commit()
    return finish()


def _sittings_text(report: dict) -> str:
    """The phases that were interrupted and resumed (their times above are the sums)."""
    interrupted = report.get("interrupted", {})
    if not interrupted:
        return ""
    return (" Interrupted and resumed where it stopped: "
            + ", ".join(f"{k} {n}x" for k, n in interrupted.items()) + "; the times above add up every sitting.")


def _eval_command_line(report: dict) -> str:
    cmd = report.get("commands", {}).get("evaluate")
    line = f"Scored by `{cmd}`.\n" if cmd else ""
    for r in report["evaluation"].get("rescored", []):
        line += (f"Re-scored later ({r['date']}, {r['minutes']:.0f} min, the same test pairs): "
                 f"{', '.join(r['rows'])}, by `{r['command']}`.\n")
    return line


def _decoder_note(decoder: str) -> str:
    if decoder == "fast":
        return ("greedy, with the project's fast decoder `llm2fx_lab/model/decode.py`, which gives the same "
                "tokens as transformers' `generate` in about half the time; docs/benchmarks.md, \"Model\"")
    return "greedy, transformers' `generate`"


def install(run_dir: Path, report: dict) -> int:
    """Copy checkpoint, tokenizer, card and report into the package's weights folder."""
    model_dir = run_dir / "model"
    if INSTALL_DIR.exists():
        shutil.rmtree(INSTALL_DIR)
    INSTALL_DIR.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "MODEL_CARD.md"):
        shutil.copy2(model_dir / name, INSTALL_DIR / name)
    shutil.copytree(model_dir / "tokenizer", INSTALL_DIR / "tokenizer")
    (INSTALL_DIR / "report.json").write_text(json.dumps(report, indent=2))
    print(f"installed into {INSTALL_DIR}")
    return 0


if __name__ == "__main__":
    # SIGTERM (a scheduler, `kill`) unwinds like Ctrl-C: the running phase's time is recorded
    # and subprocess.run stops the phase's child; its checkpoints let the next run resume.
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())
