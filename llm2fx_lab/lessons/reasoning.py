"""Helpers of ``03_reasoning_explorer``: planners side by side, claims against Evidence, digits."""

from __future__ import annotations

import html
import json
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from llm2fx_lab.analysis import Evidence, check_claims, coverage
from llm2fx_lab.audio import check_sample_rate
from llm2fx_lab.errors import ParameterError
from llm2fx_lab.examples import example_pair, list_examples
from llm2fx_lab.fx import MODULE_NAMES, Chain
from llm2fx_lab.lessons.common import check_positive
from llm2fx_lab.model import Dialogue, Llm2FxModel, preset, train_tokenizer
from llm2fx_lab.model.guide import PRESENCE_THRESHOLD, presence_set
from llm2fx_lab.model.inputs import corpus_texts
from llm2fx_lab.model.train import train
from llm2fx_lab.planners import STEPS, PlanResult, Thinking, collect
from llm2fx_lab.planners.chat import ChatPlanner, RawCall, TransformersBackend
from llm2fx_lab.planners.chat import Turn as ChatTurn

#: Colour of each claim verdict in :func:`decision_timeline`.
VERDICT_COLOURS = {"confirmed": "tab:green", "contradicted": "tab:red", "unverifiable": "0.6"}


_DIGITS = "0123456789"


def example_pairs(names: Sequence[str] | None = None,
                  seconds: float = 10.0) -> dict[str, tuple[np.ndarray, np.ndarray, float, Chain]]:
    """Bundled (dry, reference) pairs with their known chains, cut to ``seconds``.

    Parameters
    ----------
    names : sequence of str or None
        Bundled examples; ``None`` for all of them.
    seconds : float
        Length of each clip, in seconds.

    Returns
    -------
    dict of str to (dry, reference, sample_rate, chain)
        ``dry`` and ``reference`` of shape (2, round(seconds * sample_rate)), float32.

    Raises
    ------
    AudioError
        An unknown example (the message lists the bundled ones).
    """
    seconds = check_positive("seconds", seconds)
    pairs = {}
    for name in list_examples() if names is None else names:
        dry, reference, sr, chain = example_pair(name)
        n = int(round(seconds * sr))
        pairs[name] = (dry[:, :n], reference[:, :n], sr, chain)
    return pairs


def reasoning_table(results: Mapping[str, PlanResult]) -> Any:
    """The reasoning of several planners side by side, by step, with the chain each applied.

    Parameters
    ----------
    results : mapping of str to PlanResult
        One result per planner label, all for the same pair.

    Returns
    -------
    pandas Styler
        Its ``.data`` has one column per planner and the rows ``selection``, ``order``,
        ``parameters``, ``refinement`` and ``chain``; text wraps and aligns left.
    """
    if not results:
        raise ParameterError("reasoning_table needs at least one planner's result")
    rows = {}
    for label, r in results.items():
        rows[label] = {step: r.reasoning_by_step.get(step, "").strip() for step in STEPS}
        rows[label]["chain"] = " -> ".join(r.chain.names)
    return pd.DataFrame(rows).style.set_properties(**{"white-space": "pre-wrap", "text-align": "left",
                                                      "vertical-align": "top", "font-size": "85%"})


def first_mentions(result: PlanResult) -> dict[str, tuple[int, str]]:
    """Where each toolset module is first named in a planner's reasoning.

    Returns
    -------
    dict of str to (int, str)
        For each module named in the stream's :class:`~llm2fx_lab.planners.Thinking` events: the
        character offset of its first mention in the concatenated reasoning, and the step
        (``selection``, ``order``, ...) it was written in. Modules never named are absent.
    """
    offset, seen = 0, {}
    for event in result.events:
        if not isinstance(event, Thinking):
            continue
        for name in MODULE_NAMES:
            m = re.search(rf"\b{name}\b", event.text)
            if m and name not in seen:
                seen[name] = (offset + m.start(), event.step)
        offset += len(event.text)
    return seen


