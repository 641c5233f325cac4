"""FluidSynth through its C library (ctypes): the soundfont is loaded once per process.

The ``fluidsynth`` program reloads the 148 MB GM soundfont for every piece it renders and
writes a WAV file that we read back. :class:`LibrarySynth` loads the soundfont once and
renders each piece the way ``fluidsynth -ni -F out.wav`` does, sample for sample:

- the program's settings (sample rate, gain, reverb and chorus off, sample-timed player);
- a new synthesizer per piece that shares the loaded soundfont (a synthesizer that has
  played a piece, even after a system reset, differs in the last bits);
- the player drives it one 64-frame period per call until it reports the end, as the
  program's render loop does (several periods per call give other samples);
- the program's float-to-16-bit conversion (libsndfile: ``rint(x * 2**31)`` clipped to
  int32, upper 16 bits), read back as ``int16 / 32768``.

Tested against the program in ``tests/data/test_fluidlib.py``. :func:`library_synth`
returns ``None`` where the library cannot be loaded; callers then use the program.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: FluidSynth renders in periods of this many frames (``audio.period-size``, FLUID_BUFSIZE).
PERIOD = 64
#: ``fluid_player_get_status`` value while the player is playing.
_PLAYING = 1
_LIBRARY_NAMES = ("libfluidsynth.so.3", "libfluidsynth.so.2", "fluidsynth")


class LibraryError(RuntimeError):
    """The FluidSynth library is missing or refused a call."""


def _load_library() -> ctypes.CDLL:
    errors = []
    for name in _LIBRARY_NAMES:
        path = ctypes.util.find_library(name) if "." not in name else name
        if not path:
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            errors.append(str(exc))
            continue
        _declare(lib)
        return lib
    raise LibraryError("cannot load libfluidsynth: " + ("; ".join(errors) or "not found"))


def _declare(lib: ctypes.CDLL) -> None:
    p, i, d, c = ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.c_char_p
    for name, res, args in (
        ("new_fluid_settings", p, []), ("delete_fluid_settings", None, [p]),
        ("fluid_settings_setnum", i, [p, c, d]), ("fluid_settings_setint", i, [p, c, i]),
        ("fluid_settings_setstr", i, [p, c, c]),
        ("new_fluid_synth", p, [p]), ("delete_fluid_synth", None, [p]),
        ("fluid_synth_sfload", i, [p, c, i]),
        ("fluid_synth_write_float", i, [p, i, p, i, i, p, i, i]),  # buffers as addresses
        ("new_fluid_player", p, [p]), ("delete_fluid_player", None, [p]),
        ("fluid_player_add_mem", i, [p, p, ctypes.c_size_t]), ("fluid_player_play", i, [p]),
        ("fluid_player_stop", i, [p]), ("fluid_player_join", i, [p]), ("fluid_player_get_status", i, [p]),
        ("fluid_set_log_function", p, [i, p, p]), ("fluid_synth_get_sfont", p, [p, ctypes.c_uint]),
        ("fluid_synth_add_sfont", i, [p, p]), ("fluid_synth_remove_sfont", i, [p, p]),
    ):
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args


def to_pcm16_float(audio: np.ndarray) -> np.ndarray:
    """What a float32 buffer becomes once the ``fluidsynth`` program has written it as a
    16-bit WAV (libsndfile: ``rint(x * 2**31)`` clipped to int32, upper 16 bits) and it is
    read back as float32 (``int16 / 32768``). Every step is exact in float32."""
    q = np.multiply(audio, np.float32(2.0 ** 31), dtype=np.float32)
    np.rint(q, out=q)
    q *= np.float32(2.0 ** -16)
    np.floor(q, out=q)
    np.clip(q, -32768.0, 32767.0, out=q)
    q *= np.float32(2.0 ** -15)
    return q


class LibrarySynth:
    """One synthesizer with one soundfont loaded; :meth:`render` turns MIDI bytes into audio.

    Not thread-safe; meant as one per worker process (:func:`library_synth`).
    """

    def __init__(self, soundfont: str | os.PathLike, sample_rate: int = 44100, gain: float = 0.5):
        self._lib = lib = _load_library()
        for level in range(5):  # FLUID_PANIC..FLUID_DBG: stay quiet, like ``fluidsynth -q``
            lib.fluid_set_log_function(level, None, None)
        self.sample_rate, self.gain, self.soundfont = int(sample_rate), float(gain), str(soundfont)
        self._settings = s = lib.new_fluid_settings()
        if not s:
            raise LibraryError("new_fluid_settings failed")
        ok = [lib.fluid_settings_setnum(s, b"synth.sample-rate", float(sample_rate)),
              lib.fluid_settings_setnum(s, b"synth.gain", float(gain)),
              lib.fluid_settings_setint(s, b"synth.reverb.active", 0),
              lib.fluid_settings_setint(s, b"synth.chorus.active", 0),
              lib.fluid_settings_setint(s, b"synth.lock-memory", 0),
              lib.fluid_settings_setstr(s, b"player.timing-source", b"sample")]
        if min(ok) < 0:
            lib.delete_fluid_settings(s)
            raise LibraryError("libfluidsynth refused a setting")
        self._synth = lib.new_fluid_synth(s)
        if not self._synth or lib.fluid_synth_sfload(self._synth, os.fsencode(self.soundfont), 1) < 0:
            self.close()
            raise LibraryError(f"libfluidsynth could not load the soundfont {soundfont}")

    def close(self) -> None:
        lib = self._lib
        if getattr(self, "_synth", None):
            lib.delete_fluid_synth(self._synth)
            self._synth = None
        if getattr(self, "_settings", None):
            lib.delete_fluid_settings(self._settings)
            self._settings = None

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:
            pass

    def render(self, midi: bytes, expected_seconds: float = 0.0, max_samples: int | None = None) -> np.ndarray:
        """Render a Standard MIDI File (bytes) to ``(2, samples)`` float32, as the program would.

        The program checks the player after every 64-frame period, and rendering several
        periods in one call does not give the same samples, so the loop goes period by period.
        ``expected_seconds`` (e.g. ``mido.MidiFile.length``) sizes the output buffer.
        ``max_samples`` stops early (rounded up to whole periods): rendering is causal, so
        the samples before the stop are those of the full render.
        """
        lib = self._lib
        # a new synthesizer per piece (a used one gives other last bits), sharing the
        # soundfont that self._synth loaded
        synth = lib.new_fluid_synth(self._settings)
        sfont = lib.fluid_synth_get_sfont(self._synth, 0)
        if not synth or not sfont or lib.fluid_synth_add_sfont(synth, sfont) < 0:
            if synth:
                lib.delete_fluid_synth(synth)
            raise LibraryError(f"libfluidsynth could not share the soundfont {self.soundfont}")
        player = lib.new_fluid_player(synth)
        if not player:
            lib.delete_fluid_synth(synth)
            raise LibraryError("new_fluid_player failed")
        try:
            buf = ctypes.create_string_buffer(midi, len(midi))
            if lib.fluid_player_add_mem(player, buf, len(midi)) != 0 or lib.fluid_player_play(player) != 0:
                raise LibraryError("libfluidsynth refused the MIDI data")
            status, write = lib.fluid_player_get_status, lib.fluid_synth_write_float
            periods = max(int(expected_seconds * self.sample_rate) // PERIOD, 0) + 1024
            stop = -(-max_samples // PERIOD) if max_samples is not None else -1
            out = np.empty((2, periods * PERIOD), np.float32)
            left, right, k, step = out[0].ctypes.data, out[1].ctypes.data, 0, PERIOD * 4
            while status(player) == _PLAYING and k != stop:
                if k == periods:  # longer than expected: grow
                    out = np.concatenate([out, np.empty_like(out)], axis=1)
                    left, right, periods = out[0].ctypes.data, out[1].ctypes.data, 2 * periods
                if write(synth, PERIOD, left + k * step, 0, 1, right + k * step, 0, 1) != 0:
                    raise LibraryError("fluid_synth_write_float failed")
                k += 1
        finally:
            lib.fluid_player_stop(player)
            lib.fluid_player_join(player)
            lib.delete_fluid_player(player)
            lib.fluid_synth_remove_sfont(synth, sfont)  # it belongs to self._synth
            lib.delete_fluid_synth(synth)
        return to_pcm16_float(out[:, : k * PERIOD])


_SYNTHS: dict[tuple, LibrarySynth | None] = {}


def library_synth(soundfont: str | os.PathLike, sample_rate: int = 44100, gain: float = 0.5) -> LibrarySynth | None:
    """This process's :class:`LibrarySynth` for these settings, or ``None`` when the library
    cannot be used (then render with the program). Set ``LLM2FX_FLUIDSYNTH_LIBRARY=0`` to
    force the program."""
    if os.environ.get("LLM2FX_FLUIDSYNTH_LIBRARY", "1") == "0":
        return None
    key = (os.getpid(), str(Path(soundfont)), int(sample_rate), float(gain))
    if key not in _SYNTHS:
        try:
            _SYNTHS[key] = LibrarySynth(soundfont, sample_rate, gain)
        except (LibraryError, OSError, AttributeError) as exc:
            log.info("libfluidsynth unavailable, using the fluidsynth program: %s", exc)
            _SYNTHS[key] = None
    return _SYNTHS[key]
