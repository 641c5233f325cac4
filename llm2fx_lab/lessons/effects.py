"""Helpers of ``02_effects_101``: hear, see and play with one module at a time."""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as W
import numpy as np
from IPython.display import HTML, Audio, Markdown, display
from matplotlib.figure import Figure

from llm2fx_lab.analysis import (
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
from llm2fx_lab.examples import example_pair, load_example
from llm2fx_lab.fx import Chain, ToolCall, describe_chain, module, param, render, render_stages, tool_call
from llm2fx_lab.lessons.common import check_positive, two_axes


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
    seconds = check_positive("seconds", seconds)
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
    seconds = check_positive("seconds", seconds)
    sample_rate = check_sample_rate(sample_rate)
    click = np.zeros((2, int(0.01 * sample_rate)), np.float32)
    click[:, 0] = 1.0
    return render(click, sample_rate, [call], tail_seconds=seconds)


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
    fig, a, b = two_axes()
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
    fig, a, b = two_axes()
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
    seconds = check_positive("seconds", seconds)
    dry, reference, sr, chain = example_pair(example, tail_seconds=tail_seconds)
    n = int((seconds + tail_seconds) * sr)
    dry, reference = dry[:, :n], reference[:, :n]
    listen(sr, dry=dry, processed=reference)
    fig, a, b = two_axes()
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
