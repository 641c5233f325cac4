"""Pure session logic of the studio, free of widget imports (testable without Jupyter).

- :class:`StageCache`: the signal after each module of the last render; a new chain is
  rendered from the first position where it differs from the cached one. Its
  :meth:`~StageCache.preview` renders the same stages on a short window only (phase 1 of a
  slider edit; see :func:`preview_window`), and
  :func:`~llm2fx_lab.analysis.plot_data.preview_levels_db` turns that window into an estimate
  of the full render's spectrum.
- :class:`History`: undo/redo stacks of :class:`~llm2fx_lab.fx.Chain` objects.
- :func:`loudness_match_gains_db`: per-source gains (all <= 0 dB) so that every source
  plays at the loudness of the quietest one ("louder does not win").
- :func:`wav_bytes`: 16-bit PCM WAV bytes for the browser's ``<audio>`` element.
- :class:`LatestWorker`: a background thread that always works on the newest edit.

What the plots show (spectra, EQ curves, gain reduction, envelopes) is computed by
:mod:`llm2fx_lab.analysis.plot_data`, the same functions the notebooks' plots use.

Audio arrays are ``(2, samples)`` float32 throughout.
"""

from __future__ import annotations

import io
import math
import threading
import time
import wave
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from llm2fx_lab.audio.checks import as_stereo_float32
from llm2fx_lab.errors import BackendError
from llm2fx_lab.fx.chain import Chain, ToolCall, as_chain
from llm2fx_lab.fx.render import apply_module
from llm2fx_lab.threads import start_background

#: Seconds of zeros appended before rendering so reverb and delay tails are heard.
DEFAULT_TAIL_SECONDS = 1.0

#: Phase 1 of an edit (the preview) renders this many seconds of the clip, centred on the
#: clip (or on a given position)...
PREVIEW_WINDOW_SECONDS = 2.5
#: ...after rendering this much audio before the window (discarded), so that compressor and
#: limiter envelopes and reverb and delay buffers hold realistic state when the window starts.
PREVIEW_PREROLL_SECONDS = 1.0


# --- rendering with cached stages -------------------------------------------------------

def apply_stage(x: np.ndarray, sample_rate: float, call: ToolCall, backend: str = "cpu",
                device: str = "auto") -> np.ndarray:
    """One module on ``(2, samples)`` float32 audio with the chosen backend (bypass honoured)."""
    if call.bypass:
        return x
    if backend == "cpu":
        return apply_module(x, sample_rate, call)
    if backend == "torch":
        from llm2fx_lab.fx.torch_render import render_torch  # torch only when asked for: the CPU path stays light

        y = render_torch(x.copy()[None], sample_rate, [Chain((call,))], device=device)
        return y[0].detach().cpu().numpy().astype(np.float32)
    raise BackendError(f"backend must be 'cpu' or 'torch', got {backend!r}")


def first_difference(old: Chain | None, new: Chain) -> int:
    """Index of the first module whose rendering can differ between ``old`` and ``new``.

    Stages before that index are reused. Returns ``len(new)`` when ``new`` is a prefix of
    ``old`` (nothing to compute) and 0 when there is no old chain.
    """
    if old is None:
        return 0
    for i, call in enumerate(new.calls):
        if i >= len(old.calls) or old.calls[i] != call:
            return i
    return len(new.calls)


def preview_window(total_samples: int, sample_rate: float, center_seconds: float | None = None,
                   window_seconds: float = PREVIEW_WINDOW_SECONDS) -> tuple[int, int]:
    """``(start, stop)`` samples of the preview window: ``window_seconds`` long, centred on
    ``center_seconds`` (the middle of the audio when None), shifted to lie inside the audio."""
    n = min(int(round(window_seconds * sample_rate)), total_samples)
    center = total_samples / 2 if center_seconds is None else center_seconds * sample_rate
    start = int(min(max(round(center - n / 2), 0), total_samples - n))
    return start, start + n


