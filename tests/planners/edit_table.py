"""The conversation-edit table: requests in varied wording on the bundled piano pair's chain
(equalizer -> delay -> panner), each with the exact chain it must produce, and the requests that
must be refused with the reason the reply must give. Shared by the grammar, CLI and studio tests.
"""

from __future__ import annotations

from llm2fx_lab.examples import example_chain
from llm2fx_lab.fx.chain import Chain, tool_call

PIANO = example_chain("piano")  # equalizer(low -6 dB, high +8 dB) -> delay(0.35 s, fb 0.4, mix 0.3) -> panner(-0.5)
E, D, P = "equalizer", "delay", "panner"


def chain_of(*items) -> Chain:
    """``(name, {overrides}, bypass)`` items: a module of PIANO keeps its settings under the
    overrides; another starts from the spec's defaults."""
    calls = []
    for item in items:
        item = (item,) if isinstance(item, str) else item
        name, over, bypass = item[0], item[1] if len(item) > 1 else {}, len(item) > 2 and item[2]
        base = PIANO[name].params if name in PIANO.names else {}
        calls.append(tool_call(name, {**base, **over}, bypass=bypass))
    return Chain(tuple(calls))


def _r(mix, **more):
    return ("reverb", {"mix_ratio": mix, **more})


#: (request, the exact chain it must produce)
EDITS = [
    ("remove the delay", chain_of(E, P)),
    ("remove delay", chain_of(E, P)),
    ("no delay", chain_of(E, P)),
    ("without the delay", chain_of(E, P)),
    ("delete the echo", chain_of(E, P)),
    ("get rid of the panner", chain_of(E, D)),
    ("take out the eq", chain_of(D, P)),
    ("drop the delay and the panner", chain_of(E)),
    ("remove the delay, please", chain_of(E, P)),
    ("turn off the delay", chain_of(E, (D, {}, True), P)),
    ("bypass the delay", chain_of(E, (D, {}, True), P)),
    ("Bypass the EQ", chain_of((E, {}, True), D, P)),
    ("disable the panning", chain_of(E, D, (P, {}, True))),
    ("add a reverb", chain_of(E, D, P, _r(0.0))),
    ("add a reverb with mix 0.3 and room size 0.8", chain_of(E, D, P, _r(0.3, room_size=0.8))),
    ("add some reverb", chain_of(E, D, P, _r(0.15))),
    ("add a compressor at the start", chain_of("compressor", E, D, P)),
    ("add a gain of -3 dB", chain_of(E, ("gain", {"gain_db": -3}), D, P)),
    ("set the delay mix to 0.5", chain_of(E, (D, {"mix_ratio": 0.5}), P)),
    ("delay mix 50%", chain_of(E, (D, {"mix_ratio": 0.5}), P)),
    ("delay 250 ms", chain_of(E, (D, {"delay_seconds": 0.25}), P)),
    ("set the delay time to 0.5 s", chain_of(E, (D, {"delay_seconds": 0.5}), P)),
    ("echo 400ms", chain_of(E, (D, {"delay_seconds": 0.4}), P)),
    ("feedback 0.2", chain_of(E, (D, {"feedback": 0.2}), P)),
    ("threshold -18 dB", chain_of(E, ("compressor", {"threshold_db": -18}), D, P)),
    ("set the reverb mix to 0.2", chain_of(E, D, P, _r(0.2))),
    ("pan 30% right", chain_of(E, D, (P, {"pan": 0.3}))),
    ("pan hard left", chain_of(E, D, (P, {"pan": -1.0}))),
    ("center the pan", chain_of(E, D, (P, {"pan": 0.0}))),
    ("treble -3 dB", chain_of((E, {"high_gain_db": -3}), D, P)),
    ("bass +3 dB", chain_of((E, {"low_gain_db": -3}), D, P)),
    ("cut the bass by 2 dB", chain_of((E, {"low_gain_db": -8}), D, P)),
    ("a bit brighter", chain_of((E, {"high_gain_db": 10}), D, P)),
    ("brighter", chain_of((E, {"high_gain_db": 12}), D, P)),
    ("much brighter", chain_of((E, {"high_gain_db": 16}), D, P)),
    ("darker", chain_of((E, {"high_gain_db": 4}), D, P)),
    ("more bass", chain_of((E, {"low_gain_db": -2}), D, P)),
    ("raise the mids by 2 dB", chain_of((E, {"mid_gain_db": 2}), D, P)),
    ("low frequency 150 Hz", chain_of((E, {"low_cutoff_freq": 150}), D, P)),
    ("high cutoff 8 kHz", chain_of((E, {"high_cutoff_freq": 8000}), D, P)),
    ("mid Q 2", chain_of((E, {"mid_q_factor": 2}), D, P)),
    ("more echo", chain_of(E, (D, {"mix_ratio": 0.45}), P)),
    ("less delay", chain_of(E, (D, {"mix_ratio": 0.15}), P)),
    ("much less delay", chain_of(E, P)),
    ("a little more feedback", chain_of(E, (D, {"feedback": 0.45}), P)),
    ("longer delay", chain_of(E, (D, {"delay_seconds": 0.45}), P)),
    ("shorter echo", chain_of(E, (D, {"delay_seconds": 0.25}), P)),
    ("wider", chain_of(E, D, P, ("stereo_widener", {"width": 1.3}))),
    ("narrower", chain_of(E, D, P, ("stereo_widener", {"width": 0.7}))),
    ("width 1.2", chain_of(E, D, P, ("stereo_widener", {"width": 1.2}))),
    ("louder", chain_of(E, ("gain", {"gain_db": 3}), D, P)),
    ("quieter by 2 dB", chain_of(E, ("gain", {"gain_db": -2}), D, P)),
    ("turn it down", chain_of(E, ("gain", {"gain_db": -3}), D, P)),
    ("more distortion", chain_of(E, ("distortion", {"drive_db": 4}), D, P)),
    ("drive 6 dB", chain_of(E, ("distortion", {"drive_db": 6}), D, P)),
    ("set ratio to 4", chain_of(E, ("compressor", {"ratio": 4}), D, P)),
    ("compressor 4:1", chain_of(E, ("compressor", {"ratio": 4}), D, P)),
    ("bigger room", chain_of(E, D, P, _r(0.0, room_size=0.7))),
    ("more limiting", chain_of(E, D, P, ("limiter", {"threshold_db": -4}))),
    ("move the delay to the end", chain_of(E, P, D)),
    ("move the panner to the start", chain_of(P, E, D)),
    ("put the delay after the panner", chain_of(E, P, D)),
    ("delay before the eq", chain_of(D, E, P)),
    ("swap the delay and the panner", chain_of(E, P, D)),
    ("panner first", chain_of(P, E, D)),
    ("remove the delay and add a reverb", chain_of(E, P, _r(0.0))),
    ("less delay, more bass and move the panner to the start",
     chain_of(P, (E, {"low_gain_db": -2}), (D, {"mix_ratio": 0.15}))),
    ("remove the delay then make it a bit wider", chain_of(E, P, ("stereo_widener", {"width": 1.15}))),
]

