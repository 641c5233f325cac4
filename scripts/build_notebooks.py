"""(Re)write the notebooks from the cell sources below, without outputs.

Notebooks are generated so their source stays reviewable as Python; run
``.venv/bin/python scripts/build_notebooks.py`` after editing and commit both.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def md(text: str):
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text: str):
    return nbformat.v4.new_code_cell(text.strip())


STUDIO = [
    md("""
# 01 · Studio

Upload a dry clip and a reference (or pick a bundled example), watch the planner reason its way to
an effect chain, then edit the chain, listen and look. Everything below is live: slider drags
re-render only the modules after the one you touched, and the spectra follow.

- **Audio**: upload wav/flac/ogg/mp3 for the *dry* and *reference* slots, or pick an example.
  Tick *No dry clip* for blind estimation from the reference alone.
- **Planner**: pick who estimates the chain: `analysis` (measurements and small trees, no neural
  network), `mini` (the embedded llm2fx-mini model, small and trained on a CPU; see its model card),
  `mini` presence-guided, or the `regression` / `multitask` baselines. Tick *+ refine* to polish
  the chain by rendering (a few seconds more). In code: `studio.pick_planner("mini", refine=True)`.
- **Reasoning**: the planner's stream, step by step, with tool calls as cards. *Stop* ends it
  early; type a request ("less reverb", "make it brighter") to continue the conversation. Each turn
  can be undone.
- **Effect chain**: drag cards (or focus one and press Alt+Up/Down) to reorder; bypass, remove,
  add modules; sliders (log scale where the toolset says so) and exact numbers; undo/redo;
  reset to the planner's estimate; export JSON or copy as Python.
- **Listen**: one player with an A/B switch that keeps the position, optional loudness matching,
  and a step-through of the signal after each module.
"""),
    code("""
from llm2fx_lab.ui import Studio

studio = Studio(example="drums")   # the drums clip and its demo chain's render as reference
studio
"""),
    md("Run the default planner on the loaded pair. It streams in a background thread, so the notebook stays responsive."),
    code("""
print("planner:", getattr(studio.planner, "name", studio.planner))
studio.plan()
"""),
    md("""
The chain in the editor is a plain `Chain` at any time: use it in code, render it, save it.
(While the planner is still streaming this shows the chain from before.)
"""),
    code("""
print(studio.chain)
print(studio.chain.to_json(indent=2))
"""),
    md("""
### Under the hood

The studio is a composition of small widgets from `llm2fx_lab.ui` (`AudioInput`, `ReasoningView`,
`ChainEditor`, `Player`, `SpectrumView`, `DynamicsView`), each usable alone. Rendering is the plain
library: `render` for the output, `render_stages` for the signal after each module.
"""),
    code("""
import numpy as np
from llm2fx_lab.examples import example_pair
from llm2fx_lab.fx import render_stages

dry, reference, sr, demo_chain = example_pair("drums")
for label, x in render_stages(dry, sr, demo_chain, tail_seconds=1.0):
    rms_db = 20 * np.log10(np.sqrt(np.mean(x ** 2)) + 1e-12)
    print(f"{label:>14}: RMS {rms_db:6.1f} dBFS, peak {20 * np.log10(np.abs(x).max() + 1e-12):6.1f} dBFS")
"""),
]


# --- 02 · Effects 101 -----------------------------------------------------------------------
# One section per module, in teaching order (simple to subtle). The numbers in each section's
# text come from the toolset spec at run time (explain()); only the demo settings and the
# "listen for" hints are written here.
_LESSONS = (
    ("gain", "guitar", {"gain_db": -12},
     "The simplest module: the same sound, only quieter or louder. Compare the waveforms: the "
     "shape is identical, the height changes. -6.02 dB halves the amplitude."),
    ("panner", "guitar", {"pan": -0.8},
     "The sound moves towards one speaker. On headphones it sits in one ear; on the vectorscope "
     "the cloud of points tilts away from the vertical (mid) axis."),
    ("stereo_widener", "mix", {"width": 0.0},
     "Width 0 folds the stereo image into mono (a vertical line on the vectorscope); above 1 the "
     "difference between the speakers grows and the sound spreads out."),
    ("equalizer", "mix", {"low_gain_db": 8, "low_cutoff_freq": 150, "mid_gain_db": -6,
                          "mid_cutoff_freq": 1000, "mid_q_factor": 1.5, "high_gain_db": 6,
                          "high_cutoff_freq": 8000},
     "The tonal balance changes: more boom in the bass, a scooped middle, more air on top. The "
     "curve on the left is computed from the parameters; the spectra on the right are measured."),
    ("distortion", "bass", {"drive_db": 16},
     "Grit and harmonics. The transfer curve on the right (input sample -> output sample) bends "
     "like tanh: small samples pass almost unchanged, large ones are rounded off."),
    ("compressor", "drums", {"threshold_db": -30, "ratio": 8, "attack_ms": 5, "release_ms": 100},
     "Loud hits are turned down, so the quiet parts come closer to the loud ones. The static curve "
     "bends at the threshold; the measured gain dips on every hit and recovers at the release speed."),
    ("limiter", "mix", {"threshold_db": -10, "release_ms": 100},
     "Denser and louder: peaks are held under the ceiling and make-up gain lifts everything else "
     "(pedalboard's limiter adds it on its own, so the output is louder, not quieter)."),
    ("delay", "piano", {"delay_seconds": 0.3, "feedback": 0.4, "mix_ratio": 0.5},
     "Echoes. The impulse response (what a single click turns into) shows one spike per repeat, "
     "each one quieter by the feedback."),
    ("reverb", "drums", {"room_size": 0.8, "damping": 0.3, "width": 0.9, "mix_ratio": 0.4},
     "A room around the sound and a decaying tail. The impulse response shows a dense, decaying "
     "cloud instead of separate echoes; more damping makes its high frequencies die first."),
)


def _lesson(number: int, name: str, example: str, arguments: dict, listen_for: str) -> list:
    return [
        md(f"""
## {number} · `{name}`

{listen_for}
"""),
        code(f"""
explain("{name}")
x, sr = clip("{example}")
call = tool_call("{name}", {arguments!r})
y = render(x, sr, [call], tail_seconds=TAIL_SECONDS["{name}"])
listen(sr, before=x, after=y)
see(call, x, y, sr)
"""),
        code(f'controls = play_with("{name}", "{example}")'),
    ]


EFFECTS_101 = [
    md("""
# 02 · Effects 101

The toolset of LLM2Fx-Tools has **9 modules** (26 parameters). This notebook takes them one at a
time: what each does in plain words, its parameters (units, ranges, defaults, scales, all read from
the toolset spec, `llm2fx_lab.fx.TOOLSET`), how it sounds on a bundled clip, what it looks like,
and a few sliders to play with. Then why the **order** of modules matters, and a few
**"guess the effect"** exercises with hidden answers.

