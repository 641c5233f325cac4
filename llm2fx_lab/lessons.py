"""The plumbing behind the notebooks, so that a notebook cell shows the lesson and nothing else.

One group of helpers per notebook:

- ``02_effects_101``: :func:`clip`, :func:`explanation` / :func:`explain`, :func:`players` /
  :func:`listen`, :func:`impulse_response`, :func:`plots` / :func:`see`, :func:`slider`,
  :func:`play_with`, :func:`order_plots`, :func:`measured_changes`, :func:`exercise`;
- ``03_reasoning_explorer``: :func:`example_pairs`, :func:`reasoning_table`,
  :func:`first_mentions`, :func:`decision_timeline`, :func:`hears_and_says`,
  :func:`quick_tiny_model`, :func:`digit_figure`;
- ``04_train_your_own``: :func:`loss_figure`, :func:`train_with_live_loss`;
- ``05_benchmark``: :func:`benchmark_rows`, :func:`paper_rows`, :func:`per_length_figure`.

A function that builds something (a table, players, a figure) returns it; its twin that shows it
(``explain``, ``listen``, ``see``) displays it. Audio arrays are ``(channels, samples)`` float32,
as everywhere in llm2fx-lab. Figures are ``matplotlib.figure.Figure`` objects made without
pyplot, so nothing is shown twice; a notebook shows them as images after ``%matplotlib inline``.
"""

from __future__ import annotations

import re
import tempfile
import threading
from html import escape
from pathlib import Path
from typing import Any, Mapping, Sequence

import ipywidgets as W
import numpy as np
import pandas as pd
import torch
from IPython.display import HTML, Audio, Markdown, display
from matplotlib.figure import Figure

from llm2fx_lab.analysis import (
    Evidence,
    check_claims,
    compare,
    dynamics_curve_data,
    eq_curve_data,
    figure,
    gain_reduction_data,
    spectrogram_data,
    spectrum_data,
    vectorscope_data,
    waveform_data,
)
from llm2fx_lab.audio import as_stereo_float32, check_sample_rate
from llm2fx_lab.errors import ParameterError, ToolCallError
from llm2fx_lab.examples import example_pair, list_examples, load_example
from llm2fx_lab.fx import MODULE_NAMES, Chain, ToolCall, describe_chain, module, param, render, render_stages, tool_call
from llm2fx_lab.model import Dialogue, Llm2FxModel, preset, train_tokenizer
from llm2fx_lab.model.guide import PRESENCE_THRESHOLD, presence_set
from llm2fx_lab.model.inputs import corpus_texts
from llm2fx_lab.model.train import train, train_from_dir
from llm2fx_lab.planners import STEPS, PlanResult, Thinking
from llm2fx_lab.planners.bench import PAPER_ROWS

#: Colour of each claim verdict in :func:`decision_timeline`.
VERDICT_COLOURS = {"confirmed": "tab:green", "contradicted": "tab:red", "unverifiable": "0.6"}

#: Columns of ``OUT/log.csv`` that :func:`loss_figure` reads.
LOSS_COLUMNS = ("stage", "loss", "val_loss")

#: The paper's metrics as the benchmark notebook labels them, in the order of ``PAPER_ROWS``.
METRICS = ("Acc", "Rank Corr", "MAE", "MRS L")

_DIGITS = "0123456789"


def _positive(name: str, value: float) -> float:
    if not np.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


# --- 02 · Effects 101 -------------------------------------------------------------------------

def clip(example: str, seconds: float = 4.0) -> tuple[np.ndarray, float]:
    """The first ``seconds`` of a bundled example.

    Parameters
    ----------
    example : str
        A name from :func:`llm2fx_lab.examples.list_examples`, e.g. ``"drums"``.
    seconds : float
        Length of the clip in seconds (at most the example's 10 s).

    Returns
    -------
    audio : ndarray, shape (2, round(seconds * sample_rate)), float32
    sample_rate : float
        In Hz (44100 for the bundled examples).

    Raises
    ------
    AudioError
        Unknown example (the message lists the bundled ones).
    ParameterError
        ``seconds`` is not positive.

    Examples
    --------
    >>> x, sr = clip("drums", 0.5)
    >>> x.shape
    (2, 22050)
    """
    seconds = _positive("seconds", seconds)
    audio, sr = load_example(example)
    return audio[:, : int(round(seconds * sr))], sr


