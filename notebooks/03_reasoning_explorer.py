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
# # 03 · Reasoning explorer
#
# Planners explain themselves: before they write a chain, they write their reasoning. This notebook
# runs several planners on the same pairs, puts their reasoning side by side, and checks every
# quantitative claim in it against what was actually measured (`llm2fx_lab.analysis.compare`).
#
# - **Claims** are found by `llm2fx_lab.analysis.check_claims`: numbers ("5.8 dB louder", "echo at
#   350 ms", "pan -0.5", "decaying ... 2.1 s") and free prose as a chat LLM writes it ("there is a
#   reverb", "no compression", "brighter", "wider", "a longer tail"). Each is marked *confirmed*,
#   *contradicted* or *unverifiable* (the Evidence does not measure it), and
#   `llm2fx_lab.analysis.coverage` says how many of the claims found could be checked. Tolerances
#   and the trace each module leaves are in the docstring of `llm2fx_lab.analysis.claims`.
# - **Where each module was decided**: the character offset and reasoning step at which each module
#   name first appears in the stream.
# - **Any chat LLM as a planner**: the same pair put to a chat model through an OpenAI-compatible
#   endpoint (yours, or the lab's own `llm2fx serve`), its tool calls and measurements, and its
#   reasoning beside another planner's, claim by claim.
#
# The first cell sets how much to run: fewer, shorter pairs and fewer refinement steps make a quick
# run.

# %% tags=["parameters"]
examples = None  # bundled examples to plan, e.g. ["piano", "guitar"]; None: all of them
clip_seconds = 10.0  # length of each pair, in seconds
refine_steps = 25  # gradient steps of the analysis+refine planner, per pair
refine_budget_seconds = 15.0  # time the refinement may take per pair, in seconds
digits_from_your_model = True  # score your tiny model from 04 (if it exists); False: overfit a quick one here
chat_planner = None  # your chat LLM, e.g. "llm:qwen3:8b@http://localhost:11434/v1"; None: the mini via llm2fx serve
chat_key_env = None  # the environment variable that holds chat_planner's API key (its name, never the key)
chat_attach_audio = False  # also send the clips to chat_planner (audio-capable models only)
compare_on = None  # the pair the chat planner is compared on, e.g. "piano"; None: the first pair

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import Markdown, display

from llm2fx_lab import lessons
from llm2fx_lab.analysis import check_claims, compare, coverage, share_confirmed
from llm2fx_lab.planners import collect, get_planner, mini_available

pairs = lessons.example_pairs(examples, clip_seconds)
print("pairs:", ", ".join(pairs), f"({clip_seconds:g} s each)")

# %% [markdown]
# ## The planners
#
# - `analysis`: measurement and closed forms, no neural network.
# - `analysis+refine`: the same, then gradient descent on the chain through the differentiable
#   renderer (`llm2fx_lab.planners.refine.Refined`), an order search with the tuned settings, and a
#   presence check: each module the trees are unsure about is removed or added, the chain re-tuned,
#   and the change kept when the loss it saves outweighs the trees' prior (its reasoning shows the
#   sums).
# - `mini`: the embedded llm2fx-mini model, a small model with the paper's architecture trained from
#   scratch on this project's synthetic data (its card: `llm2fx_lab/model/weights/mini/MODEL_CARD.md`;
#   it is not the paper's Qwen3-4B model). Its reasoning numbers are generated, not measured: watch the
#   claim check below. A model you train yourself
#   (`04_train_your_own.ipynb`) can be loaded as `model:PATH`; a folder `runs/notebook-tiny` from
#   that notebook is picked up below if it exists.

# %%
from pathlib import Path

planners = {"analysis": get_planner("analysis"),
            "analysis+refine": get_planner("analysis", refine=True,
                                           refine_options={"steps": refine_steps,
                                                           "budget_seconds": refine_budget_seconds})}
if mini_available():
    planners["mini"] = get_planner("mini")
