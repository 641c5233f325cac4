"""Audio input: a dry and a reference slot, each filled by an upload or a bundled example, and
the dry slot also from the microphone (:class:`~llm2fx_lab.ui.recorder.Recorder`).

A bad file shows its error inline and leaves the previous audio in place. Uploads above
:data:`MAX_UPLOAD_BYTES` are refused with a message saying the size and the limit.
"""

from __future__ import annotations

import html
from typing import Any, Callable

import ipywidgets as widgets
import numpy as np

from llm2fx_lab.audio import integrated_loudness_lufs, load_audio_bytes, resample
from llm2fx_lab.errors import AudioError, Llm2FxError
from llm2fx_lab.examples import example_pair, list_examples, load_example
from llm2fx_lab.ui._html import alert_html
from llm2fx_lab.ui.recorder import Recorder

#: Largest accepted upload (bytes): 10 minutes of 16-bit stereo WAV at 48 kHz is about 110 MB.
MAX_UPLOAD_BYTES = 50 * 2**20
ACCEPT = ".wav,.flac,.ogg,.mp3"

SlotCallback = Callable[["AudioSlot"], None]


def describe(name: str, audio: np.ndarray, sample_rate: float) -> str:
    """``drums.flac · 10.0 s · 44100 Hz · -14.2 LUFS``."""
    lufs = integrated_loudness_lufs(audio, sample_rate)
    loud = f"{lufs:.1f} LUFS" if np.isfinite(lufs) else "silent"
    return f"{name} · {audio.shape[-1] / sample_rate:.1f} s · {sample_rate:.0f} Hz · {loud}"


class AudioSlot(widgets.VBox):
    """One audio slot ("dry" or "reference"): an upload button, an example picker, info and errors.

    Attributes
    ----------
    audio : ndarray (2, samples) float32 or None
    sample_rate : float or None
    source : str
        File or example name of the loaded audio.
    recorder : Recorder or None
        The microphone recorder (the dry slot's, by default; ``record=True`` gives any slot one).
    """

    def __init__(self, role: str, max_upload_bytes: int = MAX_UPLOAD_BYTES, record: bool | None = None) -> None:
        self.role = role
        self.max_upload_bytes = max_upload_bytes
        self.audio: np.ndarray | None = None
        self.sample_rate: float | None = None
        self.source = ""
        self._callbacks: list[SlotCallback] = []
        example_label = ("or a bundled example (rendered through its demo chain):" if role == "reference"
                         else "or a bundled example:")
        self.upload = widgets.FileUpload(accept=ACCEPT, multiple=False, description=f"Upload {role}",
                                         tooltip=f"Upload the {role} clip (wav, flac, ogg, mp3; at most "
                                                 f"{max_upload_bytes / 2**20:.0f} MB)")
        self.upload.add_class(f"l2f-upload-{role}")
        self.example = widgets.Dropdown(options=[("—", "")] + [(n, n) for n in list_examples()], value="",
                                        description="", layout=widgets.Layout(width="9em"))
        self.example.add_class(f"l2f-example-{role}")
        self.info = widgets.HTML(f"<i>no {role} audio yet</i>")
        self.info.add_class(f"l2f-info-{role}")
        self.error = widgets.HTML("")
        self.error.add_class(f"l2f-error-{role}")
        self.upload.observe(self._on_upload, "value")
        self.example.observe(self._on_example, "value")
        self.recorder = Recorder() if (role == "dry" if record is None else record) else None
        if self.recorder is not None:
            self.recorder.on_recorded(lambda audio, sr, name: self.set_audio(audio, sr, name))
        title = widgets.HTML(f"<b>{role.capitalize()}</b>")
        super().__init__([title, widgets.HBox([self.upload, widgets.Label(example_label), self.example]),
                          *([self.recorder] if self.recorder is not None else []), self.info, self.error])
        self.add_class(f"l2f-slot-{role}")

    def on_change(self, callback: SlotCallback) -> None:
        """Call ``callback(slot)`` after new audio is loaded."""
        self._callbacks.append(callback)

    def set_audio(self, audio: np.ndarray, sample_rate: float, source: str) -> None:
        """Put audio in the slot (what an upload or an example pick does)."""
        self.audio, self.sample_rate, self.source = audio, float(sample_rate), source
        self.info.value = html.escape(describe(source, audio, sample_rate))
        self.error.value = ""
        for callback in list(self._callbacks):
            callback(self)

    def show_error(self, message: str) -> None:
        kept = f" The previous audio ({self.source}) is kept." if self.audio is not None else ""
        self.error.value = alert_html(message + kept, css_class="l2f-error")

    def load_bytes(self, data: bytes, name: str) -> bool:
        """Decode an uploaded file; on failure show the error inline and keep the old audio."""
        if len(data) > self.max_upload_bytes:
            self.show_error(f"{name} is {len(data) / 2**20:.1f} MB; the upload limit is "
                            f"{self.max_upload_bytes / 2**20:.0f} MB. Trim or compress it (e.g. to FLAC) first.")
            return False
        try:
            audio, sr = load_audio_bytes(data, name)
        except Llm2FxError as exc:
            self.show_error(str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - a decoder crash must not kill the widget
            self.show_error(f"{name} could not be read: {exc}")
            return False
        self.set_audio(audio, sr, name)
        return True

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0] if isinstance(files, (tuple, list)) else next(iter(files.values()))
        size = int(item.get("size") or len(item["content"]))
        if size > self.max_upload_bytes:
            self.show_error(f"{item['name']} is {size / 2**20:.1f} MB; the upload limit is "
                            f"{self.max_upload_bytes / 2**20:.0f} MB. Trim or compress it (e.g. to FLAC) first.")
        else:
            self.load_bytes(bytes(item["content"]), item["name"])
        # Clear the upload so the same file can be chosen again and the notebook does not keep it.
        self.upload.unobserve(self._on_upload, "value")
        self.upload.value = ()
        self.upload.observe(self._on_upload, "value")

    def _on_example(self, change: dict[str, Any]) -> None:
        name = change["new"]
        if not name:
            return
        try:
            if self.role == "reference":
                _, audio, sr, _chain = example_pair(name)
                label = f"{name} (demo chain)"
            else:
                audio, sr = load_example(name)
                label = name
        except Llm2FxError as exc:
            self.show_error(str(exc))
            return
        self.set_audio(audio, sr, label)