def explanation(module_name: str) -> Markdown:
    """What a module does and a table of its parameters, all read from the toolset spec.

    Parameters
    ----------
    module_name : str
        A toolset module, e.g. ``"compressor"``.

    Returns
    -------
    IPython.display.Markdown
        The module's description, then a table with one row per parameter: unit, range (with the
        lowest value that renders, where it is above the minimum), default, scale, description.

    Raises
    ------
    ToolCallError
        Unknown module (the message lists the toolset's modules).
    """
    spec = module(module_name)
    rows = ["| parameter | unit | range | default | scale | what it does |", "|---|---|---|---|---|---|"]
    for p in spec.params:
        low = p.format_value(p.minimum)
        if p.valid_minimum is not None:
            low += f" (renders from {p.format_value(p.valid_minimum)})"
        rows.append(f"| `{p.name}` | {p.unit or '-'} | {low} to {p.format_value(p.maximum)} "
                    f"| {p.format_value(p.default)} | {p.scale} | {p.description} |")
    return Markdown(f"**{spec.name}** (rendered with {spec.renderer}). {spec.description}\n\n" + "\n".join(rows))


def explain(module_name: str) -> None:
    """Display :func:`explanation` of ``module_name``."""
    display(explanation(module_name))


def players(sample_rate: float, **clips: np.ndarray) -> HTML:
    """Audio players side by side, one per ``label=audio`` keyword, on one playback scale.

    Players are not normalised, so what sounds louder is louder. When a clip would clip at
    playback (peak above 0 dBFS), every clip is turned down by the same amount and a note says by
    how much.

    Parameters
    ----------
    sample_rate : float
        In Hz.
    **clips : ndarray, shape (channels, samples) or (samples,)
        The clips, labelled by their keyword (``before=x, after=y``).

    Returns
    -------
    IPython.display.HTML

    Raises
    ------
    ParameterError
        No clip given.
    AudioError
        A bad sample rate, or a clip that is not audio (wrong shape, empty, NaN).
    """
    if not clips:
        raise ParameterError("players needs at least one clip, e.g. players(sr, before=x, after=y)")
    sample_rate = check_sample_rate(sample_rate)
    clips = {label: as_stereo_float32(audio, label) for label, audio in clips.items()}
    peak = max(float(np.abs(a).max()) for a in clips.values())
    scale = 1.0 if peak <= 1.0 else 0.99 / peak
    cells = "".join(f"<div style='display:inline-block;margin-right:1.5em'><b>{escape(label)}</b><br>"
                    f"{Audio(a * scale, rate=sample_rate, normalize=False)._repr_html_()}</div>"
                    for label, a in clips.items())
    note = "" if scale == 1.0 else (f"<br><i>peaks reach {20 * np.log10(peak):+.1f} dBFS: all players "
                                    f"turned down by {-20 * np.log10(scale):.1f} dB to avoid clipping</i>")
    return HTML(cells + note)


def listen(sample_rate: float, **clips: np.ndarray) -> None:
    """Display :func:`players` of ``clips``."""
    display(players(sample_rate, **clips))


