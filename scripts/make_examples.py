"""Make the bundled example clips offline: General MIDI parts rendered with FluidSynth.

Usage::

    .venv/bin/python scripts/make_examples.py [--out llm2fx_lab/examples] [--overwrite]

Needs Debian's ``fluidsynth`` and ``fluid-soundfont-gm`` (``apt-get install fluidsynth
fluid-soundfont-gm``). Every note is written here with a fixed seed, so the MIDI is
reproducible; FluidSynth's reverb and chorus are switched off so the clips are truly dry.
Each clip: 10 s, stereo, 44.1 kHz, loudness-normalised to -12 LUFS (the reference's target)
or lower where the peak would pass -1 dBFS (the reference clips instead; we keep examples
clean), 16-bit FLAC. The demonstration chains of ``pairs.json`` are written too.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mido
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llm2fx_lab.audio.io import REFERENCE_PEAK_DB, crop_or_pad, load_audio, save_audio  # noqa: E402
from llm2fx_lab.audio.loudness import normalize_loudness  # noqa: E402

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SAMPLE_RATE = 44100
SECONDS = 10.0
TPB = 480  # ticks per beat
BPM = 96
SEED = 20261125

# chord progression (root MIDI note, minor?) in A minor: Am F C G, two bars each at 96 BPM
PROGRESSION = [(57, True), (53, False), (48, False), (55, False)]


def _chord(root: int, minor: bool) -> list[int]:
    return [root, root + (3 if minor else 4), root + 7]


class Part:
    """Absolute-time note events for one MIDI channel."""

    def __init__(self, channel: int, program: int | None, pan: int = 64, volume: int = 100):
        self.channel, self.program, self.pan, self.volume = channel, program, pan, volume
        self.events: list[tuple[int, int, int, int]] = []  # (tick, on(1)/off(0), note, velocity)

    def note(self, start_beats: float, length_beats: float, pitch: int, velocity: int) -> None:
        on = int(round(start_beats * TPB))
        off = int(round((start_beats + length_beats) * TPB))
        self.events.append((on, 1, pitch, velocity))
        self.events.append((off, 0, pitch, 0))

    def track(self) -> mido.MidiTrack:
        track = mido.MidiTrack()
        if self.program is not None:
            track.append(mido.Message("program_change", channel=self.channel, program=self.program, time=0))
        track.append(mido.Message("control_change", channel=self.channel, control=10, value=self.pan, time=0))
        track.append(mido.Message("control_change", channel=self.channel, control=7, value=self.volume, time=0))
        for cc in (91, 93):  # no reverb / chorus send: dry material
            track.append(mido.Message("control_change", channel=self.channel, control=cc, value=0, time=0))
        now = 0
        for tick, on, pitch, vel in sorted(self.events, key=lambda e: (e[0], e[1])):
            kind = "note_on" if on else "note_off"
            track.append(mido.Message(kind, channel=self.channel, note=pitch, velocity=vel, time=tick - now))
            now = tick
        return track


def drums(rng: np.random.Generator, pan: int = 64) -> Part:
    part = Part(9, None, pan)
    beats = int(SECONDS * BPM / 60) + 1
    for bar_beat in range(0, beats, 4):
        for b in range(4):
            t = bar_beat + b
            if b in (0, 2) or rng.random() < 0.2:
                part.note(t, 0.25, 36, int(rng.integers(100, 124)))  # kick
            if b in (1, 3):
                part.note(t, 0.25, 38, int(rng.integers(96, 120)))  # snare
            for sub in (0.0, 0.5):
                part.note(t + sub, 0.2, 42 if rng.random() > 0.15 else 46, int(rng.integers(60, 95)))
        if (bar_beat // 4) % 2 == 1:  # a tom fill every second bar
            for k, tom in enumerate((50, 47, 45, 43)):
                part.note(bar_beat + 3 + k * 0.25, 0.2, tom, 100)
    part.note(0, 1.0, 49, 110)  # crash on the one
    return part


def bass(rng: np.random.Generator, program: int = 33, pan: int = 64) -> Part:
    part = Part(1, program, pan)
    for bar in range(8):
        root, _ = PROGRESSION[(bar // 2) % 4]
        root -= 12
        pattern = [(0, 1.5, 0), (1.5, 0.5, 7), (2, 1.0, 0), (3, 0.5, 12), (3.5, 0.5, 10 if rng.random() < 0.5 else 7)]
        for start, length, interval in pattern:
            part.note(bar * 4 + start, length * 0.9, root + interval, int(rng.integers(90, 115)))
    return part


def piano(rng: np.random.Generator, program: int = 0, pan: int = 64) -> Part:
    part = Part(2, program, pan)
    for bar in range(8):
        root, minor = PROGRESSION[(bar // 2) % 4]
        notes = _chord(root, minor)
        for beat in (0, 2):
            for n in notes:
                part.note(bar * 4 + beat, 1.8, n, int(rng.integers(60, 80)))
        scale = [0, 2, 3, 5, 7, 8, 10, 12]
        for k in range(4):  # a melody above
            pitch = 69 + scale[int(rng.integers(0, len(scale)))]
            part.note(bar * 4 + k + (0.5 if rng.random() < 0.3 else 0), 0.9, pitch, int(rng.integers(75, 100)))
    return part


def guitar(rng: np.random.Generator, program: int = 25, pan: int = 64) -> Part:
    part = Part(3, program, pan)
    for bar in range(8):
        root, minor = PROGRESSION[(bar // 2) % 4]
        a, b, c = _chord(root, minor)
        arp = [a - 12, c - 12, a, b, c, b, a, c - 12]
        for k, n in enumerate(arp):
            part.note(bar * 4 + k * 0.5, 0.9, n, int(rng.integers(70, 100)))
    return part


def write_midi(parts: list[Part], path: Path) -> None:
    mid = mido.MidiFile(ticks_per_beat=TPB)
    tempo = mido.MidiTrack()
    tempo.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM), time=0))
    mid.tracks.append(tempo)
    for p in parts:
        mid.tracks.append(p.track())
    mid.save(str(path))


def fluidsynth_render(midi: Path, wav: Path) -> None:
    exe = shutil.which("fluidsynth")
    if exe is None or not SOUNDFONT.exists():
        raise SystemExit("needs fluidsynth and the GM soundfont: apt-get install fluidsynth fluid-soundfont-gm")
    subprocess.run([exe, "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.6", "-r", str(SAMPLE_RATE),
                    "-F", str(wav), str(SOUNDFONT), str(midi)], check=True, capture_output=True)


# Demonstration chains: one obvious lesson per clip (see PROVENANCE.md).
PAIRS = {
    "drums": [{"name": "compressor", "arguments": {"threshold_db": -25, "ratio": 6, "attack_ms": 5, "release_ms": 150}},
              {"name": "reverb", "arguments": {"room_size": 0.6, "damping": 0.4, "width": 0.9, "mix_ratio": 0.3}}],
    "bass": [{"name": "distortion", "arguments": {"drive_db": 12}},
             {"name": "equalizer", "arguments": {"low_gain_db": 6, "low_cutoff_freq": 120, "low_q_factor": 0.7,
                                                 "mid_gain_db": -4, "mid_cutoff_freq": 750, "mid_q_factor": 1.0,
                                                 "high_gain_db": -8, "high_cutoff_freq": 5000, "high_q_factor": 0.7}},
             {"name": "gain", "arguments": {"gain_db": -6}}],
    "piano": [{"name": "equalizer", "arguments": {"low_gain_db": -6, "low_cutoff_freq": 200, "low_q_factor": 0.7,
                                                  "mid_gain_db": 0, "mid_cutoff_freq": 1000, "mid_q_factor": 0.7,
                                                  "high_gain_db": 8, "high_cutoff_freq": 6000, "high_q_factor": 0.7}},
              {"name": "delay", "arguments": {"delay_seconds": 0.35, "feedback": 0.4, "mix_ratio": 0.3}},
              {"name": "panner", "arguments": {"pan": -0.5}}],
    "guitar": [{"name": "panner", "arguments": {"pan": 0.6}},
               {"name": "reverb", "arguments": {"room_size": 0.8, "damping": 0.3, "width": 0.9, "mix_ratio": 0.4}},
               {"name": "limiter", "arguments": {"threshold_db": -6, "release_ms": 200}}],
    "mix": [{"name": "equalizer", "arguments": {"low_gain_db": 4, "low_cutoff_freq": 100, "low_q_factor": 0.7,
                                                "mid_gain_db": -3, "mid_cutoff_freq": 500, "mid_q_factor": 1.0,
                                                "high_gain_db": 5, "high_cutoff_freq": 8000, "high_q_factor": 0.7}},
            {"name": "compressor", "arguments": {"threshold_db": -20, "ratio": 4, "attack_ms": 20, "release_ms": 200}},
            {"name": "stereo_widener", "arguments": {"width": 1.3}},
            {"name": "limiter", "arguments": {"threshold_db": -3, "release_ms": 100}}],
}


def make_all(out: Path, overwrite: bool) -> list[Path]:
    rng = np.random.default_rng(SEED)
    specs = {
        "drums": [drums(rng)],
        "bass": [bass(rng)],
        "piano": [piano(rng)],
        "guitar": [guitar(rng)],
        "mix": [drums(rng, pan=64), bass(rng, pan=64), piano(rng, pan=44), guitar(rng, program=27, pan=88)],
    }
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, parts in specs.items():
            midi, wav = Path(tmp) / f"{name}.mid", Path(tmp) / f"{name}.wav"
            write_midi(parts, midi)
            fluidsynth_render(midi, wav)
            audio, sr = load_audio(wav)
            audio = normalize_loudness(crop_or_pad(audio, sr, SECONDS), sr, peak_db=REFERENCE_PEAK_DB)
            written.append(save_audio(out / f"{name}.flac", audio, sr, overwrite=overwrite, subtype="PCM_16"))
    pairs = out / "pairs.json"
    if pairs.exists() and not overwrite:
        raise SystemExit(f"{pairs} exists; pass --overwrite")
    pairs.write_text(json.dumps(PAIRS, indent=2) + "\n")
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "llm2fx_lab" / "examples")
    ap.add_argument("--overwrite", action="store_true", help="replace existing clips")
    args = ap.parse_args()
    for path in make_all(args.out, args.overwrite):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