else:
    print("no llm2fx-mini weights found (LLM2FX_MINI_DIR?): the mini model is left out")
TINY = Path("../runs/notebook-tiny")
if (TINY / "config.json").exists():
    planners["tiny (yours)"] = get_planner(f"model:{TINY}")
    print("using your tiny model from", TINY)
print("planners:", ", ".join(planners))

results = {(pair, label): collect(planner.plan(dry, reference, sr))
           for pair, (dry, reference, sr, _) in pairs.items() for label, planner in planners.items()}
evidence = {pair: compare(dry, reference, sr) for pair, (dry, reference, sr, _) in pairs.items()}
for (pair, label), r in results.items():
    print(f"{pair:>7} | {label:<16} | {r.timings.total_seconds:5.1f} s | {r.chain.names}")

# %% [markdown]
# ## Side by side
#
# The reasoning of each planner, by step, next to the chain that was actually applied. The measured
# Evidence is shown first: it is what a claim is checked against.

# %%
for pair, (dry, reference, sr, true_chain) in pairs.items():
    display(Markdown(f"### {pair}\n**true chain:** `{' -> '.join(true_chain.names)}`  \n"
                     f"**measured:** {evidence[pair].summary()}"))
    display(lessons.reasoning_table({label: results[(pair, label)] for label in planners}))

# %% [markdown]
# ## Checking each claim
#
# Every quantitative claim is matched to an Evidence field and marked. Claims about a gain at a single
# frequency are *unverifiable* (the Evidence measures three bands); a decay time measured on the
# impulse response is checked against the Evidence's decay of the whole clip, so it can disagree for
# good reasons: *contradicted* means "the measurement says otherwise", not "the planner lied".

# %%
MARK = {"confirmed": "✔ confirmed", "contradicted": "✘ contradicted", "unverifiable": "? unverifiable"}
table, shares = [], {}
for (pair, label), r in results.items():
    checks = check_claims(r.reasoning, evidence[pair])
    shares[(pair, label)] = (share_confirmed(checks), *coverage(checks))
    for c in checks:
        table.append({"pair": pair, "planner": label, "claim": c.text, "field": c.field or "-",
                      "verdict": MARK[c.verdict], "why": c.reason})
claims = pd.DataFrame(table)
with pd.option_context("display.max_colwidth", 70, "display.max_rows", 200):
    display(claims)

# %%
summary = pd.DataFrame([{"pair": p, "planner": l, "claims": n, "checkable": k, "share confirmed (of checkable)": s}
                        for (p, l), (s, k, n) in shares.items()])
display(summary.style.format({"share confirmed (of checkable)": "{:.0%}"}, na_rep="-"))
counts = claims.groupby(["planner", "verdict"]).size().unstack(fill_value=0)
print(counts)

# %% [markdown]
# ## Where in the reasoning each module was decided
#
# Walking through the stream's `Thinking` events, we note the character offset (and step) where each
# toolset module's name first appears. A module named in *selection* was chosen early; one first
# named during *refinement* was added by the gradient search.

# %%
for (pair, label), r in results.items():
    seen = lessons.first_mentions(r)
    total = max(len(r.reasoning), 1)
    marks = ", ".join(f"{name} @ {pos} ({pos / total:.0%}, {step})"
                      for name, (pos, step) in sorted(seen.items(), key=lambda kv: kv[1][0]) if name in r.chain.names)
    print(f"{pair:>7} | {label:<16} | {marks}")

# %%
display(lessons.decision_timeline(results, evidence))

