# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Train your own
#
# Generate a small dataset, train the `tiny` preset on the CPU while watching the loss, evaluate the
# result with the paper's metrics, and see the whole path at paper scale: data generated on a Dask
# cluster, the Qwen3-4B recipe trained on several GPUs, the benchmark run on the cluster.
#
# The `tiny` preset is for learning the pipeline: a few minutes of CPU training teach it the format at
# best, not audio engineering. The comparison at the end puts it beside the shipped llm2fx-mini model
# (the `mini` preset, trained by `make mini` for about two hours on 2 CPU cores) and the `analysis`
# planner (no neural network).
#
# The first cell sets the size of the run (examples, training steps, evaluation pairs); smaller values
# make a quick tour.

# %% tags=["parameters"]
examples_per_split = 200  # dialogues generated for each split (train, validation)
stage1_steps = 300  # training steps of stage 1 (audio encoder and adapter)
stage2_steps = 600  # training steps of stage 2 (the language model)
eval_examples = None  # bundled examples to evaluate on, e.g. ["piano", "bass"]; None: all of them
eval_seconds = 6.0  # length of each evaluation pair, in seconds
cluster_examples = 12  # dialogues the local two-worker cluster of section 4 generates

# %%
# %matplotlib inline
from pathlib import Path

RUNS = Path("../runs")                    # ignored by git
DATA, OUT = RUNS / "notebook-data", RUNS / "notebook-tiny"
print(f"{examples_per_split} examples per split, {stage1_steps} + {stage2_steps} steps -> {OUT}")

# %% [markdown]
# ## 1. A small dataset
#
# Dialogues (dry/reference audio, chain-of-thought, tool calls) rendered from the bundled examples.
# The same as `llm2fx data generate runs/notebook-data --n 200 --splits train validation --source examples --workers 1`.
# For real training use `--source midi` (General MIDI renders) and thousands of examples.

# %%
import shutil

from llm2fx_lab.data.generate import GenerateConfig, generate

shutil.rmtree(DATA, ignore_errors=True)
shards = generate(GenerateConfig(out_dir=str(DATA), splits=("train", "validation"), n_examples=examples_per_split,
                                 source="examples"), workers=1, progress=True)
print("wrote", [str(p.relative_to(RUNS)) for p in shards])

# %% [markdown]
# ## 2. Train the tiny preset, with a live loss plot
#
# Training runs in a background thread (it writes `OUT/log.csv` after every step); this cell redraws
# the loss curve from that file once a second, and the progress bar comes from the trainer itself.
# Stage 1 trains the audio encoder and adapter; stage 2 trains the language model (LoRA for big
# models, everything for `tiny`).

# %%
from llm2fx_lab import lessons

shutil.rmtree(OUT, ignore_errors=True)
metrics = lessons.train_with_live_loss("tiny", DATA, OUT, stage1_steps, stage2_steps)
print({stage: round(m["loss"], 3) for stage, m in metrics.items()})

# %% [markdown]
# The same from the command line (with a tqdm bar in the terminal):
#
# ```bash
# llm2fx train --preset tiny --data runs/notebook-data --out runs/notebook-tiny --stage1-steps 300 --stage2-steps 600
# ```
#
# ## 3. Evaluate
#
# The trained folder is a planner: `get_planner("model:runs/notebook-tiny")`. We score it with the
# paper's metrics (`llm2fx_lab.analysis.score`: module accuracy, rank correlation of the order,
# parameter MAE, MR-STFT) on a few bundled pairs, next to the `analysis` planner. Expect the tiny
# model to score near the *empty chain* calibration row after a few minutes of CPU training; that is
# what a few minutes buy.

# %%
from llm2fx_lab.analysis import score
from llm2fx_lab.planners import collect, get_planner, mini_available

pairs = [{"dry": dry, "reference_audio": reference, "sample_rate": float(sr), "reference": chain, "id": name}
         for name, (dry, reference, sr, chain) in lessons.example_pairs(eval_examples, eval_seconds).items()]

rows = {}
names = [f"model:{OUT}", "analysis"] + (["mini"] if mini_available() else [])
for planner_name in names:
    planner = get_planner(planner_name)
    predictions = [collect(planner.plan(p["dry"], p["reference_audio"], p["sample_rate"])).chain for p in pairs]
    for p, chain in zip(pairs, predictions):
        print(f"{planner_name:>28} | {p['id']:>6} | true {p['reference'].names} | predicted {chain.names}")
    table = score(pairs, predictions, mrstft_crop_seconds=eval_seconds, audibility=False)
    rows[planner_name] = table
if not mini_available():
    print("\nno llm2fx-mini weights found (LLM2FX_MINI_DIR?): left out of the comparison")

# %%
import pandas as pd
from IPython.display import display

columns = ["n_examples", "acc", "rank_corr", "mae", "mrs_l", "mrs_r"]
summary = pd.concat([t[t["chain_length"] == "all"].assign(planner=name) for name, t in rows.items()])
summary = summary.drop_duplicates(["method", "acc", "mae", "mrs_l"])  # calibration rows repeat per planner
summary["row"] = [p if m == "prediction" else f"({m})" for p, m in zip(summary["planner"], summary["method"])]
display(summary.set_index("row")[columns].round(3))
print(f"measured here on {len(pairs)} bundled pairs of {eval_seconds:g} s: far too few for conclusions")