@dataclass(frozen=True)
class PreviewResult:
    """Phase 1 of an edit: ``chain`` rendered on ``window`` (samples) only.

    ``output`` is the new chain's output on the window, ``previous`` the cached full render's
    output on the same window (what the plotted full spectrum was computed from); the
    pre-roll rendered before the window is not included in either.
    """

    chain: Chain
    window: tuple[int, int]
    output: np.ndarray
    previous: np.ndarray
    recomputed: int
    seconds: float


class RenderCancelled(Exception):
    """A full render was abandoned between two modules because a newer edit arrived."""


@dataclass(frozen=True)
class RenderResult:
    """A finished render: the chain, the stages ``[("input", x), (module, x), ...]`` and timing."""

    chain: Chain
    stages: tuple[tuple[str, np.ndarray], ...]
    recomputed: int          # how many modules were actually processed
    seconds: float

    @property
    def output(self) -> np.ndarray:
        return self.stages[-1][1]


class StageCache:
    """Renders chains incrementally, reusing the outputs of unchanged leading stages.

    Parameters
    ----------
    dry : ndarray, shape (2, samples), float32
    sample_rate : float
    tail_seconds : float
        Zeros appended to ``dry`` before rendering.
    backend : {"cpu", "torch"}, device : str
        Passed to :func:`apply_stage`; changing either clears the cache.
    """

    def __init__(self, dry: np.ndarray, sample_rate: float, tail_seconds: float = DEFAULT_TAIL_SECONDS,
                 backend: str = "cpu", device: str = "auto") -> None:
        x = as_stereo_float32(dry)
        self.dry_samples = x.shape[1]
        tail = int(round(tail_seconds * sample_rate))
        if tail:
            x = np.concatenate([x, np.zeros((2, tail), np.float32)], axis=1)
        x.setflags(write=False)
        self.input = x
        self.sample_rate = float(sample_rate)
        self.backend = backend
        self.device = device
        self._chain: Chain | None = None
        self._stages: list[tuple[str, np.ndarray]] = [("input", x)]
        self._lock = threading.Lock()

    def set_backend(self, backend: str, device: str = "auto") -> None:
        if backend not in ("cpu", "torch"):
            raise BackendError(f"backend must be 'cpu' or 'torch', got {backend!r}")
        with self._lock:
            self.backend, self.device = backend, device
            self._chain, self._stages = None, [("input", self.input)]

    @property
    def chain(self) -> Chain | None:
        """The chain of the cached stages (the last finished full render)."""
        return self._chain

    def render(self, chain: Any, cancelled: Callable[[], bool] | None = None) -> RenderResult:
        """Render ``chain``, recomputing only the stages from the first changed module on.

        ``cancelled`` is asked before each module; when it returns True the render stops with
        :class:`RenderCancelled` and the cache is left as it was.
        """
        chain = as_chain(chain)
        t0 = time.perf_counter()
        with self._lock:
            start = first_difference(self._chain, chain)
            stages = self._stages[: start + 1]
            x = stages[-1][1]
            for call in chain.calls[start:]:
                if cancelled is not None and cancelled():
                    raise RenderCancelled(chain)
                x = apply_stage(x, self.sample_rate, call, self.backend, self.device)
                stages.append((call.name, x))
            self._chain, self._stages = chain, stages
            return RenderResult(chain, tuple(stages), len(chain) - start, time.perf_counter() - t0)

    def preview(self, chain: Any, window: tuple[int, int],
                preroll_seconds: float = PREVIEW_PREROLL_SECONDS) -> PreviewResult | None:
        """Render ``chain`` on ``window`` only, from the cached stage before its first change.

        The modules from the first changed one on process the cached signal from
        ``preroll_seconds`` before the window to its end; the pre-roll is then dropped. The
        cache is not modified. None when nothing has been rendered yet.
        """
        chain = as_chain(chain)
        t0 = time.perf_counter()
        with self._lock:
            if self._chain is None:
                return None
            start = first_difference(self._chain, chain)
            a, b = window
            pre = max(a - int(round(preroll_seconds * self.sample_rate)), 0)
            x = self._stages[start][1][:, pre:b]
            previous = self._stages[-1][1][:, a:b]
            backend, device = self.backend, self.device
        for call in chain.calls[start:]:
            x = apply_stage(np.ascontiguousarray(x), self.sample_rate, call, backend, device)
        return PreviewResult(chain, (a, b), x[:, a - pre:], previous, len(chain) - start,
                             time.perf_counter() - t0)