# %% [markdown]
# ## What the model hears, and what it says (mini only)
#
# The mini was trained with a *chain probe*: a small head on the same audio tokens its language model
# reads, predicting which modules are in the chain. `llm2fx_lab.model.presence_probabilities` reads
# it. Its probabilities show what the audio tokens carry; the modules the mini's text named are what
# it said. Bars: the probe's probability per module (green: in the true chain, grey: not); black
# dots: the modules the mini's chain named; dashed line: the presence guide's threshold.
#
# On the benchmark's 900 test pairs the probe's own choice scores 72 % module accuracy against the
# text's 58 % (the model card's `mini-guided` and `mini` rows): the model hears more than it says.
# `get_planner("mini", presence_guide=True)` makes its text follow the probe, at a cost the card
# gives (its renders land further from the reference). Neither reaches the `analysis` planner's
# 81 %. The card's "Known failure modes" say why: a network this size, trained on data this small,
# stays below gradient-boosted trees even when given their features.

# %%
from llm2fx_lab.model import presence_probabilities

if "mini" in planners:
    hears = {pair: presence_probabilities(planners["mini"].model, dry, reference, sr)
             for pair, (dry, reference, sr, _) in pairs.items()}
    truth = {pair: set(true_chain.active.names) for pair, (*_, true_chain) in pairs.items()}
    said = {pair: set(results[(pair, "mini")].chain.names) for pair in pairs}
    fig, table = lessons.hears_and_says(hears, truth, said)
    display(fig, table.round(2))
else:
    print("no mini planner here: nothing to probe")

# %% [markdown]
# ## Digit probabilities (neural models only)
#
# For a neural planner we can ask how sure it was of each digit it wrote for a parameter value (was
# it "0.35" by a wide margin, or nearly "0.45"?). `llm2fx_lab.model.digit_probabilities` generates
# greedily, then runs **one teacher-forced forward pass** over prompt + answer (audio embeddings
# spliced in as during generation) and returns, for every digit of every tool-call argument: the
# module, the parameter, the digit's place, its probability (softmax over the full vocabulary), the
# top-3 tokens and the distribution restricted to the ten digit tokens. The `analysis` planner has no
# such scores: it computes its numbers.
#
# Your tiny model from `04_train_your_own.ipynb` (`runs/notebook-tiny`) is used when it exists; with
# `digits_from_your_model = False` (first cell) or without it, a tiny model is overfit in a few
# seconds on 16 synthetic dialogues (sines, as in the test suite), and the known right answer is
# scored too (teacher-forced: how much probability did the model give each right digit?). Greedy
# decoding writes the most probable token, so every digit of the model's own answer should be the
# top-1 alternative.

# %%
from llm2fx_lab.errors import Llm2FxError, ToolCallError
from llm2fx_lab.model import Llm2FxModel, digit_probabilities
from llm2fx_lab.model.inputs import target_text

known_answer = None
if (TINY / "config.json").exists() and digits_from_your_model:
    digit_model = Llm2FxModel.from_pretrained(TINY)
    first = next(iter(pairs))
    dry, reference, sr_digits, _ = pairs[first]
    print(f"scoring your tiny model ({TINY}) on the {first} pair")
else:
    digit_model, quick = lessons.quick_tiny_model()
    demo = quick[6]  # limiter: two values, "150" has three digits
    dry, reference, sr_digits, known_answer = demo.dry, demo.reference, 44100, target_text(demo)
    print("scoring a tiny model overfit just now on 16 synthetic dialogues; pair:", demo.chain.names)

try:
    digit_scores = digit_probabilities(digit_model, dry, reference, sr_digits, instruction="Match it.",
                                       max_new_tokens=200)
    print("scored the model's own greedy answer:", sorted({s.module for s in digit_scores}))
except ToolCallError as error:
    digit_scores = []
    print("the model wrote no tool call:", error)
except Llm2FxError as error:
    digit_scores = []
    print("could not score this model:", error)
answer_scores = []
if known_answer is not None:  # how sure is the model of the right answer, digit by digit (teacher-forced)?
    answer_scores = digit_probabilities(digit_model, dry, reference, sr_digits, text=known_answer,
                                        instruction="Match it.")
    print("also scored the known answer:", sorted({s.module for s in answer_scores}))