class AudioInput(widgets.VBox):
    """The dry and reference slots plus a "no dry" toggle for blind estimation.

    The reference is resampled to the dry clip's rate when they differ (:meth:`pair`).
    """

    def __init__(self, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.dry = AudioSlot("dry", max_upload_bytes)
        self.reference = AudioSlot("reference", max_upload_bytes)
        self.no_dry = widgets.Checkbox(value=False, description="No dry clip (blind estimation from the reference alone)",
                                       indent=False)
        self.no_dry.add_class("l2f-no-dry")
        self._callbacks: list[Callable[[], None]] = []
        self.dry.on_change(lambda _s: self._changed())
        self.reference.on_change(lambda _s: self._changed())
        self.no_dry.observe(lambda _c: self._on_no_dry(), "value")
        super().__init__([widgets.HTML("<h4 style='margin:4px 0'>Audio</h4>"),
                          widgets.HBox([self.dry, self.reference], layout=widgets.Layout(justify_content="space-between", flex_flow="row wrap")),
                          self.no_dry])

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever either slot or the "no dry" toggle changes."""
        self._callbacks.append(callback)

    def _on_no_dry(self) -> None:
        self.dry.layout.display = "none" if self.no_dry.value else None
        self._changed()

    def _changed(self) -> None:
        for callback in list(self._callbacks):
            callback()

    def load_example(self, name: str) -> None:
        """Fill both slots from a bundled example pair (dry clip, and it through its demo chain)."""
        dry, reference, sr, _chain = example_pair(name)
        self.dry.example.unobserve(self.dry._on_example, "value")
        self.reference.example.unobserve(self.reference._on_example, "value")
        try:
            self.dry.example.value, self.reference.example.value = name, name
        finally:
            self.dry.example.observe(self.dry._on_example, "value")
            self.reference.example.observe(self.reference._on_example, "value")
        self.dry.audio, self.dry.sample_rate, self.dry.source = dry, sr, name
        self.dry.info.value = html.escape(describe(name, dry, sr))
        self.reference.set_audio(reference, sr, f"{name} (demo chain)")

    def pair(self) -> tuple[np.ndarray | None, np.ndarray | None, float | None]:
        """``(dry or None, reference or None, sample_rate)``; dry is None when "no dry" is on."""
        dry = None if self.no_dry.value else self.dry.audio
        ref, sr = self.reference.audio, self.reference.sample_rate
        if dry is not None:
            sr_dry = self.dry.sample_rate
            if ref is not None and sr != sr_dry:
                try:
                    ref = resample(ref, sr, sr_dry)
                except AudioError as exc:
                    self.reference.show_error(str(exc))
                    ref = None
            sr = sr_dry
        return dry, ref, sr