# %% [markdown]
# ## 4. Paper scale: data on a cluster
#
# The paper trained on about 101,000 dialogues. The generator makes about 6 a second on 2 cores, so
# that is about 4.6 hours here; a Dask cluster spreads the work units over many machines. Start a
# scheduler and workers (docs/cluster.md), then give the command its address:
#
# ```bash
# dask scheduler                          # on one machine: prints tcp://SCHEDULER:8786
# dask worker tcp://SCHEDULER:8786        # on each worker machine (one process per core by default)
# llm2fx data generate data/lpfx --n 101000 --splits train validation test --source midi --cluster tcp://SCHEDULER:8786
# ```
#
# The shards are written by the machine that runs the command; the workers only compute. The same
# seed gives the same shards, byte for byte, on one process, several, or a cluster; a worker that dies
# loses only the unit it held (it is handed out again), and a stopped run resumes from the shards on
# disk when the command is run again. Here a local cluster of two worker processes stands in for
# one (127.0.0.1 only), and we compare its shards with those of this process.

# %%
from distributed import LocalCluster

from llm2fx_lab.data.generate import verify

small = dict(splits=("train",), n_examples=cluster_examples, source="examples", shard_size=6)
for folder in ("notebook-cluster", "notebook-one-process"):
    shutil.rmtree(RUNS / folder, ignore_errors=True)
with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
    generate(GenerateConfig(out_dir=str(RUNS / "notebook-cluster"), **small), cluster=cluster.scheduler_address)
generate(GenerateConfig(out_dir=str(RUNS / "notebook-one-process"), **small), workers=1, progress=False)
shard_names = sorted(p.name for p in (RUNS / "notebook-cluster").glob("*.parquet"))
same = all((RUNS / "notebook-cluster" / n).read_bytes() == (RUNS / "notebook-one-process" / n).read_bytes()
           for n in shard_names)
print(f"{len(shard_names)} shards, identical to one process: {same}")
print("every example once:", verify(RUNS / "notebook-cluster")["train"]["complete"])

# %% [markdown]
# ## 5. The full recipe: Qwen3-4B on GPUs
#
# The `qwen3-4b` preset is the paper's setup (Qwen3-4B with LoRA, Fx-Encoder++ audio encoder). Nothing
# is downloaded: point `--llm-path` at a local Qwen3-4B checkpoint and `--encoder-weights` at local
# Fx-Encoder++ weights, on every GPU machine. Train on the folder section 4 wrote, with `accelerate`
# (the configs ship in `llm2fx_lab/model/accelerate_configs/`; `--num_processes` is the GPU count):
#
# ```bash
# # several GPUs on one machine, plain data parallel
# accelerate launch --config_file llm2fx_lab/model/accelerate_configs/ddp.yaml --num_processes 8 \
#     -m llm2fx_lab.cli train --preset qwen3-4b --data data/lpfx --out runs/qwen3-4b \
#     --llm-path /path/to/local/Qwen3-4B --encoder-weights /path/to/fxencoder_pp.safetensors
#
# # sharded (FSDP) or DeepSpeed ZeRO-2 when memory is tight
# accelerate launch --config_file llm2fx_lab/model/accelerate_configs/fsdp_qwen3_4b.yaml --num_processes 8 \
#     -m llm2fx_lab.cli train --preset qwen3-4b --data data/lpfx --out runs/qwen3-4b \
#     --llm-path /path/to/local/Qwen3-4B --encoder-weights /path/to/fxencoder_pp.safetensors
# accelerate launch --config_file llm2fx_lab/model/accelerate_configs/deepspeed_zero2_qwen3_4b.yaml --num_processes 8 \
#     -m llm2fx_lab.cli train --preset qwen3-4b --data data/lpfx --out runs/qwen3-4b \
#     --llm-path /path/to/local/Qwen3-4B --encoder-weights /path/to/fxencoder_pp.safetensors
# ```
#
# Useful flags (`python -m llm2fx_lab.cli train --help`): `--resume` continues from
# `OUT/state`, `--stage1-steps`/`--stage2-steps` override the preset's steps, `--batch-size` and
# `--grad-accum` set the per-device batch and accumulation. Memory does not grow with the data:
# with the Fx-Encoder++ encoder each process streams the audio from the shards
# (`llm2fx_lab.model.inputs.GeneratedDialogues`), decoding a batch's examples when it needs them
# (18 ms an example here), and holds no other audio: +27 MB for 300 examples, where reading them
# all into memory took +3.2 GB. The first process converts the shards once into a memory-mapped
# Hugging Face `datasets` cache as large as the shards (`HF_DATASETS_CACHE` says where;
# docs/cluster.md, section 3).
#
# ## 6. Benchmark on the cluster
#
# The result loads like the tiny model, `get_planner("model:runs/qwen3-4b")`; `05_benchmark.ipynb`
# scores it in a notebook, and the benchmark command spreads the test pairs over the cluster's
# workers (each builds the planner once, so each needs the checkpoint at the same path):
#
# ```bash
# llm2fx bench --planner model:runs/qwen3-4b --device cuda --per-length 100 --cluster tcp://SCHEDULER:8786 --json runs/qwen3-4b/bench.json
# ```
