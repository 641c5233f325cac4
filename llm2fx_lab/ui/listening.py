"""The player: dry, reference and render behind one A/B switch that keeps the playback position,
optional loudness matching, a step-through of the signal after each module, and a timeline
(waveform and spectrograms, :mod:`llm2fx_lab.ui.timeline`) with a playhead that follows what
is playing, click or arrow keys to seek, and a loop region kept across the A/B switch.

Audio crosses to the browser as 16-bit WAV bytes, lazily: Python bumps a source's version on
every change, and the front-end asks for the bytes only when that source is (or becomes) the
one being listened to. Edits therefore never resend dry or reference, and a render is sent
once per settled edit, not per slider step. The timeline's pictures are small (a 10 s clip's
spectrogram is 51 KB) and go out with each new audio; an edit's preview sends only the
columns under its window (:meth:`Player.show_preview`).

The keyboard shortcuts (:data:`SHORTCUTS`) work anywhere in the studio (or the player alone)
except while typing in a text field; the studio's help lists them from the same table.
"""

from __future__ import annotations

from typing import Any, Sequence

import anywidget
import numpy as np
import traitlets

from llm2fx_lab.audio.loudness import integrated_loudness_lufs
from llm2fx_lab.errors import Llm2FxError, ParameterError
from llm2fx_lab.ui._assets import asset, common_css, esm
from llm2fx_lab.ui.state import loudness_match_gains_db, wav_bytes
from llm2fx_lab.ui.timeline import TimelineConfig, timeline, timeline_patch

SOURCES = ("dry", "reference", "render")
LABELS = {"dry": "Dry", "reference": "Reference", "render": "Render"}
VIEWS = ("stack", "difference")
#: Keyboard shortcuts: (key as ``KeyboardEvent.key``, with ``Shift+`` where held; action; what it does).
SHORTCUTS = (
    (" ", "play", "play or pause"),
    ("1", "dry", "hear the dry clip"),
    ("2", "reference", "hear the reference"),
    ("3", "render", "hear the render"),
    ("ArrowLeft", "back", "seek 1 s back"),
    ("ArrowRight", "forward", "seek 1 s forward"),
    ("Shift+ArrowLeft", "back_far", "seek 5 s back"),
    ("Shift+ArrowRight", "forward_far", "seek 5 s forward"),
    ("Home", "start", "go to the start (of the loop, if one is set)"),
    ("Escape", "clear_loop", "clear the loop region"),
    ("v", "view", "spectrograms side by side / render minus reference"),
)
#: Shortest loop region (s): a drag shorter than this is a click (a seek).
MIN_LOOP_SECONDS = 0.05


def loop_problem(loop: Any) -> str | None:
    """Why ``loop`` is not a loop region (``[start, end]`` seconds, or ``[]`` for none), or None."""
    if isinstance(loop, (list, tuple)) and len(loop) == 0:
        return None
    ok = (isinstance(loop, (list, tuple)) and len(loop) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in loop)
          and 0 <= loop[0] and loop[1] - loop[0] >= MIN_LOOP_SECONDS)
    return None if ok else (f"a loop region is [start, end] seconds with 0 <= start and end >= start + "
                            f"{MIN_LOOP_SECONDS} s, or [] for none; got {list(loop) if isinstance(loop, tuple) else loop!r}")