def decision_timeline(results: Mapping[tuple[str, str], PlanResult], evidence: Mapping[str, Evidence]) -> Figure:
    """One row per (pair, planner): where each applied module was first named, and each claim.

    Positions are shares of the reasoning's characters (0 = start, 1 = end). Vertical lines mark
    the first mention of each module of the applied chain; dots mark the claims, coloured by
    their verdict against ``evidence`` (:data:`VERDICT_COLOURS`).

    Parameters
    ----------
    results : mapping of (pair, planner label) to PlanResult
    evidence : mapping of pair to Evidence
        The measured comparison of each pair (:func:`llm2fx_lab.analysis.compare`).
    """
    if not results:
        raise ParameterError("decision_timeline needs at least one result")
    missing = sorted({pair for pair, _ in results} - set(evidence))
    if missing:
        raise ParameterError(f"no evidence for pair(s) {', '.join(missing)}; have: {', '.join(evidence) or 'none'}")
    fig = Figure(figsize=(10, 1.1 * len(results) + 1.5), layout="constrained")
    axes = fig.subplots(len(results), 1, sharex=True, squeeze=False)[:, 0]
    for ax, ((pair, label), r) in zip(axes, results.items()):
        total = max(len(r.reasoning), 1)
        for name, (pos, _step) in first_mentions(r).items():
            if name in r.chain.names:
                ax.axvline(pos / total, color="tab:blue")
                ax.text(pos / total, 0.5, " " + name, fontsize=8, va="center")
        for c in check_claims(r.reasoning, evidence[pair]):
            ax.plot(c.start / total, 0.1, "o", color=VERDICT_COLOURS[c.verdict], ms=4)
        ax.set(ylim=(0, 1), yticks=[])  # module names at 0.5, claims at 0.1
        ax.set_ylabel(f"{pair}\n{label}", rotation=0, ha="right", fontsize=8)
    axes[-1].set_xlabel("position in the reasoning (share of its characters); dots: claims (green ✔, red ✘, grey ?)")
    return fig


def hears_and_says(hears: Mapping[str, Mapping[str, float]], truth: Mapping[str, set[str]],
                   said: Mapping[str, set[str]]) -> tuple[Figure, pd.DataFrame]:
    """What a model's chain probe hears against what its text says, per pair.

    Parameters
    ----------
    hears : mapping of pair to {module: probability}
        The probe's presence probabilities (:func:`llm2fx_lab.model.presence_probabilities`).
    truth : mapping of pair to set of str
        The modules of the true chain.
    said : mapping of pair to set of str
        The modules of the chain the model wrote.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One bar chart per pair: the probe's probability per module (green: in the true chain,
        grey: not), black dots on the modules the text named, the presence threshold dashed.
    table : pandas.DataFrame
        One row per pair: the module sets and the module accuracy (share of the 9 modules
        whose presence is right) of the text and of the probe above its threshold.
    """
    if not hears or set(hears) != set(truth) or set(hears) != set(said):
        raise ParameterError(f"hears, truth and said must name the same pairs, got {sorted(hears)}, "
                             f"{sorted(truth)} and {sorted(said)}")
    fig = Figure(figsize=(3.2 * len(hears), 3), layout="constrained")
    axes = fig.subplots(1, len(hears), sharey=True, squeeze=False)[0]
    rows = []
    x = np.arange(len(MODULE_NAMES))
    for ax, (pair, probs) in zip(axes, hears.items()):
        colours = ["tab:green" if m in truth[pair] else "0.75" for m in MODULE_NAMES]
        ax.bar(x, [probs[m] for m in MODULE_NAMES], color=colours)
        ax.plot([i for i, m in enumerate(MODULE_NAMES) if m in said[pair]], [1.05] * len(said[pair]), "ko", ms=5)
        ax.axhline(PRESENCE_THRESHOLD, ls="--", color="0.4", lw=1)
        ax.set_xticks(x, [m.replace("stereo_", "") for m in MODULE_NAMES], rotation=70, fontsize=8)
        ax.set_title(pair)
        ax.set_ylim(0, 1.12)
        heard = set(presence_set(probs))

        def accuracy(chosen: set[str]) -> float:
            return float(np.mean([(m in chosen) == (m in truth[pair]) for m in MODULE_NAMES]))

        rows.append({"pair": pair, "true": ", ".join(sorted(truth[pair])), "text named": ", ".join(sorted(said[pair])),
                     "probe above threshold": ", ".join(sorted(heard)),
                     "text accuracy": accuracy(said[pair]), "probe accuracy": accuracy(heard)})
    axes[0].set_ylabel("probe probability")
    return fig, pd.DataFrame(rows)