Use headphones for the stereo modules (panner, widener, reverb). Players are *not* normalised:
what sounds louder is louder. Where a rendered clip would clip at playback, every clip in that row
is turned down by the same amount, and the notebook says so.
"""),
    md("""
### Setup

A few helpers used throughout, built only on the public API: `clip` loads the first seconds of a
bundled example, `explain` prints a module's description and parameter table from the spec,
`listen` shows players side by side, `see` draws the plot that fits a module, and `play_with` makes
sliders from the spec. `LLM2FX_FAST=1` (set by the test suite) shortens the clips.
"""),
    code('''
import os
from html import escape

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, Audio, Markdown, display

from llm2fx_lab.analysis import (compare, dynamics_curve_data, eq_curve_data, figure, gain_reduction_data,
                                 spectrogram_data, spectrum_data, vectorscope_data, waveform_data)
from llm2fx_lab.examples import example_chain, example_pair, list_examples, load_example
from llm2fx_lab.fx import TOOLSET, describe_chain, render, render_stages, tool_call

FAST = os.environ.get("LLM2FX_FAST") == "1"
# Short clips in CI: the headless runner buffers every player until a cell ends, and a few MB
# of audio per cell can overflow it.
SECONDS = 0.5 if FAST else 4.0          # length of every clip below
TAIL = 0.25 if FAST else 1.5            # seconds of silence after a clip, for echoes and reverb tails
TAIL_SECONDS = {name: 0.0 for name in TOOLSET} | {"delay": TAIL, "reverb": TAIL}
print("examples:", ", ".join(list_examples()), f"| clips of {SECONDS:g} s")


def clip(name, seconds=SECONDS):
    """The first `seconds` of a bundled example: ((2, samples) float32, sample_rate)."""
    audio, sr = load_example(name)
    return audio[:, : int(seconds * sr)], sr


def explain(name):
    """What the module does and its parameters, straight from the toolset spec."""
    spec = TOOLSET[name]
    rows = ["| parameter | unit | range | default | scale | what it does |", "|---|---|---|---|---|---|"]
    for p in spec.params:
        low = p.format_value(p.minimum)
        if p.valid_minimum is not None:
            low += f" (renders from {p.format_value(p.valid_minimum)})"
        rows.append(f"| `{p.name}` | {p.unit or '-'} | {low} to {p.format_value(p.maximum)} "
                    f"| {p.format_value(p.default)} | {p.scale} | {p.description} |")
    display(Markdown(f"**{name}** (rendered with {spec.renderer}). {spec.description}\\n\\n" + "\\n".join(rows)))


def players(sr, **clips):
    """Players side by side (an HTML object), one per keyword label=audio, sharing one playback scale."""
    peak = max(float(np.abs(a).max()) for a in clips.values())
    scale = 1.0 if peak <= 1.0 else 0.99 / peak
    cells = "".join(f"<div style='display:inline-block;margin-right:1.5em'><b>{label}</b><br>"
                    f"{Audio(a * scale, rate=sr, normalize=False)._repr_html_()}</div>"
                    for label, a in clips.items())
    note = "" if scale == 1.0 else (f"<br><i>peaks reach {20 * np.log10(peak):+.1f} dBFS: all players "
                                    f"turned down by {-20 * np.log10(scale):.1f} dB to avoid clipping</i>")
    return HTML(cells + note)


def listen(sr, **clips):
    display(players(sr, **clips))


def impulse_response(call, sr, seconds=1.5):
    """What one click at t = 0 turns into after the module."""
    click = np.zeros((2, int(0.01 * sr)), np.float32)
    click[:, 0] = 1.0
    return render(click, sr, [call], tail_seconds=seconds)


def plots(call, x, y, sr):
    """The plot(s) that fit the module of `call`, before (x) and after (y): a matplotlib Figure."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.4), layout="constrained")
    name = call.name
    if name == "equalizer":
        figure(eq_curve_data(call, sr), ax=a)
        figure(spectrum_data({"before": x, "after": y}, sr), ax=b)
    elif name in ("compressor", "limiter"):
        figure(dynamics_curve_data(call), ax=a)
        figure(gain_reduction_data(x, sr, call), ax=b)
    elif name in ("panner", "stereo_widener"):
        figure(vectorscope_data(x), ax=a)
        figure(vectorscope_data(y[:, : x.shape[1]]), ax=b)
        a.set_title("before: " + a.get_title())
        b.set_title("after: " + b.get_title())
    elif name == "gain":
        figure(waveform_data(x, sr), ax=a)
        figure(waveform_data(y, sr), ax=b)
        top = max(np.abs(x).max(), np.abs(y).max()) * 1.05
        for ax, label in ((a, "before"), (b, "after")):
            ax.set_ylim(-top, top)
            ax.set_title(f"{label} (both channels)")
    elif name == "distortion":
        figure(spectrum_data({"before": x, "after": y}, sr), ax=a)
        step = max(x.shape[1] // 4000, 1)
        b.scatter(x[0, ::step], y[0, ::step], s=1, alpha=0.4)
        b.set(xlabel="input sample", ylabel="output sample", title="transfer curve (left channel)")
        b.grid(True, alpha=0.3)
    else:  # delay, reverb: the impulse response tells the story
        ir = impulse_response(call, sr)
        t = np.arange(ir.shape[1]) / sr
        a.plot(t, ir[0], lw=0.6, label="left")
        a.plot(t, ir[1], lw=0.6, alpha=0.7, label="right")
        a.set(xlabel="time (s)", ylabel="amplitude", title=f"{name} impulse response")
        a.legend()
        figure(spectrogram_data(ir, sr), ax=b)
        b.set_title("impulse response spectrogram (mid)")
    plt.close(fig)  # shown by display() only, not again at the end of the cell
    return fig


def see(call, x, y, sr):
    display(plots(call, x, y, sr))


def slider(p):
    """A slider for one parameter: linear steps, or (log scale) values spaced like the spec's normalisation."""
    label = p.label if p.unit in ("", ":1") else f"{p.label} ({p.unit})"
    common = dict(description=label, continuous_update=False, style={"description_width": "8em"},
                  layout=W.Layout(width="32em"))
    if p.scale == "log":
        values = sorted({round(p.denormalize(u)) for u in np.linspace(0, 1, 61)} | {round(p.default)})
        return W.SelectionSlider(options=[(p.format_value(v), float(v)) for v in values],
                                 value=float(round(p.default)), **common)
    # whole numbers for integer parameters; finer than the model's schema step otherwise, so
    # defaults such as Q = 0.707 sit on the slider's grid
    step = 1.0 if p.json_type == "integer" else p.schema_step / 5
    digits = max(0, -int(np.floor(np.log10(step))))
    return W.FloatSlider(min=p.lowest_valid, max=p.maximum, step=step, value=p.default,
                         readout_format=f".{digits}f", **common)


def play_with(name, example):
    """Sliders for every parameter of one module (from the spec), re-rendering on release.

    The players and the plot below the sliders are display handles updated in place (no Output
    widget: headless runners can stall on those).
    """
    x, sr = clip(example)
    controls = {p.name: slider(p) for p in TOOLSET[name].params}

    def rendered():
        call = tool_call(name, {key: control.value for key, control in controls.items()})
        y = render(x, sr, [call], tail_seconds=TAIL_SECONDS[name])
        return players(sr, before=x, after=y), plots(call, x, y, sr)

    display(W.VBox([W.HTML(f"<b>Play with {name}</b> on <i>{example}</i> (defaults first; "
                           "release a slider to re-render)"), *controls.values()]))
    audio, fig = rendered()
    audio_view, plot_view = display(audio, display_id=True), display(fig, display_id=True)

    def update(_change):
        audio, fig = rendered()
        audio_view.update(audio)
        plot_view.update(fig)

    for control in controls.values():
        control.observe(update, names="value")
    return controls
'''),
    md("""
Every module, its renderer and its parameter count, from the spec (9 modules, 26 parameters):
"""),
    code("""
for name, spec in TOOLSET.items():
    print(f"{name:>15} ({spec.renderer:>10}): {', '.join(spec.param_names)}")
print(sum(len(s.params) for s in TOOLSET.values()), "parameters")
"""),
    *[cell for i, lesson in enumerate(_LESSONS, 1) for cell in _lesson(i, *lesson)],
    code("""
covered = ["gain", "panner", "stereo_widener", "equalizer", "distortion", "compressor", "limiter", "delay", "reverb"]
assert sorted(covered) == sorted(TOOLSET), "every module of the toolset has a section above"
print(f"{len(covered)} of {len(TOOLSET)} modules covered")
controls["mix_ratio"].value = 0.8  # what a slider drag does: the reverb players and plot above update
"""),
    md("""
## 10 · Order matters: compressor -> reverb vs reverb -> compressor

A chain is applied in list order, and most effects do not commute. Put the **compressor first**
and it only sees the dry drums: it tames the hits, then the reverb adds a natural, decaying room.
Put the **reverb first** and the compressor sees the room too: every hit pushes the gain down,
and between hits the gain comes back up and *lifts the reverb tail* (the room "breathes" or
pumps). Same two modules, same settings, different sound.
"""),
    code("""
x, sr = clip("drums")
comp = tool_call("compressor", {"threshold_db": -30, "ratio": 8, "attack_ms": 5, "release_ms": 200})
verb = tool_call("reverb", {"room_size": 0.8, "damping": 0.3, "width": 0.9, "mix_ratio": 0.4})
comp_first = render(x, sr, [comp, verb], tail_seconds=TAIL)
verb_first = render(x, sr, [verb, comp], tail_seconds=TAIL)
listen(sr, dry=x, **{"compressor -> reverb": comp_first, "reverb -> compressor": verb_first})
"""),
    md("""
What each compressor *sees* explains the difference: `render_stages` gives the signal entering
each module. On the left, the compressor's gain over time in both positions; on the right, the
level envelopes of the two results (the reverb-first one stays higher between hits and in the tail).
"""),
    code("""
into_comp = {"compressor -> reverb": render_stages(x, sr, [comp, verb], tail_seconds=TAIL)[0][1],
             "reverb -> compressor": render_stages(x, sr, [verb, comp], tail_seconds=TAIL)[1][1]}
fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.4), layout="constrained")
for label, signal in into_comp.items():
    gr = gain_reduction_data(signal, sr, comp)
    a.plot(gr.time_seconds, gr.gain_db, lw=1, label=label)
a.set(xlabel="time (s)", ylabel="gain (dB)", title="compressor gain change, measured")
for label, signal in {"compressor -> reverb": comp_first, "reverb -> compressor": verb_first}.items():
    wf = waveform_data(signal, sr)
    b.plot(wf.time_seconds, wf.envelope_db.mean(axis=0), lw=1, label=label)
b.set(xlabel="time (s)", ylabel="RMS level (dB)", title="level envelope of the result", ylim=(-70, 0))
for ax in (a, b):
    ax.grid(True, alpha=0.3)
    ax.legend()
display(fig)
plt.close(fig)

evidence = compare(comp_first, verb_first, sr)
print("Going from compressor -> reverb to reverb -> compressor:")
print("\\n".join(f"- {evidence.sentence(n)}" for n in evidence.notable) or evidence.summary())
"""),
    md("""
Try it yourself: swap other pairs (distortion and equalizer, delay and reverb, gain and limiter)
by editing the two lists above. Pairs that commute (gain and panner, for example) sound identical
in either order; pairs with a level-dependent module (compressor, limiter, distortion) rarely do.

## 11 · Guess the effect

Each bundled example comes with a hidden chain. Listen to the dry clip and the processed one, look
at the plots, write down which modules you hear, in which order and roughly how set, then open
the hint (what the analysis measured) and the answer. Collapsed panels and `<details>` blocks
keep the answers out of sight until you click.
"""),
    code('''
def exercise(example):
    """Dry and processed clip of a bundled example, with plots, and collapsed hint and answer."""
    dry, reference, sr, chain = example_pair(example, tail_seconds=TAIL)
    n = int((SECONDS + TAIL) * sr)
    dry, reference = dry[:, :n], reference[:, :n]
    listen(sr, dry=dry, processed=reference)
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.4), layout="constrained")
    figure(spectrum_data({"dry": dry, "processed": reference}, sr), ax=a)
    figure(vectorscope_data(reference), ax=b)
    b.set_title("processed: " + b.get_title())
    display(fig)
    plt.close(fig)
    evidence = compare(dry, reference, sr)
    hint = "\\n".join(f"- {evidence.sentence(n)}" for n in evidence.notable) or evidence.summary()
    # plain HTML panels (an Output widget would do, but headless runners can stall on those)
    panels = W.Accordion(children=[W.HTML(f"<pre>{escape(text)}</pre>") for text in (hint, describe_chain(chain))],
                         selected_index=None)
    panels.set_title(0, "Hint: what the analysis measured")
    panels.set_title(1, "Answer: the hidden chain")
    display(panels)
    return chain
