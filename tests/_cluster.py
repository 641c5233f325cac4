"""A Dask cluster the tests start themselves: two one-thread worker processes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from typing import Iterator

from distributed import Client, LocalCluster


@contextlib.contextmanager
def local_cluster(**scheduler_kwargs) -> Iterator[LocalCluster]:
    """Two worker processes (each under a nanny, which restarts it when it dies), loopback only."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, scheduler_kwargs=scheduler_kwargs or None) as cluster:
        yield cluster


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _executing(dask_worker) -> list[str]:
    return [str(ts.key) for ts in dask_worker.state.executing]


def kill_a_busy_worker(address: str, key_prefix: str, timeout_seconds: float = 60.0) -> int:
    """SIGKILL the process of a worker while it executes a task whose key starts with
    ``key_prefix``; returns its pid. Its nanny starts a new one."""
    with Client(address, set_as_default=False) as client:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            busy = [w for w, keys in client.run(_executing).items() if any(k.startswith(key_prefix) for k in keys)]
            if busy:
                pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                return pid
            time.sleep(0.02)
    raise AssertionError(f"no worker executed a {key_prefix} task within {timeout_seconds} s")