#: Short targets a quick model learns in seconds (the chains of tests/model/conftest.py).
_QUICK_CHAINS = (
    {"gain": {"gain_db": -6}}, {"gain": {"gain_db": 8}}, {"distortion": {"drive_db": 12}},
    {"panner": {"pan": -0.4}}, {"panner": {"pan": 0.7}}, {"stereo_widener": {"width": 1.3}},
    {"limiter": {"threshold_db": -9, "release_ms": 150}}, {"gain": {"gain_db": 3}, "distortion": {"drive_db": 6}},
    {"distortion": {"drive_db": 18}, "gain": {"gain_db": -12}}, {"panner": {"pan": 0.2}, "gain": {"gain_db": -2}},
    {"stereo_widener": {"width": 0.5}}, {"gain": {"gain_db": 14}},
    {"limiter": {"threshold_db": -3, "release_ms": 400}}, {"distortion": {"drive_db": 4}},
    {"panner": {"pan": -0.9}, "stereo_widener": {"width": 1.1}},
    {"gain": {"gain_db": -15}, "limiter": {"threshold_db": -6, "release_ms": 50}},
)


def quick_tiny_model(stage2_steps: int = 120, sample_rate: float = 44100.0,
                     seconds: float = 0.5) -> tuple[Llm2FxModel, list[Dialogue]]:
    """Overfit the ``tiny`` preset on 16 synthetic dialogues (about 15-20 s on two CPU cores).

    Each dialogue is a stereo sine pair (a different pitch each) with a short known chain, so a
    model learns the tool-call format and the numbers within seconds: enough to look at how
    sure it is of each digit it writes.

    Parameters
    ----------
    stage2_steps : int
        Training steps of stage 2 (the language model).
    sample_rate : float
        Of the sine pairs, in Hz.
    seconds : float
        Length of each sine pair, in seconds.

    Returns
    -------
    model : Llm2FxModel
        In eval mode.
    dialogues : list of Dialogue
        The 16 training dialogues, ``dry`` and ``reference`` of shape (2, samples).
    """
    if not isinstance(stage2_steps, int) or stage2_steps < 1:
        raise ParameterError(f"stage2_steps must be a whole number >= 1, got {stage2_steps!r}")
    seconds, sample_rate = check_positive("seconds", seconds), check_sample_rate(sample_rate)
    rng, t = np.random.default_rng(0), np.arange(int(seconds * sample_rate)) / sample_rate
    dialogues = []
    for i, calls in enumerate(_QUICK_CHAINS):
        f = 110.0 * 2 ** (i / 3)
        dry = (np.stack([np.sin(2 * np.pi * f * t), np.sin(2 * np.pi * f * t + 0.3)]) * 0.3).astype(np.float32)
        ref = (dry * (0.2 + 0.05 * i) + 0.01 * rng.standard_normal(dry.shape)).astype(np.float32)
        chain = Chain.from_tool_calls([{"name": n, "arguments": a} for n, a in calls.items()])
        dialogues.append(Dialogue(reference=ref, dry=dry, chain=chain, instruction="Match it.",
                                  reasoning=f"Selection: {', '.join(chain.names)}.\nOrder: as listed.",
                                  response="Done."))
    cfg = preset("tiny", encoder={"clip_seconds": seconds},
                 train={"batch_size": 8, "stage2_steps": stage2_steps})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # faster than two on a small shared CPU
    try:
        torch.manual_seed(0)
        model = Llm2FxModel(cfg, train_tokenizer(corpus_texts(dialogues, cfg), cfg.tokenizer_vocab_size))
        train(model, dialogues, tempfile.mkdtemp(prefix="llm2fx-digits-"), progress=False)
    finally:
        torch.set_num_threads(threads)
    return model.eval(), dialogues