'''),
    md("### Exercise 1: bass"),
    code('chain_1 = exercise("bass")'),
    md("""
<details><summary>Answer, explained</summary>

**distortion -> equalizer -> gain.** The bass gains grit and upper harmonics (distortion, 12 dB
drive); the EQ then boosts the lows (+6 dB shelf at 120 Hz), dips the low mids and cuts the top
(-8 dB above 5 kHz) so the grit stays warm rather than fizzy; finally the level comes down 6 dB to
make up for the loudness the distortion added.
</details>
"""),
    md("### Exercise 2: piano"),
    code('chain_2 = exercise("piano")'),
    md("""
<details><summary>Answer, explained</summary>

**equalizer -> delay -> panner.** Brighter and thinner (low shelf -6 dB at 200 Hz, high shelf
+8 dB at 6 kHz), echoes every 0.35 s that fade out (feedback 0.4), and the whole piano moved to
the left (pan -0.5): the vectorscope leans away from the vertical.
</details>
"""),
    md("### Exercise 3: guitar"),
    code('chain_3 = exercise("guitar")'),
    md("""
<details><summary>Answer, explained</summary>

**panner -> reverb -> limiter.** The guitar is panned right (pan 0.6) *before* a large, wide
reverb (room 0.8), so the dry sound sits right while the room spreads over both speakers; the
limiter at -6 dB then holds the peaks and, with its make-up gain, makes the result denser and louder.
</details>
"""),
    md("### Exercise 4 (harder): a whole mix, four modules"),
    code('chain_4 = exercise("mix")'),
    md("""
<details><summary>Answer, explained</summary>

**equalizer -> compressor -> stereo_widener -> limiter**, a typical mastering chain. A gentle
smile EQ (+4 dB lows, -3 dB around 500 Hz, +5 dB highs), a 4:1 compressor from -20 dB to even out
the dynamics, a wider stereo image (width 1.3), and a limiter at -3 dB that makes it all louder.
Each change is small; together they make the mix sound "finished". The wider vectorscope cloud
gives the widener away; the compressor and the limiter are the hardest to tell apart by ear.
</details>
"""),
    md("The written answers above are checked against the bundled chains, so they cannot drift:"),
    code("""
written = {
    "bass": (("distortion", "equalizer", "gain"), {"distortion.drive_db": 12, "equalizer.low_gain_db": 6,
                                                   "equalizer.high_gain_db": -8, "gain.gain_db": -6}),
    "piano": (("equalizer", "delay", "panner"), {"equalizer.low_gain_db": -6, "equalizer.high_gain_db": 8,
                                                 "delay.delay_seconds": 0.35, "delay.feedback": 0.4, "panner.pan": -0.5}),
    "guitar": (("panner", "reverb", "limiter"), {"panner.pan": 0.6, "reverb.room_size": 0.8,
                                                 "limiter.threshold_db": -6}),
    "mix": (("equalizer", "compressor", "stereo_widener", "limiter"),
            {"equalizer.low_gain_db": 4, "equalizer.mid_gain_db": -3, "equalizer.mid_cutoff_freq": 500,
             "equalizer.high_gain_db": 5, "compressor.ratio": 4, "compressor.threshold_db": -20,
             "stereo_widener.width": 1.3, "limiter.threshold_db": -3}),
}
for example, chain in {"bass": chain_1, "piano": chain_2, "guitar": chain_3, "mix": chain_4}.items():
    names, values = written[example]
    assert chain.names == names, (example, chain.names)
    for key, value in values.items():
        module, parameter = key.split(".")
        assert chain[module][parameter] == value, (example, key, chain[module][parameter])
print("written answers match the bundled chains")
"""),
    md("""
## Where next

- `01_studio.ipynb`: give a planner a dry clip and a reference, watch it reason its way to a chain,
  then edit that chain with the same kinds of controls as above.
- `docs/toolset.md`: the toolset reference, generated from the same spec as the tables here.
- `docs/getting-started.md` and `docs/architecture.md`: the command line, and how the pieces fit.
"""),
]


REASONING_EXPLORER = [
    md("""
# 03 · Reasoning explorer

Planners explain themselves: before they write a chain, they write their reasoning. This notebook
runs several planners on the same pairs, puts their reasoning side by side, and checks every
quantitative claim in it against what was actually measured (`llm2fx_lab.analysis.compare`).

- **Claims** are found by `llm2fx_lab.analysis.check_claims` (simple patterns such as "5.8 dB
  louder", "echo at 350 ms", "pan -0.5", "wider", "decaying ... 2.1 s") and marked *confirmed*,
  *contradicted* or *unverifiable* (the Evidence does not measure it). Tolerances are in the
  docstring of `llm2fx_lab.analysis.claims`.
- **Where each module was decided**: the character offset and reasoning step at which each module
  name first appears in the stream.

Set `LLM2FX_FAST=1` for a quick run (two short pairs, few refinement steps).
"""),
    code("""
import os
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from llm2fx_lab.analysis import check_claims, compare, share_confirmed
from llm2fx_lab.examples import example_pair, list_examples
from llm2fx_lab.fx import TOOLSET
from llm2fx_lab.planners import Thinking, collect, get_planner, mini_available

FAST = os.environ.get("LLM2FX_FAST") == "1"
SECONDS = 3.0 if FAST else 10.0
PAIRS = ["piano", "guitar"] if FAST else list_examples()

pairs = {}
for name in PAIRS:
    dry, reference, sr, true_chain = example_pair(name)
    n = int(SECONDS * sr)
    pairs[name] = (dry[:, :n], reference[:, :n], sr, true_chain)
print("pairs:", ", ".join(PAIRS), f"({SECONDS:g} s each)")
"""),
    md("""
## The planners

- `analysis`: measurement and closed forms, no neural network.
- `analysis+refine`: the same, then gradient descent on the chain through the differentiable
  renderer (`llm2fx_lab.planners.refine.Refined`), an order search with the tuned settings, and a
  presence check: each module the trees are unsure about is removed or added, the chain re-tuned,
  and the change kept when the loss it saves outweighs the trees' prior (its reasoning shows the
  sums).
- `mini`: the embedded llm2fx-mini model, a small model with the paper's architecture trained from
  scratch on this project's synthetic data (its card: `llm2fx_lab/model/weights/mini/MODEL_CARD.md`;
  it is not the paper's Qwen3-4B model). Its reasoning numbers are generated, not measured: watch the
  claim check below. A model you train yourself
  (`04_train_your_own.ipynb`) can be loaded as `model:PATH`; a folder `runs/notebook-tiny` from
  that notebook is picked up below if it exists.
"""),
    code("""
from pathlib import Path

planners = {"analysis": get_planner("analysis"),
            "analysis+refine": get_planner("analysis", refine=True,
                                           refine_options={"steps": 4 if FAST else 25,
                                                           "budget_seconds": 4.0 if FAST else 15.0})}
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
"""),
    md("""
## Side by side

The reasoning of each planner, by step, next to the chain that was actually applied. The measured
Evidence is shown first: it is what a claim is checked against.
"""),
    code("""
def side_by_side(pair):
    dry, reference, sr, true_chain = pairs[pair]
    display(Markdown(f"### {pair}\\n**true chain:** `{' -> '.join(true_chain.names)}`  \\n"
                     f"**measured:** {evidence[pair].summary()}"))
    rows = {}
    for label in planners:
        r = results[(pair, label)]
        rows[label] = {step: r.reasoning_by_step.get(step, "").strip() for step in ("selection", "order", "parameters", "refinement")}
        rows[label]["chain"] = " -> ".join(r.chain.names)
    with pd.option_context("display.max_colwidth", None):
        display(pd.DataFrame(rows).style.set_properties(**{"white-space": "pre-wrap", "text-align": "left",
                                                           "vertical-align": "top", "font-size": "85%"}))

for pair in pairs:
    side_by_side(pair)
"""),
    md("""
## Checking each claim

Every quantitative claim is matched to an Evidence field and marked. Claims about a gain at a single
frequency are *unverifiable* (the Evidence measures three bands); a decay time measured on the
impulse response is checked against the Evidence's decay of the whole clip, so it can disagree for
good reasons: *contradicted* means "the measurement says otherwise", not "the planner lied".
"""),
    code("""
MARK = {"confirmed": "✔ confirmed", "contradicted": "✘ contradicted", "unverifiable": "? unverifiable"}
table, shares = [], {}
for (pair, label), r in results.items():
    checks = check_claims(r.reasoning, evidence[pair])
    shares[(pair, label)] = (share_confirmed(checks), len(checks))
    for c in checks:
        table.append({"pair": pair, "planner": label, "claim": c.text, "field": c.field or "-",
                      "verdict": MARK[c.verdict], "why": c.reason})
claims = pd.DataFrame(table)
with pd.option_context("display.max_colwidth", 70, "display.max_rows", 200):
    display(claims)
"""),
    code("""
summary = pd.DataFrame(
    [{"pair": p, "planner": l, "claims": n, "share confirmed (of checkable)": s} for (p, l), (s, n) in shares.items()])
display(summary.style.format({"share confirmed (of checkable)": "{:.0%}"}, na_rep="-"))
counts = claims.groupby(["planner", "verdict"]).size().unstack(fill_value=0)
print(counts)
"""),
    md("""
## Where in the reasoning each module was decided

Walking through the stream's `Thinking` events, we note the character offset (and step) where each
toolset module's name first appears. A module named in *selection* was chosen early; one first
named during *refinement* was added by the gradient search.
"""),
    code("""
import re

def first_mentions(result):
    offset, seen = 0, {}
    for event in result.events:
        if not isinstance(event, Thinking):
            continue
        for name in TOOLSET:
            m = re.search(rf"\\b{name}\\b", event.text)
            if m and name not in seen:
                seen[name] = (offset + m.start(), event.step)
        offset += len(event.text)
    return seen

for (pair, label), r in results.items():
    seen = first_mentions(r)
    total = max(len(r.reasoning), 1)
    marks = ", ".join(f"{name} @ {pos} ({pos / total:.0%}, {step})"
                      for name, (pos, step) in sorted(seen.items(), key=lambda kv: kv[1][0]) if name in r.chain.names)
    print(f"{pair:>7} | {label:<16} | {marks}")
"""),
    code("""
import matplotlib.pyplot as plt

fig, axes = plt.subplots(len(results), 1, figsize=(10, 1.1 * len(results) + 1.5), sharex=True, squeeze=False)
for ax, ((pair, label), r) in zip(axes[:, 0], results.items()):
    total = max(len(r.reasoning), 1)
    for name, (pos, step) in first_mentions(r).items():
        if name in r.chain.names:
            ax.axvline(pos / total, color="tab:blue")
            ax.text(pos / total, 0.5, " " + name, fontsize=8, va="center")
    for c in check_claims(r.reasoning, evidence[pair]):
        colour = {"confirmed": "tab:green", "contradicted": "tab:red", "unverifiable": "0.6"}[c.verdict]
        ax.plot(c.start / total, 0.1, "o", color=colour, ms=4)
    ax.set_yticks([]); ax.set_ylabel(f"{pair}\\n{label}", rotation=0, ha="right", fontsize=8)
axes[-1, 0].set_xlabel("position in the reasoning (share of its characters); dots: claims (green ✔, red ✘, grey ?)")
plt.tight_layout(); plt.show()
"""),
    md("""
## What the model hears, and what it says (mini only)

The mini was trained with a *chain probe*: a small head on the same audio tokens its language model
reads, predicting which modules are in the chain. `llm2fx_lab.model.presence_probabilities` reads
it. Its probabilities show what the audio tokens carry; the modules the mini's text named are what
it said. Bars: the probe's probability per module (green: in the true chain, grey: not); black
dots: the modules the mini's chain named; dashed line: the presence guide's threshold.

On the benchmark's 900 test pairs the probe's own choice scores 72 % module accuracy against the
text's 58 % (the model card's `mini-guided` and `mini` rows): the model hears more than it says.
`get_planner("mini", presence_guide=True)` makes its text follow the probe, at a cost the card
gives (its renders land further from the reference). Neither reaches the `analysis` planner's
81 %. The card's "Known failure modes" say why: a network this size, trained on data this small,
stays below gradient-boosted trees even when given their features.
"""),
    code("""
from llm2fx_lab.fx.spec import MODULE_NAMES
from llm2fx_lab.model import presence_probabilities
from llm2fx_lab.model.guide import PRESENCE_THRESHOLD, presence_set

if "mini" in planners:
    hears = {pair: presence_probabilities(planners["mini"].model, dry, reference, sr)
             for pair, (dry, reference, sr, _) in pairs.items()}
    fig, axes = plt.subplots(1, len(hears), figsize=(3.2 * len(hears), 3), sharey=True, squeeze=False)
    rows = []
    for ax, (pair, probs) in zip(axes[0], hears.items()):
        truth = set(pairs[pair][3].active.names)
        said = set(results[(pair, "mini")].chain.names)
        x = np.arange(len(MODULE_NAMES))
        ax.bar(x, [probs[m] for m in MODULE_NAMES], color=["tab:green" if m in truth else "0.75" for m in MODULE_NAMES])
        ax.plot([i for i, m in enumerate(MODULE_NAMES) if m in said], [1.05] * len(said), "ko", ms=5)
        ax.axhline(PRESENCE_THRESHOLD, ls="--", color="0.4", lw=1)
        ax.set_xticks(x, [m.replace("stereo_", "") for m in MODULE_NAMES], rotation=70, fontsize=8)
        ax.set_title(pair); ax.set_ylim(0, 1.12)
        heard = set(presence_set(probs))
        accuracy = lambda chosen: np.mean([(m in chosen) == (m in truth) for m in MODULE_NAMES])  # noqa: E731
        rows.append({"pair": pair, "true": ", ".join(sorted(truth)), "text named": ", ".join(sorted(said)),
                     "probe above threshold": ", ".join(sorted(heard)),
                     "text accuracy": accuracy(said), "probe accuracy": accuracy(heard)})
    axes[0, 0].set_ylabel("probe probability")
    plt.tight_layout(); plt.show()
    display(pd.DataFrame(rows).round(2))
else:
    print("no mini planner here: nothing to probe")
"""),
    md("""
## Digit probabilities (neural models only)

For a neural planner we can ask how sure it was of each digit it wrote for a parameter value (was
it "0.35" by a wide margin, or nearly "0.45"?). `llm2fx_lab.model.digit_probabilities` generates
greedily, then runs **one teacher-forced forward pass** over prompt + answer (audio embeddings
spliced in as during generation) and returns, for every digit of every tool-call argument: the
module, the parameter, the digit's place, its probability (softmax over the full vocabulary), the
top-3 tokens and the distribution restricted to the ten digit tokens. The `analysis` planner has no
such scores: it computes its numbers.

Your tiny model from `04_train_your_own.ipynb` (`runs/notebook-tiny`) is used when it exists; with
`LLM2FX_FAST=1` or without it, a tiny model is overfit in a few seconds on 16 synthetic dialogues
(sines, as in the test suite), and the known right answer is scored too (teacher-forced: how much
probability did the model give each right digit?). Greedy decoding writes the most probable token,
so every digit of the model's own answer should be the top-1 alternative.
"""),
    code("""
import tempfile
import torch
from llm2fx_lab.errors import Llm2FxError, ToolCallError
from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.model import digit_probabilities, preset
from llm2fx_lab.model.data import Dialogue, corpus_texts, target_text
from llm2fx_lab.model.llm import Llm2FxModel

QUICK_CHAINS = [  # short targets: a quick model learns them in seconds (tests/model/conftest.py)
    {"gain": {"gain_db": -6}}, {"gain": {"gain_db": 8}}, {"distortion": {"drive_db": 12}},
    {"panner": {"pan": -0.4}}, {"panner": {"pan": 0.7}}, {"stereo_widener": {"width": 1.3}},
    {"limiter": {"threshold_db": -9, "release_ms": 150}}, {"gain": {"gain_db": 3}, "distortion": {"drive_db": 6}},
    {"distortion": {"drive_db": 18}, "gain": {"gain_db": -12}}, {"panner": {"pan": 0.2}, "gain": {"gain_db": -2}},
    {"stereo_widener": {"width": 0.5}}, {"gain": {"gain_db": 14}},
    {"limiter": {"threshold_db": -3, "release_ms": 400}}, {"distortion": {"drive_db": 4}},
    {"panner": {"pan": -0.9}, "stereo_widener": {"width": 1.1}},
    {"gain": {"gain_db": -15}, "limiter": {"threshold_db": -6, "release_ms": 50}}]

def quick_tiny_model(stage2_steps=120, sr=44100, seconds=0.5):
    \"\"\"Overfit the tiny preset on 16 sine dialogues (about 15-20 s on two CPU cores).\"\"\"
    from llm2fx_lab.model.tokenizer import train_tokenizer
    from llm2fx_lab.model.train import train

    rng, t = np.random.default_rng(0), np.arange(int(seconds * sr)) / sr
    dialogues = []
    for i, calls in enumerate(QUICK_CHAINS):
        f = 110.0 * 2 ** (i / 3)
        dry = (np.stack([np.sin(2 * np.pi * f * t), np.sin(2 * np.pi * f * t + 0.3)]) * 0.3).astype(np.float32)
        ref = (dry * (0.2 + 0.05 * i) + 0.01 * rng.standard_normal(dry.shape)).astype(np.float32)
        chain = Chain.from_tool_calls([{"name": n, "arguments": a} for n, a in calls.items()])
        dialogues.append(Dialogue(reference=ref, dry=dry, chain=chain, instruction="Match it.",
                                  reasoning=f"Selection: {', '.join(chain.names)}.\\nOrder: as listed.",
                                  response="Done."))
    cfg = preset("tiny", encoder={"clip_seconds": seconds}, train={"batch_size": 8, "stage2_steps": stage2_steps})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # faster than two on a small shared CPU
    try:
        torch.manual_seed(0)
        model = Llm2FxModel(cfg, train_tokenizer(corpus_texts(dialogues, cfg), cfg.tokenizer_vocab_size))
        train(model, dialogues, tempfile.mkdtemp(prefix="llm2fx-digits-"), progress=False)
    finally:
        torch.set_num_threads(threads)
    return model.eval(), dialogues

known_answer = None
if (TINY / "config.json").exists() and not FAST:
    digit_model = Llm2FxModel.from_pretrained(TINY)
    dry, reference, sr_digits, _ = pairs[PAIRS[0]]
    print(f"scoring your tiny model ({TINY}) on the {PAIRS[0]} pair")
else:
    digit_model, quick = quick_tiny_model()
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
"""),
    code("""
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
"""),
    code("""
plotted = answer_scores or digit_scores
if plotted:
    key = max({(s.call, s.parameter) for s in plotted},
              key=lambda k: sum((s.call, s.parameter) == k for s in plotted))
    shown = [s for s in plotted if (s.call, s.parameter) == key]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 2.6), sharey=True, squeeze=False)
    for ax, s in zip(axes[0], shown):
        colours = ["tab:orange" if d == s.token else "tab:blue" for d in "0123456789"]
        ax.bar(list("0123456789"), s.digit_probs, color=colours)
        ax.set_title(f"digit {s.position + 1} (10^{s.place}): '{s.token}'  p={s.probability:.2f}", fontsize=9)
        ax.set_xlabel("digit")
    axes[0, 0].set_ylabel("probability among digits")
    fig.suptitle(f"{shown[0].module}.{shown[0].parameter} = {shown[0].value} (orange: the digit written)")
    plt.tight_layout(); plt.show()
"""),
]


TRAIN_YOUR_OWN = [
    md("""
# 04 · Train your own

Generate a small dataset, train the `tiny` preset on the CPU while watching the loss, evaluate the
result with the paper's metrics, and see how to run the full Qwen3-4B recipe on GPUs.

The `tiny` preset is for learning the pipeline: a few minutes of CPU training teach it the format at
best, not audio engineering. The comparison at the end puts it beside the shipped llm2fx-mini model
(the `mini` preset, trained by `make mini` for about two hours on 2 CPU cores) and the `analysis`
planner (no neural network).

`LLM2FX_FAST=1` makes everything tiny (4 examples, a handful of steps) so the notebook runs in CI.
"""),
    code("""
import os
from pathlib import Path

FAST = os.environ.get("LLM2FX_FAST") == "1"
N_EXAMPLES = 4 if FAST else 200          # per split
STAGE1_STEPS, STAGE2_STEPS = (3, 3) if FAST else (300, 600)
RUNS = Path("../runs")                    # ignored by git
DATA, OUT = RUNS / "notebook-data", RUNS / "notebook-tiny"
print(f"{N_EXAMPLES} examples per split, {STAGE1_STEPS} + {STAGE2_STEPS} steps -> {OUT}")
"""),
    md("""
## 1. A small dataset

Dialogues (dry/reference audio, chain-of-thought, tool calls) rendered from the bundled examples.
The same as `llm2fx data generate runs/notebook-data --n 4 --splits train validation --source examples --workers 1`.
For real training use `--source midi` (General MIDI renders) and thousands of examples.
"""),
    code("""
import shutil
from llm2fx_lab.data.generate import GenerateConfig, generate

shutil.rmtree(DATA, ignore_errors=True)
shards = generate(GenerateConfig(out_dir=str(DATA), splits=("train", "validation"), n_examples=N_EXAMPLES,
                                 source="examples"), workers=1, progress=True)
print("wrote", [str(p.relative_to(RUNS)) for p in shards])
"""),
    md("""
## 2. Train the tiny preset, with a live loss plot

Training runs in a background thread (it writes `OUT/log.csv` after every step); this cell redraws
the loss curve from that file once a second, and the progress bar comes from the trainer itself.
Stage 1 trains the audio encoder and adapter; stage 2 trains the language model (LoRA for big
models, everything for `tiny`).
"""),
    code("""
import threading, time
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
from llm2fx_lab.model.train import train_from_dir

shutil.rmtree(OUT, ignore_errors=True)
outcome = {}

def run():
    try:
        outcome["metrics"] = train_from_dir("tiny", DATA, OUT, progress=True,
                                            train={"stage1_steps": STAGE1_STEPS, "stage2_steps": STAGE2_STEPS})
    except Exception as error:  # shown below, so the notebook does not hang on a failed thread
        outcome["error"] = error

def loss_figure():
    fig, ax = plt.subplots(figsize=(8, 3))
    log = OUT / "log.csv"
    if log.exists() and log.stat().st_size:
        df = pd.read_csv(log)
        df["global step"] = range(1, len(df) + 1)
        for stage, part in df.groupby("stage"):
            ax.plot(part["global step"], part["loss"], label=f"stage {stage} train loss")
            val = part.dropna(subset=["val_loss"])
            ax.plot(val["global step"], val["val_loss"], "o", label=f"stage {stage} validation")
        ax.legend(fontsize=8)
    ax.set_xlabel("step"); ax.set_ylabel("loss (CE + NTL)"); ax.set_title("training loss")
    plt.close(fig)
    return fig

thread = threading.Thread(target=run, daemon=True)
thread.start()
handle = display(loss_figure(), display_id=True)
while thread.is_alive():
    thread.join(timeout=1.0)
    handle.update(loss_figure())
handle.update(loss_figure())
if "error" in outcome:
    raise outcome["error"]
print({stage: round(m["loss"], 3) for stage, m in outcome["metrics"].items()})
"""),
    md("""
The same from the command line (with a tqdm bar in the terminal):

```bash
llm2fx train --preset tiny --data runs/notebook-data --out runs/notebook-tiny --stage1-steps 300 --stage2-steps 600
```

## 3. Evaluate

The trained folder is a planner: `get_planner("model:runs/notebook-tiny")`. We score it with the
paper's metrics (`llm2fx_lab.analysis.score`: module accuracy, rank correlation of the order,
parameter MAE, MR-STFT) on a few bundled pairs, next to the `analysis` planner. Expect the tiny
model to score near the *empty chain* calibration row after a few minutes of CPU training; that is
what a few minutes buy.
"""),
    code("""
from llm2fx_lab.analysis import score
from llm2fx_lab.examples import example_pair, list_examples
from llm2fx_lab.planners import collect, get_planner, mini_available

SECONDS = 2.0 if FAST else 6.0
pairs = []
for name in (["piano", "bass"] if FAST else list_examples()):
    dry, reference, sr, chain = example_pair(name)
    n = int(SECONDS * sr)
    pairs.append({"dry": dry[:, :n], "reference_audio": reference[:, :n], "sample_rate": float(sr),
                  "reference": chain, "id": name})

rows = {}
names = [f"model:{OUT}", "analysis"] + (["mini"] if mini_available() else [])
for planner_name in names:
    planner = get_planner(planner_name)
    predictions = [collect(planner.plan(p["dry"], p["reference_audio"], p["sample_rate"])).chain for p in pairs]
    for p, chain in zip(pairs, predictions):
        print(f"{planner_name:>28} | {p['id']:>6} | true {p['reference'].names} | predicted {chain.names}")
    table = score(pairs, predictions, mrstft_crop_seconds=SECONDS, audibility=False)
    rows[planner_name] = table
if not mini_available():
    print("\\nno llm2fx-mini weights found (LLM2FX_MINI_DIR?): left out of the comparison")
"""),
    code("""
columns = ["n_examples", "acc", "rank_corr", "mae", "mrs_l", "mrs_r"]
summary = pd.concat([t[t["chain_length"] == "all"].assign(planner=name) for name, t in rows.items()])
summary = summary.drop_duplicates(["method", "acc", "mae", "mrs_l"])  # calibration rows repeat per planner
summary["row"] = [p if m == "prediction" else f"({m})" for p, m in zip(summary["planner"], summary["method"])]
display(summary.set_index("row")[columns].round(3))
print(f"measured here on {len(pairs)} bundled pairs of {SECONDS:g} s: far too few for conclusions")
"""),
    md("""
## 4. The full recipe: Qwen3-4B on GPUs

The `qwen3-4b` preset is the paper's setup (Qwen3-4B with LoRA, Fx-Encoder++ audio encoder). Nothing
is downloaded: point `--llm-path` at a local Qwen3-4B checkpoint and `--encoder-weights` at local
Fx-Encoder++ weights. Generate a real dataset first (General MIDI renders, all cores):

```bash
llm2fx data generate data/lpfx --n 100000 --splits train validation test --source midi
```

Then launch with `accelerate`; the configs ship in `llm2fx_lab/model/accelerate_configs/`:

```bash
# several GPUs on one machine, plain data parallel
accelerate launch --config_file llm2fx_lab/model/accelerate_configs/ddp.yaml \\
    -m llm2fx_lab.model.cli train --preset qwen3-4b --data data/lpfx --out runs/qwen3-4b \\
    --llm-path /path/to/local/Qwen3-4B --encoder-weights /path/to/fxencoder_pp.safetensors

# sharded (FSDP) or DeepSpeed ZeRO-2 when memory is tight
accelerate launch --config_file llm2fx_lab/model/accelerate_configs/fsdp_qwen3_4b.yaml \\
    -m llm2fx_lab.model.cli train --preset qwen3-4b --data data/lpfx --out runs/qwen3-4b --llm-path /path/to/local/Qwen3-4B
accelerate launch --config_file llm2fx_lab/model/accelerate_configs/deepspeed_zero2_qwen3_4b.yaml \\
    -m llm2fx_lab.model.cli train --preset qwen3-4b --data data/lpfx --out runs/qwen3-4b --llm-path /path/to/local/Qwen3-4B
```

Useful flags (`python -m llm2fx_lab.model.cli train --help`): `--resume` continues from
`OUT/state`, `--stage1-steps`/`--stage2-steps` override the preset's steps, `--batch-size` and
`--grad-accum` set the per-device batch and accumulation. Edit `num_processes` in the yaml to match
your GPU count. The result loads like the tiny model: `get_planner("model:runs/qwen3-4b")`, and
`05_benchmark.ipynb` scores it.
"""),
]


BENCHMARK = [
    md("""
# 05 · Benchmark

All planners on the same test pairs, scored with the paper's metrics (module accuracy *Acc*, rank
correlation of the order *Rank Corr*, parameter *MAE* on normalised values, *MRS* = MR-STFT distance
on left/right), per chain length, next to the numbers the LLM2Fx-Tools paper reports.

**Read the comparison with care.** The paper's rows are measured on its LP-Fx test set (MedleyDB
stems); ours are measured here, on generated pairs from other audio. The numbers share a definition,
not a test set. `mini` is the embedded llm2fx-mini model (not the paper's Qwen3-4B); `regression`
and `multitask` are baselines of the paper's kind on the same encoder features.

`LLM2FX_FAST=1` runs one 2 s pair per chain length 1-3 from the bundled examples (seconds, and far
too few pairs for conclusions); without it, 3 pairs per chain length 1-9.
"""),
    md("""
## The reference run (docs/benchmarks.md)

The full run on this project's CPU (45 generated General MIDI pairs) is recorded in
`docs/benchmarks.md`, section *Planners*; here is that section as committed:
"""),
    code("""
import os
import re
from pathlib import Path
from IPython.display import Markdown, display

FAST = os.environ.get("LLM2FX_FAST") == "1"
text = Path("../docs/benchmarks.md").read_text(encoding="utf-8")
match = re.search(r"^## Planners.*?(?=^## |\\Z)", text, re.S | re.M)
display(Markdown(match.group(0) if match else "(no Planners section in docs/benchmarks.md yet)"))
"""),
    md("""
## Measured now

`llm2fx_lab.planners.bench`: `make_test_pairs` builds LP-Fx-style pairs (a chain sampled as the
paper's generator does, rendered on a dry segment, kept only if the MR-STFT similarity filter passes),
`run_bench` runs a planner and scores it with `llm2fx_lab.analysis.score`, calibration rows included
(*empty chain*: predict nothing; *true modules, mid params*: the right modules with every parameter
at the middle of its range).
"""),
    code("""
import pandas as pd
from llm2fx_lab.planners import get_planner, mini_available
from llm2fx_lab.planners.bench import PAPER_ROWS, make_test_pairs, run_bench

SECONDS = 2.0 if FAST else 5.0
LENGTHS = (1, 2, 3) if FAST else tuple(range(1, 10))
pairs = make_test_pairs(per_length=1 if FAST else 3, source="examples", lengths=LENGTHS, seconds=SECONDS)
print(f"{len(pairs)} pairs of {SECONDS:g} s from the bundled examples, chain lengths {LENGTHS}")

names = ["analysis", "analysis+refine", "regression", "multitask"] + (["mini"] if mini_available() else [])
options = {"analysis+refine": {"refine_options": {"steps": 3 if FAST else 25, "budget_seconds": 3.0 if FAST else 15.0}}}
tables, seconds = {}, {}
for name in names:
    summary, per_example, secs = run_bench(get_planner(name, **options.get(name, {})), pairs,
                                           mrstft_crop_seconds=SECONDS, audibility=False)
    tables[name], seconds[name] = summary, sum(secs) / len(secs)
    print(f"{name:>16}: {seconds[name]:.2f} s per pair")
if not mini_available():
    print("llm2fx-mini: no weights found (LLM2FX_MINI_DIR?), not measured")
"""),
    code("""
rows = []
for name, t in tables.items():
    for _, r in t.iterrows():
        label = name if r["method"] == "prediction" else f"calibration: {r['method']}"
        rows.append({"row": label, "chain length": r["chain_length"], "n": r["n_examples"], "Acc": r["acc"],
                     "Rank Corr": r["rank_corr"], "MAE": r["mae"], "MRS L": r["mrs_l"], "MRS R": r["mrs_r"],
                     "audio": f"ours: {len(pairs)} generated pairs"})
ours = pd.DataFrame(rows).drop_duplicates(["row", "chain length"])
paper = pd.DataFrame([{"row": k, "chain length": "all", "n": 900, "Acc": a, "Rank Corr": rc, "MAE": mae,
                       "MRS L": mrs, "MRS R": float("nan"), "audio": "paper: LP-Fx (different audio)"}
                      for k, (a, rc, mae, mrs) in PAPER_ROWS.items()])
table = pd.concat([ours[ours["chain length"] == "all"], paper]).set_index("row")
display(table.style.format({"Acc": "{:.0%}", "Rank Corr": "{:.2f}", "MAE": "{:.3f}", "MRS L": "{:.2f}",
                            "MRS R": "{:.2f}"}, na_rep="-"))
print("paper MRS is one number (the table's MRS column), shown under MRS L")
"""),
    md("""
## Per chain length

Longer chains are harder: more modules to find, more orderings, and each module's effect is harder
to tell apart. The paper's LLM2Fx-Tools row (over all lengths) is drawn as a dashed line; it was
measured on different audio.
"""),
    code("""
import matplotlib.pyplot as plt

per_length = ours[ours["chain length"] != "all"].copy()
per_length["length"] = per_length["chain length"].astype(int)
paper_row = dict(zip(["Acc", "Rank Corr", "MAE", "MRS L"], PAPER_ROWS["LLM2Fx-Tools (paper)"]))
fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
for ax, metric in zip(axes, ["Acc", "Rank Corr", "MAE", "MRS L"]):
    for label, part in per_length.groupby("row"):
        ax.plot(part["length"], part[metric], "o-", label=label)
    ax.axhline(paper_row[metric], ls="--", color="k", label="LLM2Fx-Tools (paper, different audio)")
    ax.set_title(metric); ax.set_xlabel("chain length")
axes[0].legend(fontsize=7)
plt.tight_layout(); plt.show()
print(f"measured here: {len(pairs)} pairs ({len(pairs) // len(LENGTHS)} per chain length) of {SECONDS:g} s")
"""),
    md("""
## Running the full benchmark

```bash
python benchmarks/planners.py --per-length 5 --planners analysis analysis+refine --refine-subset 1
```

writes the table in `docs/benchmarks.md`. Add `model:runs/qwen3-4b` (from `04_train_your_own.ipynb`'s
recipe) to `--planners` to score your own model.
"""),
]


NOTEBOOK_CELLS = {"01_studio.ipynb": STUDIO, "02_effects_101.ipynb": EFFECTS_101,
                  "03_reasoning_explorer.ipynb": REASONING_EXPLORER,
                  "04_train_your_own.ipynb": TRAIN_YOUR_OWN,
                  "05_benchmark.ipynb": BENCHMARK}


def build() -> list[Path]:
    NOTEBOOKS.mkdir(exist_ok=True)
    written = []
    for name, cells in NOTEBOOK_CELLS.items():
        nb = nbformat.v4.new_notebook()
        stem = name.split(".")[0]
        for i, cell in enumerate(cells):  # stable ids: rebuilding rewrites nothing that did not change
            cell["id"] = f"{stem}-{i:03d}"
        nb.cells = cells
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = NOTEBOOKS / name
        nbformat.write(nb, str(path))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in build():
        print("wrote", p)
    sys.exit(0)
