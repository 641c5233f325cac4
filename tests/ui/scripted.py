"""A scripted planner: a test double that streams like a real planner (Thinking by step,
tool calls, a response, one Final) with small sleeps, so the UI can be tested without a model.
It honours ``stop`` and, when given an instruction, edits the chain it is given.
"""

from __future__ import annotations

import threading
import time

from llm2fx_lab.events import Final, Response, StreamClock, Thinking, ToolCallEvent
from llm2fx_lab.fx.chain import Chain

CHAIN = Chain.from_tool_calls([
    {"name": "equalizer", "arguments": {"high_gain_db": 4, "high_cutoff_freq": 6000}},
    {"name": "compressor", "arguments": {"threshold_db": -25, "ratio": 4}},
    {"name": "reverb", "arguments": {"room_size": 0.5, "mix_ratio": 0.2}},
    {"name": "limiter", "arguments": {"threshold_db": -3}},
])

SCRIPT = (
    ("selection", "The reference is brighter and more compressed than the dry clip, with a short room. "),
    ("selection", "I pick equalizer, compressor, reverb and a limiter. "),
    ("order", "Tone first, then dynamics, then space, and the limiter last. "),
    ("parameters", "A +4 dB high shelf at 6 kHz, a 4:1 compressor at -25 dB, "),
    ("parameters", "a medium room at 20 % mix and a -3 dB limiter. "),
    ("refinement", "The levels look close; I keep these values."),
)


class ScriptedPlanner:
    name = "scripted (test double)"
    edits_with_model = True  # it edits the chain itself, as a chat planner does (not through the grammar)

    def __init__(self, delay_seconds: float = 0.01, words_per_event: int = 3) -> None:
        self.delay_seconds = delay_seconds
        self.words = words_per_event
        self.calls = 0

    def plan(self, dry, reference, sample_rate, instruction=None, stop: threading.Event | None = None,
             chain: Chain | None = None):
        self.calls += 1
        clock = StreamClock()
        stop = stop or threading.Event()
        text = []
        if instruction:
            result = chain if chain is not None else CHAIN
            if "reverb" in instruction and "reverb" in result:
                mix = result["reverb"]["mix_ratio"]
                result = result.with_params("reverb", mix_ratio=round(max(0.0, mix / 2), 3))
            script = (("refinement", f"You asked: {instruction}. I halve the reverb mix."),)
            calls = [(i, c) for i, c in enumerate(result) if c.name == "reverb"]
        else:
            result, script, calls = CHAIN, SCRIPT, list(enumerate(CHAIN))
        for step, sentence in script:
            words = sentence.split(" ")
            for i in range(0, len(words), self.words):
                if stop.is_set():
                    return_chain = Chain(tuple(c for _, c in calls[:0]))
                    yield Final(return_chain, "".join(text), "", clock.timings(), stopped=True, planner=self.name)
                    return
                piece = " ".join(words[i:i + self.words]) + " "
                text.append(piece)
                yield clock.mark(Thinking(piece, step))
                time.sleep(self.delay_seconds)
        for index, call in calls:
            yield ToolCallEvent(call, index)
        reply = "Done: a brighter, compressed sound in a small room." if not instruction else "Less reverb now."
        for word in reply.split(" "):
            yield clock.mark(Response(word + " "))
        yield Final(result, "".join(text), reply, clock.timings(), planner=self.name)