class Player(anywidget.AnyWidget):
    """A/B/C player for ``dry``, ``reference`` and ``render`` audio.

    Examples
    --------
    >>> import numpy as np
    >>> p = Player()
    >>> p.set_source("dry", np.zeros((2, 44100), np.float32), 44100)
    >>> p.versions["dry"]
    1
    """

    _esm = esm("player.js", "timeline.js")
    _css = common_css() + asset("player.css")

    versions = traitlets.Dict().tag(sync=True)        # key -> version of the audio held in Python
    sent = traitlets.Dict().tag(sync=True)            # key -> version of the bytes in the *_wav trait
    labels = traitlets.Dict().tag(sync=True)          # key -> button label
    info = traitlets.Dict().tag(sync=True)            # key -> "10.0 s · -14.2 LUFS"
    gains_db = traitlets.Dict().tag(sync=True)        # loudness-matching gains (all <= 0 dB)
    selected = traitlets.Unicode("render").tag(sync=True)
    match_loudness = traitlets.Bool(True).tag(sync=True)
    stages = traitlets.List().tag(sync=True)          # ["input", "equalizer", ...]
    stage = traitlets.Int(-1).tag(sync=True)          # -1: the full render; k: after module k
    error = traitlets.Unicode("").tag(sync=True)
    dry_wav = traitlets.Bytes(b"").tag(sync=True)
    reference_wav = traitlets.Bytes(b"").tag(sync=True)
    render_wav = traitlets.Bytes(b"").tag(sync=True)
    # the timeline: pictures per source, where they sit, how they are shown
    timeline = traitlets.Dict().tag(sync=True)        # key -> Timeline.meta (None: no audio)
    dry_spec = traitlets.Bytes(b"").tag(sync=True)
    reference_spec = traitlets.Bytes(b"").tag(sync=True)
    render_spec = traitlets.Bytes(b"").tag(sync=True)
    dry_wave = traitlets.Bytes(b"").tag(sync=True)
    reference_wave = traitlets.Bytes(b"").tag(sync=True)
    render_wave = traitlets.Bytes(b"").tag(sync=True)
    view = traitlets.Unicode("stack").tag(sync=True)           # see VIEWS
    loop_seconds = traitlets.List([]).tag(sync=True)           # [start, end] or [] (no loop)
    position_seconds = traitlets.Float(None, allow_none=True).tag(sync=True)  # the playhead, once played or sought
    shortcuts = traitlets.List().tag(sync=True)

    def __init__(self, timeline_config: TimelineConfig | None = TimelineConfig(), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeline_config = timeline_config
        self.shortcuts = [list(s) for s in SHORTCUTS]
        self._audio: dict[str, tuple[np.ndarray, float] | None] = {k: None for k in SOURCES}
        self._render: tuple[np.ndarray, float] | None = None
        self._stage_audio: list[np.ndarray] = []
        self._lufs: dict[str, float] = {}
        self.labels = dict(LABELS)
        self.versions = {k: 0 for k in SOURCES}
        self.sent = {k: 0 for k in SOURCES}
        self.on_msg(self._on_front_end_msg)
        self.observe(self._on_stage, "stage")
        self.observe(self._on_selected, "selected")
        self.observe(self._on_loop, "loop_seconds")
        self.observe(self._on_view, "view")

    # --- public API ----------------------------------------------------------------------
    def set_source(self, key: str, audio: np.ndarray | None, sample_rate: float = 44100.0,
                   measure: bool = True) -> None:
        """Replace one source (``None`` removes it). The bytes go out only when needed.

        ``measure=False`` defers the loudness measurement (about 10 ms for 10 s of stereo) until
        the source is loaded to be heard (:meth:`load`) or :meth:`measure` is called: slider
        drags then only pay for what is seen.
        """
        if key not in SOURCES:
            raise Llm2FxError(f"player source must be one of {', '.join(SOURCES)}, got {key!r}")
        if key == "render":
            self._render = None if audio is None else (audio, float(sample_rate))
            if 0 <= self.stage < len(self._stage_audio) and audio is not None:
                audio = self._stage_audio[self.stage]
        self._set(key, audio, sample_rate, measure)

    def measure(self, key: str) -> None:
        """Measure a source's loudness and update its info and the matching gains."""
        held = self._audio.get(key)
        if held is None:
            return
        audio, sample_rate = held
        self._lufs[key] = lufs = integrated_loudness_lufs(audio, sample_rate)
        info = dict(self.info)
        info[key] = f"{audio.shape[-1] / sample_rate:.1f} s · " + (
            f"{lufs:.1f} LUFS" if np.isfinite(lufs) else "silent")
        with self.hold_sync():
            self.info = info
            self.gains_db = loudness_match_gains_db(self._lufs)

    def set_stages(self, stages: Sequence[tuple[str, np.ndarray]], sample_rate: float) -> None:
        """The signal after each module, for step-through; keeps the chosen stage if it still exists."""
        self._stage_audio = [x for _, x in stages]
        labels = [name for name, _ in stages]
        if self.stage >= len(labels):
            self.stage = -1
        self.stages = labels
        if 0 <= self.stage < len(self._stage_audio):
            self._set("render", self._stage_audio[self.stage], sample_rate)

    def audio(self, key: str) -> np.ndarray | None:
        """The audio of a source as the player would play it (before loudness matching)."""
        held = self._audio.get(key)
        return None if held is None else held[0]

    def seek(self, seconds: float) -> None:
        """Move the playhead (and the player, if it holds audio) to ``seconds``."""
        t = float(seconds)
        if not np.isfinite(t) or t < 0:
            raise ParameterError(f"seek position must be a time >= 0 s, got {seconds!r}")
        self.position_seconds = t
        self.send({"op": "seek", "seconds": t})

    def set_loop(self, start_seconds: float | None, end_seconds: float | None = None) -> None:
        """Loop ``start .. end`` seconds (kept across the A/B switch); ``set_loop(None)`` clears it."""
        loop = [] if start_seconds is None else [start_seconds, end_seconds]
        problem = loop_problem(loop)
        if problem:
            raise ParameterError(problem)
        self.loop_seconds = [float(v) for v in loop]

    def show_preview(self, window_audio: np.ndarray, start_sample: int, sample_rate: float) -> int:
        """Redraw the render's timeline under an edit's preview window (``window_audio``: the new
        render's samples from ``start_sample``) until the full render arrives; returns the
        bytes sent (0 when there is nothing to update: no timeline, or a stage is being heard)."""
        held = self._audio.get("render")
        if self.timeline_config is None or held is None or self.stage >= 0:
            return 0
        patch = timeline_patch(window_audio, start_sample, held[0].shape[-1], sample_rate, self.timeline_config)
        if patch is None:
            return 0
        self.send({"op": "patch", "key": "render", "version": self.versions.get("render", 0), **patch.meta},
                  [patch.spectrogram, patch.wave])
        return len(patch.spectrogram) + len(patch.wave)

    def load(self, key: str) -> int:
        """Put a source's WAV bytes into its trait if they are stale; return the bytes sent."""
        held = self._audio.get(key)
        if held is None or self.sent.get(key) == self.versions.get(key):
            return 0
        if key not in self._lufs:
            self.measure(key)  # deferred by set_source(measure=False): needed now it is heard
        data = wav_bytes(*held)
        with self.hold_sync():
            setattr(self, f"{key}_wav", data)
            self.sent = {**self.sent, key: self.versions[key]}
        return len(data)

    # --- internals -----------------------------------------------------------------------
    def _set(self, key: str, audio: np.ndarray | None, sample_rate: float, measure: bool = True) -> None:
        self._audio[key] = None if audio is None else (audio, float(sample_rate))
        info = dict(self.info)
        if audio is None:
            self._lufs.pop(key, None)
            info.pop(key, None)
        elif not measure:
            self._lufs.pop(key, None)
            info[key] = f"{audio.shape[-1] / sample_rate:.1f} s"
        else:
            self._lufs[key] = lufs = integrated_loudness_lufs(audio, sample_rate)
            info[key] = f"{audio.shape[-1] / sample_rate:.1f} s · " + (
                f"{lufs:.1f} LUFS" if np.isfinite(lufs) else "silent")
        pictures = None if audio is None or self.timeline_config is None else timeline(
            audio, sample_rate, self.timeline_config)
        labels = dict(self.labels)
        if key == "render":
            labels["render"] = (f"After {self.stages[self.stage]}" if 0 <= self.stage < len(self.stages)
                                else LABELS["render"])
        with self.hold_sync():
            self.info = info
            self.labels = labels
            self.gains_db = loudness_match_gains_db(self._lufs)
            setattr(self, f"{key}_spec", b"" if pictures is None else pictures.spectrogram)
            setattr(self, f"{key}_wave", b"" if pictures is None else pictures.wave)
            self.timeline = {**self.timeline, key: None if pictures is None else pictures.meta}
            self.versions = {**self.versions, key: self.versions.get(key, 0) + 1}

    def _on_stage(self, change: dict[str, Any]) -> None:
        k = change["new"]
        if 0 <= k < len(self._stage_audio):
            sr = self._render[1] if self._render else 44100.0
            self._set("render", self._stage_audio[k], sr)
        elif self._render is not None:
            self._set("render", *self._render)
        self.selected = "render"

    def _on_selected(self, change: dict[str, Any]) -> None:
        if change["new"] not in SOURCES:
            self.error = f"unknown source {change['new']!r}"

    def _on_loop(self, change: dict[str, Any]) -> None:
        # The front-end sets the region by dragging; anything else (from code) is checked here.
        problem = loop_problem(change["new"])
        if problem:
            self.error = problem
            self.loop_seconds = change["old"]

    def _on_view(self, change: dict[str, Any]) -> None:
        if change["new"] not in VIEWS:
            self.error = f"timeline view must be one of {', '.join(VIEWS)}, got {change['new']!r}"
            self.view = change["old"]

    def _on_front_end_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("op") == "load" and content.get("key") in SOURCES:
            self.load(content["key"])