def digit_figure(scores: Sequence[Any]) -> Figure:
    """How sure a model was of each digit of one parameter value: one bar chart per digit.

    Shows the tool-call argument with the most digits among ``scores``; each chart is the
    distribution over the ten digit tokens at that position, the digit written in orange.

    Parameters
    ----------
    scores : sequence of DigitScore
        From :func:`llm2fx_lab.model.digit_probabilities`.
    """
    if not scores:
        raise ParameterError("digit_figure needs at least one DigitScore (the model wrote no digits?)")
    keys = [(s.call, s.parameter) for s in scores]
    key = max(dict.fromkeys(keys), key=keys.count)  # ties: the first written
    shown = [s for s in scores if (s.call, s.parameter) == key]
    fig = Figure(figsize=(3.2 * len(shown), 2.6), layout="constrained")
    axes = fig.subplots(1, len(shown), sharey=True, squeeze=False)[0]
    for ax, s in zip(axes, shown):
        ax.bar(list(_DIGITS), s.digit_probs, color=["tab:orange" if d == s.token else "tab:blue" for d in _DIGITS])
        ax.set_title(f"digit {s.position + 1} (10^{s.place}): '{s.token}'  p={s.probability:.2f}", fontsize=9)
        ax.set_xlabel("digit")
    axes[0].set_ylabel("probability among digits")
    fig.suptitle(f"{shown[0].module}.{shown[0].parameter} = {shown[0].value} (orange: the digit written)")
    return fig


# --- chat LLMs -------------------------------------------------------------------------------

#: The conversation :func:`teach_chat_checkpoint` teaches by default: measure, then a reverb,
#: then a short answer.
MEASURE_THEN_REVERB = (
    ChatTurn("\nI measure the pair first.\n", "", [RawCall("call_0", "measure_pair", {})]),
    ChatTurn("\nThe tail is longer: a reverb.\n", "",
             [RawCall("call_1", "reverb", {"room_size": 0.7, "mix_ratio": 0.4})]),
    ChatTurn("", "A reverb.", []),
)


class _Replay:
    """A chat backend that plays fixed turns and records what the planner sends."""

    name = "replay"

    def __init__(self, turns: Sequence[ChatTurn]) -> None:
        self.turns, self.prompts, self.tools = list(turns), [], []

    def stream(self, messages, tools, stop=None):  # noqa: ANN001 - the backend protocol
        self.prompts.append(json.loads(json.dumps(messages)))
        self.tools = list(tools)
        yield self.turns[len(self.prompts) - 1] if len(self.prompts) <= len(self.turns) else ChatTurn("", "", [])


