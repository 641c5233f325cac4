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
# # 05 · Benchmark
#
# All planners on the same test pairs, scored with the paper's metrics (module accuracy *Acc*, rank
# correlation of the order *Rank Corr*, parameter *MAE* on normalised values, *MRS* = MR-STFT distance
# on left/right), per chain length, next to the numbers the LLM2Fx-Tools paper reports.
#
# **Read the comparison with care.** The paper's rows are measured on its LP-Fx test set (MedleyDB
# stems); ours are measured here, on generated pairs from other audio. The numbers share a definition,
# not a test set. `mini` is the embedded llm2fx-mini model (not the paper's Qwen3-4B); `regression`
# and `multitask` are baselines of the paper's kind on the same encoder features.
#
# The first cell sets the size of the run: 3 pairs of 5 s per chain length 1-9, made from the bundled
# examples. One 2 s pair per chain length 1-3 runs in seconds, and is far too few pairs for conclusions.

# %% tags=["parameters"]
pairs_per_length = 3  # test pairs per chain length
chain_lengths = (1, 2, 3, 4, 5, 6, 7, 8, 9)  # chain lengths to test (the paper's test set has 1-9)
clip_seconds = 5.0  # length of each test pair, in seconds
refine_steps = 25  # gradient steps of the analysis+refine planner, per pair
refine_budget_seconds = 15.0  # time the refinement may take per pair, in seconds

# %% [markdown]
# ## The reference run (docs/benchmarks.md)
#
# The full run on this project's CPU (45 generated General MIDI pairs) is recorded in
# `docs/benchmarks.md`, section *Planners*; here is that section as committed:

# %%
# %matplotlib inline
import re
from pathlib import Path

from IPython.display import Markdown, display

text = Path("../docs/benchmarks.md").read_text(encoding="utf-8")
match = re.search(r"^## Planners.*?(?=^## |\Z)", text, re.S | re.M)
display(Markdown(match.group(0) if match else "(no Planners section in docs/benchmarks.md yet)"))

# %% [markdown]
# ## Measured now
#
# `llm2fx_lab.planners.bench`: `make_test_pairs` builds LP-Fx-style pairs (a chain sampled as the
# paper's generator does, rendered on a dry segment, kept only if the MR-STFT similarity filter passes),
# `run_bench` runs a planner and scores it with `llm2fx_lab.analysis.score`, calibration rows included
# (*empty chain*: predict nothing; *true modules, mid params*: the right modules with every parameter
# at the middle of its range).

# %%
from llm2fx_lab.planners import get_planner, mini_available
from llm2fx_lab.planners.bench import make_test_pairs, run_bench

pairs = make_test_pairs(per_length=pairs_per_length, source="examples", lengths=chain_lengths, seconds=clip_seconds)
print(f"{len(pairs)} pairs of {clip_seconds:g} s from the bundled examples, chain lengths {chain_lengths}")

names = ["analysis", "analysis+refine", "regression", "multitask"] + (["mini"] if mini_available() else [])
options = {"analysis+refine": {"refine_options": {"steps": refine_steps, "budget_seconds": refine_budget_seconds}}}
tables, seconds = {}, {}
for name in names:
    summary, per_example, secs = run_bench(get_planner(name, **options.get(name, {})), pairs,
                                           mrstft_crop_seconds=clip_seconds, audibility=False)
    tables[name], seconds[name] = summary, sum(secs) / len(secs)
    print(f"{name:>16}: {seconds[name]:.2f} s per pair")
if not mini_available():
    print("llm2fx-mini: no weights found (LLM2FX_MINI_DIR?), not measured")

# %%
import pandas as pd

from llm2fx_lab import lessons

ours = lessons.benchmark_rows(tables, len(pairs))
table = pd.concat([ours[ours["chain length"] == "all"], lessons.paper_rows()]).set_index("row")
display(table.style.format({"Acc": "{:.0%}", "Rank Corr": "{:.2f}", "MAE": "{:.3f}", "MRS L": "{:.2f}",
                            "MRS R": "{:.2f}"}, na_rep="-"))
print("paper MRS is one number (the table's MRS column), shown under MRS L")

# %% [markdown]
# ## Per chain length
#
# Longer chains are harder: more modules to find, more orderings, and each module's effect is harder
# to tell apart. The paper's LLM2Fx-Tools row (over all lengths) is drawn as a dashed line; it was
# measured on different audio.

# %%
display(lessons.per_length_figure(ours))
print(f"measured here: {len(pairs)} pairs ({len(pairs) // len(chain_lengths)} per chain length) of {clip_seconds:g} s")

# %% [markdown]
# ## Running the full benchmark
#
# ```bash
# python benchmarks/planners.py --per-length 5 --planners analysis analysis+refine --refine-subset 1
# ```
#
# writes the table in `docs/benchmarks.md`. Add `model:runs/qwen3-4b` (from `04_train_your_own.ipynb`'s
# recipe) to `--planners` to score your own model.