def impulse_response(call: ToolCall, sample_rate: float, seconds: float = 1.5) -> np.ndarray:
    """What one click at t = 0 turns into after one module.

    Parameters
    ----------
    call : ToolCall
        The module and its settings (from :func:`llm2fx_lab.fx.tool_call`).
    sample_rate : float
        In Hz.
    seconds : float
        Length of the tail rendered after the 10 ms click, in seconds.

    Returns
    -------
    ndarray, shape (2, round(0.01 * sample_rate) + round(seconds * sample_rate)), float32
        Sample ``n`` is the response at ``n / sample_rate`` seconds after the click.

    Examples
    --------
    >>> from llm2fx_lab.fx import tool_call
    >>> ir = impulse_response(tool_call("gain", {"gain_db": -6}), 44100, seconds=0.1)
    >>> round(float(ir[0, 0]), 2)
    0.5
    """
    seconds = _positive("seconds", seconds)
    sample_rate = check_sample_rate(sample_rate)
    click = np.zeros((2, int(0.01 * sample_rate)), np.float32)
    click[:, 0] = 1.0
    return render(click, sample_rate, [call], tail_seconds=seconds)


def _two_axes(width: float = 12.0, height: float = 3.4) -> tuple[Figure, Any, Any]:
    fig = Figure(figsize=(width, height), layout="constrained")
    a, b = fig.subplots(1, 2)
    return fig, a, b


