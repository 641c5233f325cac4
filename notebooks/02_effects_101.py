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
# # 02 · Effects 101
#
# The toolset of LLM2Fx-Tools has **9 modules** (26 parameters). This notebook takes them one at a
# time: what each does in plain words, its parameters (units, ranges, defaults, scales, all read from
# the toolset spec, `llm2fx_lab.fx.TOOLSET`), how it sounds on a bundled clip, what it looks like,
# and a few sliders to play with. Then why the **order** of modules matters, and a few
# **"guess the effect"** exercises with hidden answers.
#
# Use headphones for the stereo modules (panner, widener, reverb). Players are *not* normalised:
# what sounds louder is louder. Where a rendered clip would clip at playback, every clip in that row
# is turned down by the same amount, and the notebook says so.

# %% [markdown]
# ### Setup
#
# A few helpers used throughout, from `llm2fx_lab.lessons` and built only on the public API: `clip`
# loads the first seconds of a bundled example, `explain` shows a module's description and parameter
# table from the spec, `listen` shows players side by side, `see` draws the plot that fits a module,
# and `play_with` makes sliders from the spec. The first cell sets the length of the clips.

# %% tags=["parameters"]
clip_seconds = 4.0  # length of every clip below, in seconds
tail_seconds = 1.5  # silence rendered after a clip for echoes and reverb tails, in seconds

# %%
# %matplotlib inline
from IPython.display import display

from llm2fx_lab import lessons
from llm2fx_lab.examples import list_examples
from llm2fx_lab.fx import TOOLSET, render, tool_call

print("examples:", ", ".join(list_examples()), f"| clips of {clip_seconds:g} s")

# %% [markdown]
# Every module, its renderer and its parameter count, from the spec (9 modules, 26 parameters):

# %%
for name, spec in TOOLSET.items():
    print(f"{name:>15} ({spec.renderer:>10}): {', '.join(spec.param_names)}")
print(sum(len(s.params) for s in TOOLSET.values()), "parameters")

# %% [markdown]
# ## 1 · `gain`
#
# The simplest module: the same sound, only quieter or louder. Compare the waveforms: the shape is identical, the height changes. -6.02 dB halves the amplitude.

# %%
lessons.explain("gain")
x, sr = lessons.clip("guitar", clip_seconds)
call = tool_call("gain", {"gain_db": -12})
y = render(x, sr, [call])
lessons.listen(sr, before=x, after=y)
lessons.see(call, x, y, sr)

# %%
controls = lessons.play_with("gain", "guitar", clip_seconds)

# %% [markdown]
# ## 2 · `panner`
#
# The sound moves towards one speaker. On headphones it sits in one ear; on the vectorscope the cloud of points tilts away from the vertical (mid) axis.

# %%
lessons.explain("panner")
x, sr = lessons.clip("guitar", clip_seconds)
call = tool_call("panner", {"pan": -0.8})
y = render(x, sr, [call])
lessons.listen(sr, before=x, after=y)
lessons.see(call, x, y, sr)

# %%
controls = lessons.play_with("panner", "guitar", clip_seconds)

# %% [markdown]
# ## 3 · `stereo_widener`
#
# Width 0 folds the stereo image into mono (a vertical line on the vectorscope); above 1 the difference between the speakers grows and the sound spreads out.

# %%
lessons.explain("stereo_widener")
x, sr = lessons.clip("mix", clip_seconds)
call = tool_call("stereo_widener", {"width": 0.0})
y = render(x, sr, [call])
lessons.listen(sr, before=x, after=y)
lessons.see(call, x, y, sr)

# %%
controls = lessons.play_with("stereo_widener", "mix", clip_seconds)

# %% [markdown]
# ## 4 · `equalizer`
#
# The tonal balance changes: more boom in the bass, a scooped middle, more air on top. The curve on the left is computed from the parameters; the spectra on the right are measured.

# %%
lessons.explain("equalizer")
x, sr = lessons.clip("mix", clip_seconds)
call = tool_call("equalizer", {"low_gain_db": 8, "low_cutoff_freq": 150, "mid_gain_db": -6, "mid_cutoff_freq": 1000,
                               "mid_q_factor": 1.5, "high_gain_db": 6, "high_cutoff_freq": 8000})
y = render(x, sr, [call])
lessons.listen(sr, before=x, after=y)
lessons.see(call, x, y, sr)

