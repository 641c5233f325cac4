"""Random General MIDI parts rendered with FluidSynth: an offline source of dry instrument audio.

A *piece* is one or a few parts (melody, bass, chords, drums) in a random key, tempo and
density, each on a random General MIDI program from its family (all 128 programs occur).
FluidSynth renders it with the FluidR3 GM soundfont, reverb and chorus off, so the audio
is dry. Needs Debian's ``fluidsynth`` and ``fluid-soundfont-gm``
(:func:`check_fluidsynth` says how to install them).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from llm2fx_lab.data.fluidlib import library_synth
from llm2fx_lab.errors import Llm2FxError

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
INSTALL_HINT = "sudo apt-get install fluidsynth fluid-soundfont-gm   (or: make system-deps)"
TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9

#: GM program families (program numbers 0..127) by the role they suit.
MELODY_PROGRAMS = tuple(range(0, 32)) + tuple(range(40, 88)) + tuple(range(104, 112))
BASS_PROGRAMS = tuple(range(32, 40)) + (42, 43, 58, 70, 87)
CHORD_PROGRAMS = tuple(range(0, 32)) + tuple(range(48, 56)) + tuple(range(88, 104))
OTHER_PROGRAMS = tuple(range(112, 128))  # percussive and sound effects, used rarely
MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)


class MissingDependencyError(Llm2FxError, RuntimeError):
    """A system program or file the procedural source needs is missing."""


def check_fluidsynth(soundfont: Path = SOUNDFONT) -> str:
    """Path of the ``fluidsynth`` executable; :class:`MissingDependencyError` with the install command if absent."""
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise MissingDependencyError(f"the procedural MIDI source needs the fluidsynth program; install it: {INSTALL_HINT}")
    if not Path(soundfont).exists():
        raise MissingDependencyError(f"the procedural MIDI source needs the GM soundfont {soundfont}; install it: {INSTALL_HINT}")
    return exe


@dataclass
class Part:
    """Absolute-time note events for one MIDI channel (ticks)."""

    role: str
    channel: int
    program: int | None
    pan: int = 64
    volume: int = 100
    events: list[tuple[int, int, int, int]] = field(default_factory=list)

    def note(self, start_beats: float, length_beats: float, pitch: int, velocity: int) -> None:
        pitch = int(np.clip(pitch, 0, 127))
        on = int(round(start_beats * TICKS_PER_BEAT))
        off = max(int(round((start_beats + length_beats) * TICKS_PER_BEAT)), on + 1)
        self.events.append((on, 1, pitch, int(np.clip(velocity, 1, 127))))
        self.events.append((off, 0, pitch, 0))

    def track(self) -> mido.MidiTrack:
        t = mido.MidiTrack()
        if self.program is not None:
            t.append(mido.Message("program_change", channel=self.channel, program=self.program, time=0))
        for cc, value in ((10, self.pan), (7, self.volume), (91, 0), (93, 0)):  # no reverb/chorus send
            t.append(mido.Message("control_change", channel=self.channel, control=cc, value=value, time=0))
        now = 0
        for tick, on, pitch, vel in sorted(self.events, key=lambda e: (e[0], e[1])):
            t.append(mido.Message("note_on" if on else "note_off", channel=self.channel,
                                  note=pitch, velocity=vel, time=tick - now))
            now = tick
        return t

    @property
    def instrument(self) -> str:
        return "drums" if self.program is None else GM_NAMES[self.program]


@dataclass
class Piece:
    """A random piece: its parts, tempo (BPM), key and length (beats)."""

    parts: list[Part]
    bpm: float
    key: str
    beats: int

    @property
    def instruments(self) -> list[str]:
        return [p.instrument for p in self.parts]

    def midi(self) -> mido.MidiFile:
        mid = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
        tempo = mido.MidiTrack()
        tempo.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(self.bpm), time=0))
        mid.tracks.append(tempo)
        mid.tracks.extend(p.track() for p in self.parts)
        return mid


def _scale(rng: np.random.Generator) -> tuple[int, tuple[int, ...], str]:
    tonic = int(rng.integers(0, 12))
    minor = bool(rng.random() < 0.5)
    names = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
    return tonic, MINOR if minor else MAJOR, f"{names[tonic]} {'minor' if minor else 'major'}"


def _progression(rng: np.random.Generator, bars: int) -> list[int]:
    """Scale degrees (0-based) of one chord per bar."""
    pool = ((0, 5, 3, 4), (0, 3, 4, 0), (0, 4, 5, 3), (5, 3, 0, 4), (1, 4, 0, 0), (0, 0, 3, 4))
    prog = pool[int(rng.integers(len(pool)))]
    return [prog[b % len(prog)] for b in range(bars)]


def _pitch(tonic: int, scale: tuple[int, ...], degree: int, octave: int) -> int:
    return 12 * (octave + 1) + tonic + scale[degree % 7] + 12 * (degree // 7)


def _melody(part: Part, rng, tonic, scale, prog, density, register):
    degree = int(rng.integers(0, 7))
    for bar, chord in enumerate(prog):
        t = 0.0
        while t < 4.0:
            length = float(rng.choice([0.25, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
            if rng.random() < density:
                degree = int(np.clip(degree + rng.integers(-2, 3), -3, 10))
                if rng.random() < 0.3:
                    degree = chord + int(rng.choice([0, 2, 4]))
                part.note(bar * 4 + t, length * 0.95, _pitch(tonic, scale, degree, register),
                          int(rng.integers(64, 118)))
            t += length


def _bass(part: Part, rng, tonic, scale, prog, density, register):
    patterns = ([(0, 2), (2, 2)], [(0, 1), (1, 1), (2, 1), (3, 1)], [(0, 1.5), (1.5, 0.5), (2, 1), (3, 1)],
                [(0, 0.5), (0.5, 0.5), (1, 0.5), (1.5, 0.5), (2, 0.5), (2.5, 0.5), (3, 0.5), (3.5, 0.5)])
    pattern = patterns[min(int(density * len(patterns)), len(patterns) - 1)]
    for bar, chord in enumerate(prog):
        for start, length in pattern:
            step = int(rng.choice([0, 0, 0, 4, 7]))
            part.note(bar * 4 + start, length * 0.9, _pitch(tonic, scale, chord + step, register),
                      int(rng.integers(80, 120)))


def _chords(part: Part, rng, tonic, scale, prog, density, register):
    hits = [0.0, 2.0] if density < 0.5 else [0.0, 1.0, 2.0, 3.0] if density < 0.8 else [i * 0.5 for i in range(8)]
    arpeggio = rng.random() < 0.3
    for bar, chord in enumerate(prog):
        notes = [_pitch(tonic, scale, chord + k, register) for k in (0, 2, 4)]
        if arpeggio:
            for k in range(8):
                part.note(bar * 4 + k * 0.5, 0.9, notes[k % 3] + 12 * (k // 3 % 2), int(rng.integers(55, 100)))
        else:
            for h in hits:
                for n in notes:
                    part.note(bar * 4 + h, (4.0 / len(hits)) * 0.9, n, int(rng.integers(50, 95)))


def _drums(part: Part, rng, density, bars):
    hat = 42 if rng.random() < 0.8 else 51  # closed hi-hat or ride
    sub = 0.5 if density < 0.6 else 0.25
    for bar in range(bars):
        for b in range(4):
            t = bar * 4 + b
            if b in (0, 2) or rng.random() < 0.25 * density:
                part.note(t, 0.25, 36, int(rng.integers(95, 125)))
            if b in (1, 3):
                part.note(t, 0.25, 38 if rng.random() < 0.85 else 39, int(rng.integers(90, 122)))
            for k in range(int(1 / sub)):
                if rng.random() < 0.3 + 0.7 * density:
                    part.note(t + k * sub, sub * 0.8, hat if rng.random() > 0.1 else 46, int(rng.integers(55, 100)))
        if bar % 4 == 3 and rng.random() < 0.6:
            for k, tom in enumerate((50, 48, 45, 43)):
                part.note(bar * 4 + 3 + k * 0.25, 0.2, tom, 105)
    part.note(0, 1.0, 49, 110)


def random_piece(rng: np.random.Generator, seconds: float = 60.0, roles: tuple[str, ...] | None = None) -> Piece:
    """A random piece about ``seconds`` long.

    ``roles`` picks the parts (``"melody"``, ``"bass"``, ``"chords"``, ``"drums"``); by
    default one part (a stem, 80 %) or a small band of two to four (20 %).
    """
    if roles is None:
        all_roles = ("melody", "bass", "chords", "drums")
        if rng.random() < 0.8:
            roles = (all_roles[int(rng.choice(4, p=[0.35, 0.2, 0.3, 0.15]))],)
        else:
            k = int(rng.integers(2, 5))
            roles = tuple(sorted(rng.choice(all_roles, size=k, replace=False)))
    bpm = float(rng.integers(60, 181))
    bars = int(np.ceil(seconds * bpm / 60.0 / 4.0)) + 1
    tonic, scale, key = _scale(rng)
    prog = _progression(rng, bars)
    parts = []
    for i, role in enumerate(roles):
        density = float(rng.uniform(0.2, 1.0))
        pan = 64 if len(roles) == 1 else int(rng.integers(34, 95))
        if role == "drums":
            part = Part(role, DRUM_CHANNEL, None, pan)
            _drums(part, rng, density, bars)
        else:
            family = {"melody": MELODY_PROGRAMS, "bass": BASS_PROGRAMS, "chords": CHORD_PROGRAMS}[role]
            if rng.random() < 0.1:  # reach every GM program now and then
                family = tuple(range(128)) if role != "bass" else BASS_PROGRAMS + OTHER_PROGRAMS
            program = int(rng.choice(family))
            part = Part(role, i if i < DRUM_CHANNEL else i + 1, program, pan)
            register = {"melody": int(rng.integers(4, 6)), "bass": int(rng.integers(1, 3)),
                        "chords": int(rng.integers(3, 5))}[role]
            {"melody": _melody, "bass": _bass, "chords": _chords}[role](part, rng, tonic, scale, prog, density, register)
        parts.append(part)
    return Piece(parts, bpm, key, bars * 4)


def render_piece(piece: Piece, sample_rate: int = 44100, soundfont: Path = SOUNDFONT,
                 gain: float = 0.5, engine: str = "auto", max_samples: int | None = None) -> np.ndarray:
    """Render a piece with FluidSynth (reverb and chorus off). Returns ``(2, samples)`` float32.

    ``engine``: ``"program"`` runs ``fluidsynth -F`` and reads its WAV back; ``"library"``
    uses libfluidsynth in this process with the soundfont loaded once
    (:mod:`llm2fx_lab.data.fluidlib`, sample-identical to the program); ``"auto"`` takes the
    library when it loads and the program otherwise. ``max_samples`` may stop the render
    early (the library stops at the next 64-frame period; the result is at least that long
    unless the piece is shorter, and its start is the full render's).
    """
    if engine not in ("auto", "library", "program"):
        raise Llm2FxError(f"engine must be 'auto', 'library' or 'program', got {engine!r}")
    exe = check_fluidsynth(soundfont) if engine != "library" else None
    if engine != "program":
        synth = library_synth(soundfont, sample_rate, gain)
        if synth is not None:
            mid = piece.midi()
            buf = io.BytesIO()
            mid.save(file=buf)
            return synth.render(buf.getvalue(), mid.length, max_samples)
        if engine == "library":
            raise MissingDependencyError(f"libfluidsynth cannot be loaded; install it: {INSTALL_HINT}")
    return _render_with_program(piece, exe, sample_rate, soundfont, gain)


def _render_with_program(piece: Piece, exe: str, sample_rate: int, soundfont: Path, gain: float) -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="llm2fx-midi-") as tmp:
        mid, wav = Path(tmp) / "piece.mid", Path(tmp) / "piece.wav"
        piece.midi().save(str(mid))
        proc = subprocess.run([exe, "-ni", "-q", "-R", "0", "-C", "0", "-g", str(gain), "-r", str(sample_rate),
                               "-F", str(wav), str(soundfont), str(mid)], capture_output=True, text=True)
        if proc.returncode != 0 or not wav.exists():
            raise MissingDependencyError(f"fluidsynth failed (exit {proc.returncode}): {proc.stderr.strip()[:300]}")
        data, _ = sf.read(str(wav), dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.T)


#: General MIDI program names (0-based), for metadata.
GM_NAMES = (
    "acoustic grand piano", "bright acoustic piano", "electric grand piano", "honky-tonk piano",
    "electric piano 1", "electric piano 2", "harpsichord", "clavinet", "celesta", "glockenspiel",
    "music box", "vibraphone", "marimba", "xylophone", "tubular bells", "dulcimer", "drawbar organ",
    "percussive organ", "rock organ", "church organ", "reed organ", "accordion", "harmonica",
    "tango accordion", "nylon guitar", "steel guitar", "jazz guitar", "clean electric guitar",
    "muted guitar", "overdriven guitar", "distortion guitar", "guitar harmonics", "acoustic bass",
    "finger bass", "pick bass", "fretless bass", "slap bass 1", "slap bass 2", "synth bass 1",
    "synth bass 2", "violin", "viola", "cello", "contrabass", "tremolo strings", "pizzicato strings",
    "orchestral harp", "timpani", "string ensemble 1", "string ensemble 2", "synth strings 1",
    "synth strings 2", "choir aahs", "voice oohs", "synth voice", "orchestra hit", "trumpet",
    "trombone", "tuba", "muted trumpet", "french horn", "brass section", "synth brass 1",
    "synth brass 2", "soprano sax", "alto sax", "tenor sax", "baritone sax", "oboe", "english horn",
    "bassoon", "clarinet", "piccolo", "flute", "recorder", "pan flute", "blown bottle", "shakuhachi",
    "whistle", "ocarina", "square lead", "sawtooth lead", "calliope lead", "chiff lead",
    "charang lead", "voice lead", "fifths lead", "bass and lead", "new age pad", "warm pad",
    "polysynth pad", "choir pad", "bowed pad", "metallic pad", "halo pad", "sweep pad",
    "rain fx", "soundtrack fx", "crystal fx", "atmosphere fx", "brightness fx", "goblins fx",
    "echoes fx", "sci-fi fx", "sitar", "banjo", "shamisen", "koto", "kalimba", "bagpipe", "fiddle",
    "shanai", "tinkle bell", "agogo", "steel drums", "woodblock", "taiko drum", "melodic tom",
    "synth drum", "reverse cymbal", "guitar fret noise", "breath noise", "seashore", "bird tweet",
    "telephone ring", "helicopter", "applause", "gunshot",
)
assert len(GM_NAMES) == 128