#: (request, what the reply must say): nothing changes.
REFUSALS = [
    ("less reverb", "there is no reverb in the chain (equalizer -> delay -> panner) to reduce"),
    ("remove the reverb", "there is no reverb in the chain (equalizer -> delay -> panner) to remove"),
    ("less limiting", "there is no limiter in the chain"),
    ("make it sound like a cathedral organ on the moon", "did not understand"),
    ("reverb mix 2", "reverb.mix_ratio must be between 0 and 1; got 2"),
    ("delay 2 s", "delay.delay_seconds must be between 0 s and 0.7 s; got 2 s"),
    ("delay feedback 0.9", "delay.feedback must be between 0 and 0.6; got 0.9"),
    ("pan 150% left", "panner.pan must be between -1 and 1; got -1.5"),
    ("delay 0.3", "which delay parameter"),
    ("delay 5 Hz", "delay has no parameter in hz"),
    ("more eq", "is not specific"),
    ("undo", "there is nothing to undo"),
    ("move the reverb to the start", "there is no reverb in the chain"),
    ("restore the delay", "delay is already on"),
    ("add a delay", "the chain already has a delay"),
    ("move the delay", "where should delay go?"),
    ("delay 350 ms", "delay.delay_seconds is already 0.35 s"),
    ("", "the request is empty"),
]