def teach_chat_checkpoint(out_dir: str | Path, dry: np.ndarray | None, reference: np.ndarray, sample_rate: float,
                          turns: Sequence[ChatTurn] = MEASURE_THEN_REVERB, system_prompt: str | None = None,
                          max_steps: int = 300) -> Path:
    """Save a tiny Qwen3 chat checkpoint that has learnt one tool-calling conversation by heart.

    The :class:`~llm2fx_lab.planners.chat.ChatPlanner` is run once on the pair with ``turns``
    played as the model's answers; a byte-level BPE tokenizer and a 2-layer Qwen3 are then
    trained until greedy decoding writes those answers back (tens of seconds on two CPU cores).
    Every prompt of the conversation is a prefix of the whole conversation as the chat template
    renders it, so one sequence, with the loss on the assistant turns, teaches them all.

    It shows the local-checkpoint path (``hf:PATH``) end to end, offline: the chat template with
    the tools, the ``<think>`` and ``<tool_call>`` blocks, the measurement results fed back. It is
    not a planner: it hears nothing and answers every pair the same way.

    Returns
    -------
    Path
        ``out_dir``, holding the model and its tokenizer (load it as ``hf:out_dir``).
    """
    from transformers import Qwen3Config, Qwen3ForCausalLM

    replay = _Replay(turns)
    settings = {"system_prompt": system_prompt} if system_prompt else {}
    taught = collect(ChatPlanner(replay, **settings).plan(dry, reference, sample_rate))
    rendered = [TransformersBackend.template_messages(m) for m in (taught.transcript, *replay.prompts)]
    tokenizer = train_tokenizer([json.dumps(rendered), json.dumps(replay.tools)], vocab_size=1200)
    full = tokenizer.apply_chat_template(rendered[0], tools=replay.tools, tokenize=False)
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    labels = torch.full((len(ids),), -100)
    for messages in rendered[1:]:
        prompt = tokenizer.apply_chat_template(messages, tools=replay.tools, add_generation_prompt=True,
                                               tokenize=False)
        if not full.startswith(prompt):
            raise ParameterError("the chat template renders the conversation's history differently from its "
                                 "prompts; this checkpoint cannot learn it")
        k = next(i for i, (start, _) in enumerate(offsets) if start >= len(prompt))
        while True:  # the assistant turn, up to and with its <|im_end|>
            labels[k] = ids[k]
            if ids[k] == end or k == len(ids) - 1:
                break
            k += 1
    x = torch.tensor(ids)[None]
    taught_positions = labels[1:] != -100
    torch.manual_seed(0)
    config = Qwen3Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=32,
                         max_position_embeddings=x.shape[1] + 512, eos_token_id=end, tie_word_embeddings=True)
    model = Qwen3ForCausalLM(config)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(max_steps):
        step = model(input_ids=x, labels=labels[None])
        # done when every taught token is the most likely one, with a margin (greedy decoding
        # then writes the turns back, even with the KV cache's slightly different sums)
        predicted = step.logits[0, :-1].argmax(-1)[taught_positions]
        if step.loss.item() < 0.05 and bool((predicted == labels[1:][taught_positions]).all()):
            break
        opt.zero_grad()
        step.loss.backward()
        opt.step()
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def claims_side_by_side(results: Mapping[str, PlanResult], evidence: Evidence) -> str:
    """Several planners' reasoning on one pair, side by side, each claim the checker found
    marked by its verdict (green confirmed, red contradicted, grey unverifiable), with a line
    per planner: claims found, how many the Evidence could check, how many it confirmed.

    Returns
    -------
    str
        HTML (``IPython.display.HTML(...)`` shows it).
    """
    if not results:
        raise ParameterError("claims_side_by_side needs at least one planner's result")
    colours = {"confirmed": "#2e7d32", "contradicted": "#c62828", "unverifiable": "#757575"}
    columns = []
    for label, result in results.items():
        checks = check_claims(result.reasoning, evidence)
        checked, found = coverage(checks)
        confirmed = sum(c.verdict == "confirmed" for c in checks)
        text, at = [], 0
        for c in checks:
            text.append(html.escape(result.reasoning[at:c.start]))
            text.append(f"<span title='{html.escape(c.verdict)}: {html.escape(c.reason)}' style='color:"
                        f"{colours[c.verdict]};font-weight:600;border-bottom:2px solid {colours[c.verdict]}'>"
                        f"{html.escape(result.reasoning[c.start:c.end])}</span>")
            at = c.end
        text.append(html.escape(result.reasoning[at:]))
        columns.append(
            f"<div style='flex:1 1 0;min-width:280px;margin-right:12px'><h4>{html.escape(label)}</h4>"
            f"<p><b>{found}</b> claims found, <b>{checked}</b> checkable, <b>{confirmed}</b> confirmed; chain "
            f"<code>{html.escape(' -> '.join(result.chain.names) or '(empty)')}</code></p>"
            f"<div style='white-space:pre-wrap;font-size:85%'>{''.join(text)}</div></div>")
    return f"<div style='display:flex;flex-wrap:wrap'>{''.join(columns)}</div>"