# %%
controls = lessons.play_with("equalizer", "mix", clip_seconds)

# %% [markdown]
# ## 5 · `distortion`
#
# Grit and harmonics. The transfer curve on the right (input sample -> output sample) bends like tanh: small samples pass almost unchanged, large ones are rounded off.

# %%
lessons.explain("distortion")
x, sr = lessons.clip("bass", clip_seconds)
call = tool_call("distortion", {"drive_db": 16})
y = render(x, sr, [call])
lessons.listen(sr, before=x, after=y)
lessons.see(call, x, y, sr)

# %%
controls = lessons.play_with("distortion", "bass", clip_seconds)

# %% [markdown]
# ## 6 · `compressor`
#
# Loud hits are turned down, so the quiet parts come closer to the loud ones. The static curve bends at the threshold; the measured gain dips on every hit and recovers at the release speed.

# %%
lessons.explain("compressor")
x, sr = lessons.clip("drums", clip_seconds)
call = tool_call("compressor", {"threshold_db": -30, "ratio": 8, "attack_ms": 5, "release_ms": 100})
y = render(x, sr, [call])
lessons.listen(sr, before=x, after=y)
lessons.see(call, x, y, sr)

# %%
controls = lessons.play_with("compressor", "drums", clip_seconds)

# %% [markdown]
# ## 7 · `limiter`
#
# Denser and louder: peaks are held under the ceiling and make-up gain lifts everything else (pedalboard's limiter adds it on its own, so the output is louder, not quieter).

# %%
lessons.explain("limiter")
x, sr = lessons.clip("mix", clip_seconds)
call = tool_call("limiter", {"threshold_db": -10, "release_ms": 100})
y = render(x, sr, [call])
lessons.listen(sr, before=x, after=y)
lessons.see(call, x, y, sr)

# %%
controls = lessons.play_with("limiter", "mix", clip_seconds)

# %% [markdown]
# ## 8 · `delay`
#
# Echoes. The impulse response (what a single click turns into) shows one spike per repeat, each one quieter by the feedback.

# %%
lessons.explain("delay")
x, sr = lessons.clip("piano", clip_seconds)
call = tool_call("delay", {"delay_seconds": 0.3, "feedback": 0.4, "mix_ratio": 0.5})
y = render(x, sr, [call], tail_seconds=tail_seconds)
lessons.listen(sr, before=x, after=y)
lessons.see(call, x, y, sr)

# %%
controls = lessons.play_with("delay", "piano", clip_seconds, tail_seconds)

# %% [markdown]
# ## 9 · `reverb`
#
# A room around the sound and a decaying tail. The impulse response shows a dense, decaying cloud instead of separate echoes; more damping makes its high frequencies die first.

# %%
lessons.explain("reverb")
x, sr = lessons.clip("drums", clip_seconds)
call = tool_call("reverb", {"room_size": 0.8, "damping": 0.3, "width": 0.9, "mix_ratio": 0.4})
y = render(x, sr, [call], tail_seconds=tail_seconds)
lessons.listen(sr, before=x, after=y)
lessons.see(call, x, y, sr)

# %%
controls = lessons.play_with("reverb", "drums", clip_seconds, tail_seconds)

# %%
covered = ["gain", "panner", "stereo_widener", "equalizer", "distortion", "compressor", "limiter", "delay", "reverb"]
assert sorted(covered) == sorted(TOOLSET), "every module of the toolset has a section above"
print(f"{len(covered)} of {len(TOOLSET)} modules covered")
controls["mix_ratio"].value = 0.8  # what a slider drag does: the reverb players and plot above update

# %% [markdown]
# ## 10 · Order matters: compressor -> reverb vs reverb -> compressor
#
# A chain is applied in list order, and most effects do not commute. Put the **compressor first**
# and it only sees the dry drums: it tames the hits, then the reverb adds a natural, decaying room.
# Put the **reverb first** and the compressor sees the room too: every hit pushes the gain down,
# and between hits the gain comes back up and *lifts the reverb tail* (the room "breathes" or
# pumps). Same two modules, same settings, different sound.

