"""Record from the microphone in the browser: the dry slot's third way in, after a file and an example.

The browser records (``MediaRecorder``), shows a level meter while it does, stops at
``max_seconds``, decodes what it recorded and sends it here as one 16-bit WAV; Python checks
it like any upload (:func:`~llm2fx_lab.audio.load_audio_bytes`: not empty, not silent, long
enough) and hands it on. Nothing is recorded until the user presses Record, the microphone
is released when recording stops, and a denied or missing microphone shows its reason in
the widget. Recording needs a secure page (``https://`` or ``localhost``/``127.0.0.1``), as
every browser requires for microphone access.
"""

from __future__ import annotations

from typing import Any, Callable

import anywidget
import numpy as np
import traitlets

from llm2fx_lab.audio import load_audio_bytes
from llm2fx_lab.errors import Llm2FxError, ParameterError
from llm2fx_lab.ui._assets import asset, common_css, esm

#: Longest recording allowed, seconds (the widget's limit can be set lower or higher, up to this).
MAX_RECORD_SECONDS = 600.0
#: Shortest useful recording, seconds: the analysis and the planners need a few frames.
MIN_RECORD_SECONDS = 0.25

RecordedCallback = Callable[[np.ndarray, float, str], None]


class Recorder(anywidget.AnyWidget):
    """A Record / Stop button with a level meter and a length limit.

    Parameters
    ----------
    max_seconds : float
        Recording stops by itself after this long (1 to 600 s; default 30).

    Attributes
    ----------
    start_ms : float
        Milliseconds from the click on Record to the recorder running (the last recording).
    error : str
        Why the last recording failed (access denied, no microphone, silent...), or "".

    Examples
    --------
    >>> rec = Recorder(max_seconds=10)
    >>> rec.on_recorded(lambda audio, sr, name: print(audio.shape, sr, name))  # doctest: +SKIP
    """

    _esm = esm("recorder.js")
    _css = common_css() + asset("recorder.css")

    max_seconds = traitlets.Float(30.0).tag(sync=True)
    recording = traitlets.Bool(False).tag(sync=True)     # set by the browser while it records
    start_ms = traitlets.Float(None, allow_none=True).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)

    def __init__(self, max_seconds: float = 30.0, **kwargs: Any) -> None:
        _check_max_seconds(max_seconds)
        super().__init__(max_seconds=float(max_seconds), **kwargs)
        self._callbacks: list[RecordedCallback] = []
        self.recordings = 0
        self.observe(self._on_max_seconds, "max_seconds")
        self.on_msg(self._on_front_end_msg)

    def on_recorded(self, callback: RecordedCallback) -> None:
        """Call ``callback(audio, sample_rate, name)`` with each accepted recording
        (``audio``: ``(2, samples)`` float32)."""
        self._callbacks.append(callback)

    def receive(self, wav: bytes) -> bool:
        """Take a recording's WAV bytes (what the browser sends); False, with :attr:`error` set,
        when they are not usable audio."""
        try:
            audio, sr = load_audio_bytes(wav, "the recording", min_seconds=MIN_RECORD_SECONDS)
        except Llm2FxError as exc:
            hint = "; is the microphone muted?" if "silent" in str(exc) else ""
            self.error = f"not used: {exc}{hint}"
            self.status = ""
            return False
        length = audio.shape[-1] / sr
        if length > self.max_seconds + 1.0:
            self.error = f"not used: the recording is {length:.1f} s long, over the {self.max_seconds:g} s limit"
            return False
        self.recordings += 1
        self.error = ""
        self.status = f"recorded {length:.1f} s at {sr:.0f} Hz"
        for callback in list(self._callbacks):
            callback(audio, sr, f"microphone recording {self.recordings} ({length:.1f} s)")
        return True

    def _on_max_seconds(self, change: dict[str, Any]) -> None:
        try:
            _check_max_seconds(change["new"])
        except ParameterError as exc:
            self.error = str(exc)
            self.max_seconds = change["old"]

    def _on_front_end_msg(self, _widget: Any, content: dict[str, Any], buffers: Any) -> None:
        if content.get("op") == "recorded":
            if not buffers:
                self.error = "not used: the browser sent no audio with the recording"
                return
            self.receive(bytes(buffers[0]))


def _check_max_seconds(value: Any) -> None:
    if not isinstance(value, (int, float)) or not np.isfinite(value) or not 1.0 <= value <= MAX_RECORD_SECONDS:
        raise ParameterError(f"recording limit max_seconds must be in [1, {MAX_RECORD_SECONDS:g}] s, got {value!r}")