# --- undo / redo ------------------------------------------------------------------------

class History:
    """Undo/redo of chain edits. ``push`` records a new current chain and clears redo."""

    def __init__(self, chain: Chain | None = None, limit: int = 200) -> None:
        self.current = Chain() if chain is None else chain
        self._undo: list[Chain] = []
        self._redo: list[Chain] = []
        self.limit = limit

    def push(self, chain: Chain) -> Chain:
        if chain == self.current and chain.names == self.current.names:
            return chain
        self._undo.append(self.current)
        del self._undo[: -self.limit]
        self._redo.clear()
        self.current = chain
        return chain

    def undo(self) -> Chain:
        if self._undo:
            self._redo.append(self.current)
            self.current = self._undo.pop()
        return self.current

    def redo(self) -> Chain:
        if self._redo:
            self._undo.append(self.current)
            self.current = self._redo.pop()
        return self.current

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)


# --- loudness matching ------------------------------------------------------------------

def loudness_match_gains_db(loudness_lufs: dict[str, float]) -> dict[str, float]:
    """Gains (dB, all <= 0) bringing every source down to the quietest one's loudness.

    Silent or unmeasurable sources (``-inf``/NaN) get 0 dB.

    >>> loudness_match_gains_db({"dry": -20.0, "render": -14.0})
    {'dry': 0.0, 'render': -6.0}
    """
    finite = {k: v for k, v in loudness_lufs.items() if v is not None and math.isfinite(v)}
    if not finite:
        return {k: 0.0 for k in loudness_lufs}
    quietest = min(finite.values())
    return {k: (round(quietest - finite[k], 2) if k in finite else 0.0) for k in loudness_lufs}


# --- audio for the browser --------------------------------------------------------------

def wav_bytes(audio: np.ndarray, sample_rate: float) -> bytes:
    """16-bit PCM WAV of ``(2, samples)`` audio, clipped to [-1, 1]."""
    x = np.clip(np.asarray(audio, np.float32), -1.0, 1.0)
    pcm = (x.T * 32767.0).round().astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(x.shape[0])
        w.setsampwidth(2)
        w.setframerate(int(round(sample_rate)))
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


# --- a "latest wins" background worker --------------------------------------------------

class LatestWorker:
    """Runs ``fn(item)`` in one daemon thread, always on the newest submitted item.

    Submissions made while a job runs replace each other (slider drags coalesce); the
    thread exits when idle and restarts on the next :meth:`submit`. Exceptions are passed
    to ``on_error``. At the interpreter's exit (:mod:`llm2fx_lab.threads`) the waiting items
    are dropped and the running job is told it is superseded, so it gives up at its next check.
    """

    def __init__(self, fn: Callable[[Any], None], on_error: Callable[[BaseException], None]) -> None:
        self._fn, self._on_error = fn, on_error
        self._cond = threading.Condition()
        self._pending: list[Any] = []
        self._busy = False
        self._stopping = False

    def submit(self, item: Any) -> None:
        with self._cond:
            self._pending[:] = [item]
            self._stopping = False
            self._cond.notify_all()
            if not self._busy:
                self._busy = True
                start_background(self._loop, name="llm2fx-render", stop=self._stop)

    def _stop(self) -> None:
        with self._cond:
            self._pending.clear()
            self._stopping = True
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._busy = False
                    self._cond.notify_all()
                    return
                item = self._pending.pop()
            try:
                self._fn(item)
            except BaseException as exc:  # noqa: BLE001 - reported inline by the caller
                self._on_error(exc)

    def superseded(self) -> bool:
        """True when a newer item is waiting, or the worker is stopping (for the running job
        to give up early)."""
        with self._cond:
            return bool(self._pending) or self._stopping

    def wait_for_newer(self, timeout: float) -> bool:
        """In a job: wait up to ``timeout`` s for a newer submission (debouncing); True if one
        came (or the worker is stopping)."""
        with self._cond:
            return self._cond.wait_for(lambda: bool(self._pending) or self._stopping, timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until idle; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy, timeout)