# %%
x, sr = lessons.clip("drums", clip_seconds)
comp = tool_call("compressor", {"threshold_db": -30, "ratio": 8, "attack_ms": 5, "release_ms": 200})
verb = tool_call("reverb", {"room_size": 0.8, "damping": 0.3, "width": 0.9, "mix_ratio": 0.4})
comp_first = render(x, sr, [comp, verb], tail_seconds=tail_seconds)
verb_first = render(x, sr, [verb, comp], tail_seconds=tail_seconds)
lessons.listen(sr, dry=x, **{"compressor -> reverb": comp_first, "reverb -> compressor": verb_first})

# %% [markdown]
# What each compressor *sees* explains the difference: `render_stages` gives the signal entering
# each module (`lessons.order_plots` draws it). On the left, the compressor's gain over time in both
# positions; on the right, the level envelopes of the two results (the reverb-first one stays higher
# between hits and in the tail).

# %%
display(lessons.order_plots(x, sr, comp, verb, tail_seconds))
print("Going from compressor -> reverb to reverb -> compressor:")
print(lessons.measured_changes(comp_first, verb_first, sr))

# %% [markdown]
# Try it yourself: swap other pairs (distortion and equalizer, delay and reverb, gain and limiter)
# by editing the two lists above. Pairs that commute (gain and panner, for example) sound identical
# in either order; pairs with a level-dependent module (compressor, limiter, distortion) rarely do.
#
# ## 11 · Guess the effect
#
# Each bundled example comes with a hidden chain. Listen to the dry clip and the processed one, look
# at the plots, write down which modules you hear, in which order and roughly how set, then open
# the hint (what the analysis measured) and the answer. Collapsed panels and `<details>` blocks
# keep the answers out of sight until you click.

# %% [markdown]
# ### Exercise 1: bass

# %%
chain_1 = lessons.exercise("bass", clip_seconds, tail_seconds)

# %% [markdown]
# <details><summary>Answer, explained</summary>
#
# **distortion -> equalizer -> gain.** The bass gains grit and upper harmonics (distortion, 12 dB
# drive); the EQ then boosts the lows (+6 dB shelf at 120 Hz), dips the low mids and cuts the top
# (-8 dB above 5 kHz) so the grit stays warm rather than fizzy; finally the level comes down 6 dB to
# make up for the loudness the distortion added.
# </details>

# %% [markdown]
# ### Exercise 2: piano

# %%
chain_2 = lessons.exercise("piano", clip_seconds, tail_seconds)

# %% [markdown]
# <details><summary>Answer, explained</summary>
#
# **equalizer -> delay -> panner.** Brighter and thinner (low shelf -6 dB at 200 Hz, high shelf
# +8 dB at 6 kHz), echoes every 0.35 s that fade out (feedback 0.4), and the whole piano moved to
# the left (pan -0.5): the vectorscope leans away from the vertical.
# </details>

# %% [markdown]
# ### Exercise 3: guitar

# %%
chain_3 = lessons.exercise("guitar", clip_seconds, tail_seconds)

# %% [markdown]
# <details><summary>Answer, explained</summary>
#
# **panner -> reverb -> limiter.** The guitar is panned right (pan 0.6) *before* a large, wide
# reverb (room 0.8), so the dry sound sits right while the room spreads over both speakers; the
# limiter at -6 dB then holds the peaks and, with its make-up gain, makes the result denser and louder.
# </details>

# %% [markdown]
# ### Exercise 4 (harder): a whole mix, four modules

# %%
chain_4 = lessons.exercise("mix", clip_seconds, tail_seconds)

# %% [markdown]
# <details><summary>Answer, explained</summary>
#
# **equalizer -> compressor -> stereo_widener -> limiter**, a typical mastering chain. A gentle
# smile EQ (+4 dB lows, -3 dB around 500 Hz, +5 dB highs), a 4:1 compressor from -20 dB to even out
# the dynamics, a wider stereo image (width 1.3), and a limiter at -3 dB that makes it all louder.
# Each change is small; together they make the mix sound "finished". The wider vectorscope cloud
# gives the widener away; the compressor and the limiter are the hardest to tell apart by ear.
# </details>

# %% [markdown]
# The written answers above are checked against the bundled chains, so they cannot drift:

# %%
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

# %% [markdown]
# ## Where next
#
# - `01_studio.ipynb`: give a planner a dry clip and a reference, watch it reason its way to a chain,
#   then edit that chain with the same kinds of controls as above.
# - `docs/toolset.md`: the toolset reference, generated from the same spec as the tables here.
# - `docs/getting-started.md` and `docs/architecture.md`: the command line, and how the pieces fit.