def plots(call: ToolCall, x: np.ndarray, y: np.ndarray, sample_rate: float) -> Figure:
    """The two plots that tell what a module did to ``x`` (before) to make ``y`` (after).

    - equalizer: its response curve, and the measured spectra before and after;
    - compressor, limiter: the static curve, and the measured gain change over time;
    - panner, stereo_widener: vectorscopes before and after;
    - gain: waveforms before and after, on one scale;
    - distortion: spectra, and the transfer curve (input sample against output sample);
    - delay, reverb: the impulse response and its spectrogram.

    Parameters
    ----------
    call : ToolCall
    x, y : ndarray, shape (2, samples)
        Before and after; ``y`` may be longer (a rendered tail).
    sample_rate : float
        In Hz.

    Returns
    -------
    matplotlib.figure.Figure
        One figure with two axes side by side.
    """
    x, y = as_stereo_float32(x, "x"), as_stereo_float32(y, "y")
    sample_rate = check_sample_rate(sample_rate)
    fig, a, b = _two_axes()
    name = call.name
    if name == "equalizer":
        figure(eq_curve_data(call, sample_rate), ax=a)
        figure(spectrum_data({"before": x, "after": y}, sample_rate), ax=b)
    elif name in ("compressor", "limiter"):
        figure(dynamics_curve_data(call), ax=a)
        figure(gain_reduction_data(x, sample_rate, call), ax=b)
    elif name in ("panner", "stereo_widener"):
        figure(vectorscope_data(x), ax=a)
        figure(vectorscope_data(y[:, : x.shape[1]]), ax=b)
        a.set_title("before: " + a.get_title())
        b.set_title("after: " + b.get_title())
    elif name == "gain":
        figure(waveform_data(x, sample_rate), ax=a)
        figure(waveform_data(y, sample_rate), ax=b)
        top = max(np.abs(x).max(), np.abs(y).max()) * 1.05
        for ax, label in ((a, "before"), (b, "after")):
            ax.set_ylim(-top, top)
            ax.set_title(f"{label} (both channels)")
    elif name == "distortion":
        figure(spectrum_data({"before": x, "after": y}, sample_rate), ax=a)
        step = max(x.shape[1] // 4000, 1)
        b.scatter(x[0, ::step], y[0, : x.shape[1] : step], s=1, alpha=0.4)
        b.set(xlabel="input sample", ylabel="output sample", title="transfer curve (left channel)")
        b.grid(True, alpha=0.3)
    else:  # delay, reverb: the impulse response tells the story
        ir = impulse_response(call, sample_rate)
        t = np.arange(ir.shape[1]) / sample_rate
        a.plot(t, ir[0], lw=0.6, label="left")
        a.plot(t, ir[1], lw=0.6, alpha=0.7, label="right")
        a.set(xlabel="time (s)", ylabel="amplitude", title=f"{name} impulse response")
        a.legend()
        figure(spectrogram_data(ir, sample_rate), ax=b)
        b.set_title("impulse response spectrogram (mid)")
    return fig


def see(call: ToolCall, x: np.ndarray, y: np.ndarray, sample_rate: float) -> None:
    """Display :func:`plots` of ``call`` on ``x`` (before) and ``y`` (after)."""
    display(plots(call, x, y, sample_rate))


def slider(module_name: str, param_name: str) -> W.FloatSlider | W.SelectionSlider:
    """A slider for one parameter, labelled with its unit, starting at the spec's default.

    Log-scale parameters get a ``SelectionSlider`` over 61 values spaced evenly in the spec's
    normalisation (:meth:`~llm2fx_lab.fx.ParamSpec.denormalize` of 0, 1/60, ..., 1, rounded to
    whole units) plus the default. Linear ones get a ``FloatSlider`` from the lowest value that
    renders to the maximum, in whole steps for integer parameters and a fifth of the schema's step
    otherwise (so defaults such as Q = 0.707 sit on the grid).

    Raises
    ------
    ToolCallError, ParameterError
        Unknown module or parameter (the message lists the allowed names).
    """
    p = param(module_name, param_name)
    label = p.label if p.unit in ("", ":1") else f"{p.label} ({p.unit})"
    common = dict(description=label, continuous_update=False, style={"description_width": "8em"},
                  layout=W.Layout(width="32em"))
    if p.scale == "log":
        values = sorted({round(p.denormalize(u)) for u in np.linspace(0, 1, 61)} | {round(p.default)})
        return W.SelectionSlider(options=[(p.format_value(v), float(v)) for v in values],
                                 value=float(round(p.default)), **common)
    step = 1.0 if p.json_type == "integer" else p.schema_step / 5
    digits = max(0, -int(np.floor(np.log10(step))))
    return W.FloatSlider(min=p.lowest_valid, max=p.maximum, step=step, value=p.default,
                         readout_format=f".{digits}f", **common)


def play_with(module_name: str, example: str, seconds: float = 4.0,
              tail_seconds: float = 0.0) -> dict[str, W.FloatSlider | W.SelectionSlider]:
    """Sliders for every parameter of one module, with players and plots that follow them.

    Displays the sliders, then :func:`players` (before, after) and :func:`plots` for the
    module at its defaults on a :func:`clip` of ``example``. Releasing a slider re-renders and
    updates the players and plots in place (display handles, not an Output widget: headless
    runners can stall on those).

    Parameters
    ----------
    module_name : str
        A toolset module.
    example : str
        A bundled example.
    seconds : float
        Length of the clip, in seconds.
    tail_seconds : float
        Silence rendered after the clip (for delay and reverb tails), in seconds.

    Returns
    -------
    dict of str to slider
        The sliders by parameter name; setting ``.value`` in code re-renders as a drag does.
    """
    spec = module(module_name)
    x, sr = clip(example, seconds)
    controls = {p.name: slider(spec.name, p.name) for p in spec.params}

    def rendered() -> tuple[HTML, Figure]:
        call = tool_call(spec.name, {key: control.value for key, control in controls.items()})
        y = render(x, sr, [call], tail_seconds=tail_seconds)
        return players(sr, before=x, after=y), plots(call, x, y, sr)

    display(W.VBox([W.HTML(f"<b>Play with {spec.name}</b> on <i>{escape(example)}</i> (defaults first; "
                           "release a slider to re-render)"), *controls.values()]))
    audio, fig = rendered()
    audio_view, plot_view = display(audio, display_id=True), display(fig, display_id=True)

    def update(_change: Any) -> None:
        audio, fig = rendered()
        audio_view.update(audio)
        plot_view.update(fig)

    for control in controls.values():
        control.observe(update, names="value")
    return controls


def order_plots(x: np.ndarray, sample_rate: float, dynamics: ToolCall, other: ToolCall,
                tail_seconds: float = 0.0) -> Figure:
    """Why the order of a compressor (or limiter) and another module matters, in two plots.

    Left: the gain change of ``dynamics`` measured on the signal it receives when it comes first
    and when it comes second. Right: the RMS level envelope of both results.

    Parameters
    ----------
    x : ndarray, shape (2, samples)
    sample_rate : float
        In Hz.
    dynamics : ToolCall
        A ``compressor`` or ``limiter`` call.
    other : ToolCall
        The module it is paired with, e.g. a reverb.
    tail_seconds : float
        Silence rendered after ``x``, in seconds.

    Raises
    ------
    ToolCallError
        ``dynamics`` is neither a compressor nor a limiter.
    """
    if dynamics.name not in ("compressor", "limiter"):
        raise ToolCallError(f"order_plots needs a compressor or limiter first, got {dynamics.name!r}")
    first, second = f"{dynamics.name} -> {other.name}", f"{other.name} -> {dynamics.name}"
    dynamics_first = render_stages(x, sample_rate, [dynamics, other], tail_seconds=tail_seconds)
    other_first = render_stages(x, sample_rate, [other, dynamics], tail_seconds=tail_seconds)
    received = {first: dynamics_first[0][1], second: other_first[1][1]}
    results = {first: dynamics_first[-1][1], second: other_first[-1][1]}
    fig, a, b = _two_axes()
    for label, signal in received.items():
        gr = gain_reduction_data(signal, sample_rate, dynamics)
        a.plot(gr.time_seconds, gr.gain_db, lw=1, label=label)
    a.set(xlabel="time (s)", ylabel="gain (dB)", title=f"{dynamics.name} gain change, measured")
    for label, signal in results.items():
        wf = waveform_data(signal, sample_rate)
        b.plot(wf.time_seconds, wf.envelope_db.mean(axis=0), lw=1, label=label)
    b.set(xlabel="time (s)", ylabel="RMS level (dB)", title="level envelope of the result", ylim=(-70, 0))
    for ax in (a, b):
        ax.grid(True, alpha=0.3)
        ax.legend()
    return fig


def measured_changes(before: np.ndarray, after: np.ndarray, sample_rate: float) -> str:
    """The notable changes from ``before`` to ``after`` as measured, one ``- sentence`` a line.

    The sentences are those of :func:`llm2fx_lab.analysis.compare`; when nothing is notable, its
    one-line summary.

    Parameters
    ----------
    before, after : ndarray, shape (2, samples)
    sample_rate : float
        In Hz.
    """
    evidence = compare(before, after, sample_rate)
    return "\n".join(f"- {evidence.sentence(n)}" for n in evidence.notable) or evidence.summary()


def exercise(example: str, seconds: float = 4.0, tail_seconds: float = 1.5) -> Chain:
    """A "guess the effect" exercise on a bundled example and its hidden chain.

    Displays players (dry, processed), the spectra of both and the vectorscope of the processed
    clip, then two collapsed panels: the hint (:func:`measured_changes`) and the answer (the
    chain in words).

    Parameters
    ----------
    example : str
        A bundled example.
    seconds : float
        Length of the clips, in seconds, before the tail.
    tail_seconds : float
        Silence rendered after the clip, in seconds.

    Returns
    -------
    Chain
        The hidden chain.
    """
    seconds = _positive("seconds", seconds)
    dry, reference, sr, chain = example_pair(example, tail_seconds=tail_seconds)
    n = int((seconds + tail_seconds) * sr)
    dry, reference = dry[:, :n], reference[:, :n]
    listen(sr, dry=dry, processed=reference)
    fig, a, b = _two_axes()
    figure(spectrum_data({"dry": dry, "processed": reference}, sr), ax=a)
    figure(vectorscope_data(reference), ax=b)
    b.set_title("processed: " + b.get_title())
    display(fig)
    # plain HTML panels (an Output widget would do, but headless runners can stall on those)
    texts = (measured_changes(dry, reference, sr), describe_chain(chain))
    panels = W.Accordion(children=[W.HTML(f"<pre>{escape(text)}</pre>") for text in texts], selected_index=None)
    panels.set_title(0, "Hint: what the analysis measured")
    panels.set_title(1, "Answer: the hidden chain")
    display(panels)
    return chain


# --- 03 · Reasoning explorer ------------------------------------------------------------------

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
    seconds = _positive("seconds", seconds)
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
    seconds, sample_rate = _positive("seconds", seconds), check_sample_rate(sample_rate)
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


# --- 04 · Train your own ----------------------------------------------------------------------

def loss_figure(log_csv: str | Path) -> Figure:
    """The training loss so far, from a trainer's ``log.csv``.

    Parameters
    ----------
    log_csv : str or Path
        The ``OUT/log.csv`` a trainer writes after every step, with the columns ``stage``,
        ``loss`` and ``val_loss`` (empty where no validation ran). A missing or empty file
        gives empty axes (training has not written a step yet).

    Returns
    -------
    matplotlib.figure.Figure
        Per stage, the training loss as a line and the validation losses as dots, against the
        global step (counted from 1 over all stages).
    """
    fig = Figure(figsize=(8, 3), layout="constrained")
    ax = fig.add_subplot()
    log = Path(log_csv)
    if log.exists() and log.stat().st_size:
        df = pd.read_csv(log)
        missing = [c for c in LOSS_COLUMNS if c not in df.columns]
        if missing:
            raise ParameterError(f"{log} has no column {', '.join(missing)}; a training log has {', '.join(LOSS_COLUMNS)}")
        df["global step"] = range(1, len(df) + 1)
        for stage, part in df.groupby("stage"):
            ax.plot(part["global step"], part["loss"], label=f"stage {stage} train loss")
            val = part.dropna(subset=["val_loss"])
            ax.plot(val["global step"], val["val_loss"], "o", label=f"stage {stage} validation")
        ax.legend(fontsize=8)
    ax.set(xlabel="step", ylabel="loss (CE + NTL)", title="training loss")
    return fig


def train_with_live_loss(preset_name: str, data_dir: str | Path, out_dir: str | Path, stage1_steps: int,
                         stage2_steps: int, refresh_seconds: float = 1.0) -> dict[str, Any]:
    """Train a preset on a generated dataset while a loss plot redraws below the cell.

    Training (:func:`llm2fx_lab.model.train_from_dir`) runs in a background thread; this
    function redraws :func:`loss_figure` of ``out_dir/log.csv`` every ``refresh_seconds`` until
    it ends. An error in training is raised here, so a failed run does not hang the notebook.

    Parameters
    ----------
    preset_name : str
        A model preset, e.g. ``"tiny"``.
    data_dir, out_dir : str or Path
        The dataset (from ``llm2fx data generate``) and the folder the model is written to.
    stage1_steps, stage2_steps : int
        Training steps of stage 1 (encoder and adapter) and stage 2 (the language model).
    refresh_seconds : float
        Time between redraws, in seconds.

    Returns
    -------
    dict
        The trainer's metrics by stage, e.g. ``{"stage1": {"loss": 2.1, ...}, ...}``.

    Raises
    ------
    ParameterError
        Unknown preset (the message lists the presets), before training starts.
    """
    preset(preset_name)
    refresh_seconds = _positive("refresh_seconds", refresh_seconds)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["metrics"] = train_from_dir(preset_name, data_dir, out_dir, progress=True,
                                                train={"stage1_steps": stage1_steps, "stage2_steps": stage2_steps})
        except Exception as error:  # raised below, in the caller's thread
            outcome["error"] = error

    log = Path(out_dir) / "log.csv"
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    handle = display(loss_figure(log), display_id=True)
    while thread.is_alive():
        thread.join(timeout=refresh_seconds)
        handle.update(loss_figure(log))
    if "error" in outcome:
        raise outcome["error"]
    return outcome["metrics"]


# --- 05 · Benchmark ---------------------------------------------------------------------------

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