# %%
rows = ([{"answer": "model's own (greedy)", **s.as_row()} for s in digit_scores]
        + [{"answer": "known (teacher-forced)", **s.as_row()} for s in answer_scores])
if rows:
    digit_table = pd.DataFrame(rows)
    display(digit_table.style.format({"p": "{:.3f}", "p (digits only)": "{:.3f}", "digit mass": "{:.3f}"})
            .hide(axis="index"))
    if digit_scores:
        print("greedy digit = top-1 alternative:", sum(s.is_argmax for s in digit_scores), "of", len(digit_scores))
else:
    print("no digits to show")

# %%
plotted = answer_scores or digit_scores
if plotted:
    display(lessons.digit_figure(plotted))

# %% [markdown]
# ## Any chat LLM as a planner
#
# `llm2fx_lab.planners.chat.ChatPlanner` puts the pair to a chat model as the paper frames it: a
# system role, the 9 effect tools with their official schemas, the three reasoning steps. Most LLMs
# cannot hear, so it also offers **measurement tools** the model may call first: `measure_pair`
# (what changed from dry to reference, with units in the keys), `measure_clip` and
# `render_and_compare` (render a proposed chain and see how far it lands). It runs the loop: the
# model's text streams as reasoning, each measurement is run and its result sent back, effect
# calls build the chain, an error (an unknown parameter, a value out of range) goes back for the
# model to correct.
#
# Two backends: any OpenAI-compatible endpoint (`llm:MODEL@URL`: Ollama, vLLM, llama.cpp's
# `llama-server --jinja`, LM Studio, a hosted API; the key comes from an environment variable you
# name) or a local checkpoint directory (`hf:PATH`, offline). With `chat_planner = None` (first
# cell) this notebook starts the lab's own server, `llm2fx serve`, in this kernel on 127.0.0.1 and
# plans through it with the mini, exactly as any OpenAI client would: the mini's reasoning and
# chain come back as `reasoning_content` and `tool_calls`. Set `chat_planner` to put the same pair
# to your own model.

# %%
from IPython.display import HTML

from llm2fx_lab.server import ServeConfig, create_app, in_background

on = compare_on or next(iter(pairs))
dry, reference, sr, true_chain = pairs[on]
if chat_planner:
    chat = get_planner(chat_planner, api_key_env=chat_key_env, attach_audio=chat_attach_audio)
    chat_result = collect(chat.plan(dry, reference, sr))
else:
    served = "mini" if mini_available() else "analysis"
    with in_background(create_app(ServeConfig(planners=(served,)))) as url:
        chat = get_planner(f"llm:{served}@{url}", attach_audio=True, audio_subtype="FLOAT")
        chat_result = collect(chat.plan(dry, reference, sr))
print(f"{chat.name} on {on}: {' -> '.join(chat_result.chain.names) or '(empty chain)'} "
      f"in {chat_result.timings.total_seconds:.1f} s")
for message in chat_result.transcript:  # the conversation, audio parts left out
    calls = [c["function"]["name"] for c in message.get("tool_calls", [])]
    content = message["content"] if isinstance(message["content"], str) else " ".join(
        p.get("text", "[audio]") for p in message["content"])
    print(f"{message['role']:>9} | {content[:110].strip()!r}{' -> calls ' + ', '.join(calls) if calls else ''}")
for m in chat_result.measurements:
    print(f"measured {m.name}: {m.error or sorted(m.result)[:6]}")
for repair in chat_result.repairs:
    print("repair:", repair)

# %% [markdown]
# ## Two planners on one pair, claim by claim
#
# The chat planner's reasoning beside the `analysis` planner's on the same pair. Each claim the
# checker found is coloured by its verdict (hover for why): green confirmed, red contradicted, grey
# unverifiable. The line above each column counts the claims found, how many the Evidence could
# check, and how many it confirmed.

# %%
display(HTML(lessons.claims_side_by_side({chat.name: chat_result, "analysis": results[(on, "analysis")]},
                                         evidence[on])))
