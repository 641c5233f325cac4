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
# # 01 · Studio
#
# Upload a dry clip and a reference (or pick a bundled example), watch the planner reason its way to
# an effect chain, then edit the chain, listen and look. Everything below is live: slider drags
# re-render only the modules after the one you touched, and the spectra follow.
#
# - **Audio**: upload wav/flac/ogg/mp3 for the *dry* and *reference* slots, or pick an example,
#   or press *Record* to record the dry clip from the microphone (a level meter shows while it
#   records; it stops at the limit, 30 s unless `studio.inputs.dry.recorder.max_seconds` says
#   otherwise; the browser asks for the microphone first). Tick *No dry clip* for blind
#   estimation from the reference alone.
# - **Planner**: pick who estimates the chain: `analysis` (measurements and small trees, no neural
#   network), `mini` (the embedded llm2fx-mini model, small and trained on a CPU; see its model card),
#   `mini` presence-guided, or the `regression` / `multitask` baselines. Tick *+ refine* to polish
#   the chain by rendering (a few seconds more). In code: `studio.pick_planner("mini", refine=True)`.
# - **Reasoning**: the planner's stream, step by step, with tool calls as cards. *Stop* ends it
#   early; type a request ("remove the delay", "reverb mix 0.2", "a bit brighter", "swap delay and
#   reverb", "undo") to edit the chain in the editor: the reply says exactly what changed, or why
#   nothing did (docs/edits.md lists what it understands). Each turn can be undone.
# - **Effect chain**: drag cards (or focus one and press Alt+Up/Down) to reorder; bypass, remove,
#   add modules; sliders (log scale where the toolset says so) and exact numbers; undo/redo;
#   reset to the planner's estimate; export JSON or copy as Python.
# - **Listen**: one player with an A/B switch that keeps the position, optional loudness matching,
#   and a step-through of the signal after each module. Its timeline shows the waveform and the
#   spectrograms of dry, reference and render side by side (or the render minus the reference, in
#   dB) with a playhead that follows the audio: click to seek, drag to loop a region (the loop
#   holds when you switch between dry, reference and render). An edit first redraws the part
#   around the playhead (outlined "preview"), then the whole render.
# - **Import and presets** (under the editor): paste tool calls or upload a chain `.json`; save
#   the chain under a name, load or delete saved ones (`llm2fx_lab.fx.presets` from code).
# - **Keyboard** (see *Help* at the top of the studio): Space plays or pauses, 1 / 2 / 3 pick dry,
#   reference, render, arrows seek, Esc clears the loop, V switches the spectrogram view.

# %%
from llm2fx_lab.ui import Studio

studio = Studio(example="drums")   # the drums clip and its demo chain's render as reference
studio

# %% [markdown]
# Run the default planner on the loaded pair. It streams in a background thread, so the notebook stays responsive.

# %%
print("planner:", getattr(studio.planner, "name", studio.planner))
studio.plan()

# %% [markdown]
# The chain in the editor is a plain `Chain` at any time: use it in code, render it, save it.
# (While the planner is still streaming this shows the chain from before.)

# %%
print(studio.chain)
print(studio.chain.to_json(indent=2))

# %% [markdown]
# ### Under the hood
#
# The studio is a composition of small widgets from `llm2fx_lab.ui` (`AudioInput`, `ReasoningView`,
# `ChainEditor`, `Player`, `SpectrumView`, `DynamicsView`), each usable alone. Rendering is the plain
# library: `render` for the output, `render_stages` for the signal after each module.

# %%
import numpy as np

from llm2fx_lab.examples import example_pair
from llm2fx_lab.fx import render_stages

dry, reference, sr, demo_chain = example_pair("drums")
for label, x in render_stages(dry, sr, demo_chain, tail_seconds=1.0):
    rms_db = 20 * np.log10(np.sqrt(np.mean(x ** 2)) + 1e-12)
    print(f"{label:>14}: RMS {rms_db:6.1f} dBFS, peak {20 * np.log10(np.abs(x).max() + 1e-12):6.1f} dBFS")
