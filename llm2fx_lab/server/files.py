"""Uploaded clips of ``llm2fx serve``: the OpenAI Files API's shape, audio only, in memory.

A client sends each clip once (``POST /v1/files``, multipart, as ``client.files.create``
does) and refers to it by id in its chat messages (a ``{"type": "file", "file": {"file_id":
...}}`` content part), so neither an estimate's first request nor its closing one carries
megabytes of base64 audio. A clip is decoded and checked when it arrives (a bad one is refused
then, with the reason) and kept decoded, so no request decodes it again.

The store is bounded: at most ``max_files`` clips and ``max_total_seconds`` of audio, each kept
``ttl_seconds`` after its upload; the oldest clips make room for new ones. Clients delete their
clips when they are done (``DELETE /v1/files/{id}``).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

import numpy as np

from llm2fx_lab.errors import quoted
from llm2fx_lab.server.protocol import AUDIO_FORMATS, Limits, RequestError, decode_clip

#: The ``purpose`` values an upload may carry (the OpenAI API's for a user's own data).
PURPOSES = ("user_data", "assistants")


@dataclass(frozen=True)
class StoredClip:
    """One uploaded clip, decoded."""

    id: str
    filename: str
    size_bytes: int
    created_at: int
    purpose: str
    audio: np.ndarray
    sample_rate: float

    @property
    def seconds(self) -> float:
        return self.audio.shape[1] / self.sample_rate

    def info(self) -> dict:
        """The OpenAI ``file`` object."""
        return {"id": self.id, "object": "file", "bytes": self.size_bytes, "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": "processed"}


@dataclass(frozen=True)
class FileLimits:
    """How many clips the server keeps, and how long."""

    max_files: int = 64
    max_total_seconds: float = 3600.0
    ttl_seconds: float = 3600.0


class ClipStore:
    """Uploaded clips by id (thread-safe); see the module docstring."""

    def __init__(self, limits: FileLimits = FileLimits()) -> None:
        self.limits = limits
        self._clips: dict[str, StoredClip] = {}
        self._lock = threading.Lock()

    def add(self, data: bytes, filename: str, purpose: str, limits: Limits) -> StoredClip:
        """Decode and keep a clip; its :class:`StoredClip`.

        Raises
        ------
        RequestError
            An unknown purpose, a name without an audio extension, audio that does not decode,
            or a clip longer than ``limits.max_audio_seconds``.
        """
        if purpose not in PURPOSES:
            raise RequestError(f"purpose must be one of {', '.join(PURPOSES)}, got {quoted(purpose)}", param="purpose")
        name = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] or "clip"
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if ext not in AUDIO_FORMATS:
            raise RequestError(f"this server keeps audio files only: the file name must end in "
                               f"{', '.join('.' + f for f in AUDIO_FORMATS)}, got {quoted(name)}", param="file")
        audio, sample_rate = decode_clip(data, name, f"the uploaded file {quoted(name)}", limits, "file")
        clip = StoredClip(f"file-{uuid.uuid4().hex[:24]}", name, len(data), int(time.time()), purpose,
                          audio, float(sample_rate))
        with self._lock:
            self._expire()
            while self._clips and (len(self._clips) >= self.limits.max_files or sum(
                    c.seconds for c in self._clips.values()) + clip.seconds > self.limits.max_total_seconds):
                del self._clips[next(iter(self._clips))]  # the oldest first
            self._clips[clip.id] = clip
        return clip

    def get(self, file_id: str) -> StoredClip:
        """The clip ``file_id``.

        Raises
        ------
        RequestError
            404: no such clip (never uploaded, deleted, or expired).
        """
        with self._lock:
            self._expire()
            clip = self._clips.get(file_id) if isinstance(file_id, str) else None
        if clip is None:
            raise RequestError(f"no uploaded file {quoted(file_id)} (it was never uploaded, was deleted, or expired "
                               f"after {self.limits.ttl_seconds:g} s); upload it with POST /v1/files",
                               status=404, param="file_id")
        return clip

    def delete(self, file_id: str) -> None:
        """Forget ``file_id``; a 404 :class:`RequestError` when there is no such clip."""
        self.get(file_id)
        with self._lock:
            self._clips.pop(file_id, None)

    def list(self) -> list[StoredClip]:
        with self._lock:
            self._expire()
            return list(self._clips.values())

    def _expire(self) -> None:
        oldest = time.time() - self.limits.ttl_seconds
        for file_id in [i for i, c in self._clips.items() if c.created_at < oldest]:
            del self._clips[file_id]


__all__ = ["ClipStore", "FileLimits", "PURPOSES", "StoredClip"]
