"""Background threads that end before the interpreter does.

A daemon thread that is still inside C++ (a pedalboard render, a torch op) when Python
finalizes is ended by ``pthread_exit`` as it takes the GIL back, and unwinding through the C++
frames aborts the whole process: "terminate called without an active exception", exit 134,
after the user's program has finished its work. So every background thread of the lab starts
here: at exit its ``stop`` callback is called and it is joined, for up to
:data:`EXIT_WAIT_SECONDS` in all, while the interpreter can still run it (``atexit`` handlers
run before finalization). The threads stay daemons so that one that cannot stop never holds
the exit for longer than that.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
from typing import Any, Callable

#: The longest the interpreter's exit waits for the lab's background threads, all together.
EXIT_WAIT_SECONDS = 30.0

_running: dict[threading.Thread, Callable[[], Any] | None] = {}
_lock = threading.Lock()


def start_background(target: Callable[..., Any], *, name: str, args: tuple = (),
                     stop: Callable[[], Any] | None = None) -> threading.Thread:
    """Start ``target(*args)`` in a daemon thread named ``name`` that :func:`stop_all` (and the
    interpreter's exit) asks to stop by calling ``stop`` and then waits for.

    ``stop`` should make ``target`` return soon (set the event its loop checks); without one
    the exit waits for ``target`` to finish, up to the shared limit.
    """

    def run() -> None:
        try:
            target(*args)
        finally:
            with _lock:
                _running.pop(threading.current_thread(), None)

    thread = threading.Thread(target=run, name=name, daemon=True)
    with _lock:
        _running[thread] = stop
    try:
        thread.start()
    except BaseException:
        with _lock:
            _running.pop(thread, None)
        raise
    return thread


def running() -> list[str]:
    """The names of the background threads started here that are still running."""
    with _lock:
        return [t.name for t in _running]


def stop_all(timeout_seconds: float = EXIT_WAIT_SECONDS) -> list[str]:
    """Ask every running background thread to stop, wait up to ``timeout_seconds`` in all for
    them to end, and return the names of those still running."""
    with _lock:
        threads = list(_running.items())
    for _, stop in threads:
        if stop is not None:
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - one failing stop must not keep the others running
                print(f"llm2fx: stopping a background thread failed: {exc}", file=sys.stderr)
    deadline = time.monotonic() + timeout_seconds
    for thread, _ in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t.name for t, _ in threads if t.is_alive()]


def _at_exit() -> None:
    left = stop_all(EXIT_WAIT_SECONDS)
    if left:
        print(f"llm2fx: {len(left)} background thread(s) still running after {EXIT_WAIT_SECONDS:g} s at exit "
              f"({', '.join(left)}); the process may abort as it ends", file=sys.stderr)


atexit.register(_at_exit)
