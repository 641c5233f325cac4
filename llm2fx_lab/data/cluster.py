"""Where work units run: this process, processes on this machine, or a Dask cluster.

:func:`map_units` applies a pure, module-level function to a list of argument tuples and
yields ``(position, result)`` as each unit completes, with a progress bar (``tqdm.auto``: a
bar in the terminal, a widget in a notebook). Callers key results by position, so the order
in which units complete never changes what they write: the same units give the same output
on one process, on several, or on a cluster.

Three backends, chosen by :class:`ClusterConfig`:

- ``address=None, workers=1``: a loop in this process.
- ``address=None, workers=N``: ``N`` forked processes on this machine. A process that dies
  (killed, out of memory) breaks the pool; the units it and its siblings held are redone in a
  fresh pool, at most ``retries`` times.
- ``address="tcp://host:port"``: the Dask scheduler there (``dask scheduler`` and
  ``dask worker tcp://host:port`` on the machines; docs/cluster.md). Dask reschedules a unit
  whose worker died on another worker; if the scheduler gives up on it (``KilledWorker``, after
  its ``allowed-failures``), the unit is submitted again, at most ``retries`` times.

Only units in flight (``in_flight_per_thread`` per worker thread) are handed out at a time,
so a long run's inputs and results never pile up on the scheduler or in this process.

Every worker process computes with one thread (a forked one sets torch to one thread, as a
Dask nanny does through ``OMP_NUM_THREADS``), and a Dask worker gets glibc's mmap threshold
back (:func:`_large_arrays_from_the_heap`); why: docs/decisions.md, "Cluster".

This module sits in ``data``, the lowest layer that uses it; the planners' benchmark, a
layer above, uses it too.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import multiprocessing as mp
import os
import re
import sys
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from distributed import Client, KilledWorker, as_completed
from tqdm.auto import tqdm

from llm2fx_lab.errors import Llm2FxError

log = logging.getLogger(__name__)

#: Packages whose versions must agree between this machine and every Dask worker: the wire
#: protocol (dask, distributed, cloudpickle, msgpack) and everything that computes the output,
#: which would otherwise differ in its last bits from one machine to the next.
MATCHED_PACKAGES = ("dask", "distributed", "cloudpickle", "msgpack", "llm2fx-lab", "numpy", "scipy", "pedalboard",
                    "soundfile", "soxr", "numba", "torch", "pandas")
#: Of those, the ones the scheduler itself runs.
SCHEDULER_PACKAGES = ("dask", "distributed", "cloudpickle")

#: glibc's ``mallopt`` parameter, and the largest threshold its own dynamic rule reaches (64-bit).
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 32 * 2**20
_heap_tuned = False

_ADDRESS = re.compile(r"^(?:(tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})$")


def parse_address(address: str) -> str:
    """A Dask scheduler address as ``tcp://host:port`` (or ``tls://``); ``host:port`` means tcp.

    >>> parse_address("127.0.0.1:8786")
    'tcp://127.0.0.1:8786'

    Raises
    ------
    Llm2FxError
        Not of the form ``tcp://host:port``.
    """
    match = _ADDRESS.match(address.strip()) if isinstance(address, str) else None
    if match is None or not 0 < int(match.group(3)) < 65536:
        raise Llm2FxError(f"a cluster address is a Dask scheduler's tcp://HOST:PORT (e.g. tcp://127.0.0.1:8786), "
                          f"got {address!r}")
    return f"{match.group(1) or 'tcp'}://{match.group(2)}:{match.group(3)}"


@dataclass(frozen=True)
class ClusterConfig:
    """Where :func:`map_units` runs its units.

    Parameters
    ----------
    address : str, optional
        A Dask scheduler, ``tcp://host:port``; None runs on this machine.
    workers : int, optional
        Processes on this machine when ``address`` is None (default: every core; 1 runs in
        this process). A cluster has the workers it has.
    connect_timeout_seconds : float
        How long to wait for the scheduler to answer, and then for its first worker.
    retries : int
        How many times a unit is handed out again after the worker holding it died (local:
        how many times the process pool may break).
    in_flight_per_thread : int
        Units handed out per worker thread at a time: 2 keeps every worker busy while its next
        unit travels.
    """

    address: str | None = None
    workers: int | None = None
    connect_timeout_seconds: float = 10.0
    retries: int = 3
    in_flight_per_thread: int = 2

    def __post_init__(self) -> None:
        if self.address is not None:
            object.__setattr__(self, "address", parse_address(self.address))
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise Llm2FxError(f"workers must be an integer >= 1 (processes on this machine), got {self.workers!r}")
        if not self.connect_timeout_seconds > 0:
            raise Llm2FxError(f"connect_timeout_seconds must be > 0, got {self.connect_timeout_seconds!r}")
        if self.retries < 0 or self.in_flight_per_thread < 1:
            raise Llm2FxError(f"retries must be >= 0 and in_flight_per_thread >= 1, got {self.retries} and "
                              f"{self.in_flight_per_thread}")

    @property
    def local_workers(self) -> int:
        """Processes on this machine (when there is no address)."""
        return self.workers or os.cpu_count() or 1

    def describe(self) -> str:
        """``"the Dask cluster at tcp://..."`` or ``"2 local processes"``, for messages and docs."""
        if self.address:
            return f"the Dask cluster at {self.address}"
        n = self.local_workers
        return "this process" if n == 1 else f"{n} local processes"


def version_mismatches(versions: dict[str, Any], packages: Sequence[str] = MATCHED_PACKAGES) -> list[str]:
    """What differs between this client and the cluster, from ``Client.get_versions()``.

    Python must agree in major.minor; the ``packages`` exactly (a package missing on a worker
    counts). Returns one phrase per difference, e.g. ``"numpy 2.1.0 here, 1.26.4 on
    tcp://10.0.0.5:40121"``; empty when everything agrees.
    """
    def python(v: dict[str, Any] | None) -> str | None:
        full = (v or {}).get("packages", {}).get("python")
        return ".".join(str(full).split(".")[:2]) if full else None

    def package(v: dict[str, Any] | None, name: str) -> str | None:
        return (v or {}).get("packages", {}).get(name)

    client = versions.get("client")
    others = [("the scheduler", versions.get("scheduler"), SCHEDULER_PACKAGES)]
    others += [(address, v, tuple(packages)) for address, v in sorted(versions.get("workers", {}).items())]
    out = []
    for where, v, names in others:
        if python(v) != python(client):
            out.append(f"Python {python(client)} here, {python(v)} on {where}")
        for name in names:
            if package(v, name) != package(client, name):
                out.append(f"{name} {package(client, name) or 'missing'} here, {package(v, name) or 'missing'} "
                           f"on {where}")
    return out


def connect(config: ClusterConfig) -> Client:
    """A Dask client for ``config.address``, checked: it answers, has a worker, runs our versions.

    Raises
    ------
    Llm2FxError
        The scheduler does not answer, has no worker, or runs other versions (one line each,
        saying what to do).
    """
    address, seconds = config.address, config.connect_timeout_seconds
    if address is None:
        raise Llm2FxError("connect needs a cluster address (tcp://HOST:PORT); without one units run on this machine")
    try:
        client = Client(address, timeout=f"{seconds}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise Llm2FxError(f"cannot reach the Dask scheduler at {address} within {seconds:g} s "
                          f"({type(exc).__name__}): start one with `dask scheduler` (and workers with "
                          f"`dask worker {address}`), or leave out the cluster address to run on this machine"
                          ) from None
    try:
        try:
            client.wait_for_workers(1, timeout=seconds)
        except (OSError, TimeoutError):
            raise Llm2FxError(f"the Dask scheduler at {address} has no worker after {seconds:g} s: start some with "
                              f"`dask worker {address}` on the machines that should do the work") from None
        mismatches = version_mismatches(client.get_versions(packages=list(MATCHED_PACKAGES)))
        if mismatches:
            raise Llm2FxError(f"{ClusterConfig(address).describe()} runs other versions than this machine "
                              f"({'; '.join(mismatches[:3])}{'; ...' if len(mismatches) > 3 else ''}): install the "
                              "same versions everywhere, or results could differ from a run on one machine")
    except BaseException:
        client.close()
        raise
    return client


def map_units(fn: Callable[..., Any], items: Sequence[tuple], config: ClusterConfig | None = None, *,
              weights: Sequence[int] | None = None, progress: bool = True, desc: str = "units",
              unit: str = "unit") -> Iterator[tuple[int, Any]]:
    """``fn(*items[i])`` for every ``i``, as ``(i, result)`` pairs in the order units complete.

    Parameters
    ----------
    fn : callable
        A module-level function (pickled by reference: every worker imports it), pure in its
        arguments: a unit handed out twice gives the same result.
    items : sequence of tuple
        One argument tuple per unit; keep them small (a cluster ships each one to a worker).
    config : ClusterConfig, optional
        Where to run; default: every core of this machine.
    weights : sequence of int, optional
        What each unit adds to the progress bar (e.g. its examples); default 1 each.
    progress, desc, unit
        The progress bar: shown or not, its label and its unit.

    Yields
    ------
    (int, object)
        The unit's position in ``items`` and ``fn``'s result; each position exactly once.
        Closing the generator early (an interrupt) stops the units still in flight.

    Raises
    ------
    Llm2FxError
        The cluster cannot be used (:func:`connect`), or a unit lost its worker more than
        ``config.retries`` times. An exception raised by ``fn`` itself is re-raised as it is.
    """
    config = config or ClusterConfig()
    weights = [1] * len(items) if weights is None else list(weights)
    if len(weights) != len(items):
        raise Llm2FxError(f"need one weight per unit, got {len(weights)} for {len(items)} units")
    if not items:
        return
    bar = tqdm(total=sum(weights), desc=desc, unit=unit, disable=not progress)
    if config.address:
        results = _dask_map(fn, items, config)
    elif config.local_workers == 1:
        results = ((i, fn(*item)) for i, item in enumerate(items))
    else:
        results = _process_map(fn, items, config)
    try:
        for i, result in results:
            bar.update(weights[i])
            yield i, result
    finally:
        results.close()
        bar.close()


def _dask_map(fn: Callable[..., Any], items: Sequence[tuple], config: ClusterConfig) -> Iterator[tuple[int, Any]]:
    client = connect(config)
    token = uuid.uuid4().hex[:8]  # unique keys: two runs never share a task
    todo = collections.deque(range(len(items)))
    attempts = [0] * len(items)
    position: dict[str, int] = {}
    pending = as_completed(loop=client.loop)

    def hand_out() -> None:
        limit = max(sum(client.nthreads().values()), 1) * config.in_flight_per_thread
        while todo and len(position) < limit:
            i = todo.popleft()
            future = client.submit(_run_on_worker, fn, *items[i], key=f"{fn.__name__}-{token}-{i}-{attempts[i]}", pure=False)
            position[future.key] = i
            pending.add(future)

    try:
        hand_out()
        for future in pending:
            i = position.pop(future.key)
            try:
                result = future.result()
            except KilledWorker:
                attempts[i] += 1
                if attempts[i] > config.retries:
                    raise Llm2FxError(f"unit {i} lost its worker {attempts[i]} times on {config.describe()} (a "
                                      "worker out of memory?); give the workers more memory, or raise retries"
                                      ) from None
                log.warning("unit %d lost its worker; handing it out again (attempt %d)", i, attempts[i] + 1)
                todo.appendleft(i)
            else:
                yield i, result
            finally:
                future.release()
            hand_out()
    finally:
        pending.clear()
        client.close()


def _run_on_worker(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on a Dask worker, its allocator first made fit for large arrays."""
    _large_arrays_from_the_heap()
    return fn(*args)


def _large_arrays_from_the_heap() -> None:
    """Undo, in a Dask worker, what its nanny's ``MALLOC_TRIM_THRESHOLD_`` does to glibc: any
    such variable freezes the mmap threshold at 128 KiB, so every audio-sized array is mapped,
    faulted in page by page and unmapped again, which doubled the time of a generator unit
    (docs/decisions.md, "Cluster"). The threshold is set to the largest value glibc's own rule
    would reach; memory is still trimmed as the nanny asked. Once per process, Linux only."""
    global _heap_tuned
    if _heap_tuned or "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return
    _heap_tuned = True
    try:
        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):  # not glibc (musl): nothing to undo
        pass


def _fork_pool(workers: int) -> ProcessPoolExecutor:
    # fork: the workers inherit what this process has loaded (sources, soundfonts, planners'
    # modules) instead of importing it all again
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_one_thread_each)


def _one_thread_each() -> None:
    """Start of a forked worker: one compute thread per process, as the processes share the
    cores; and torch's OpenMP pool, if this process's parent had started one, never used: its
    threads did not survive the fork, and the first parallel torch operation would wait for
    them forever."""
    os.environ["OMP_NUM_THREADS"] = "1"  # for what the worker imports from now on
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _process_map(fn: Callable[..., Any], items: Sequence[tuple], config: ClusterConfig) -> Iterator[tuple[int, Any]]:
    workers = config.local_workers
    limit = workers * config.in_flight_per_thread
    todo = collections.deque(range(len(items)))
    running: dict[Future, int] = {}
    breaks = 0
    pool = _fork_pool(workers)
    try:
        while todo or running:
            while todo and len(running) < limit:
                i = todo.popleft()
                running[pool.submit(fn, *items[i])] = i
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                wait(running)  # a broken pool fails every unit it held: collect them all
                done = set(running)
            broken = []
            for future in sorted(done, key=running.__getitem__):
                i = running.pop(future)
                error = future.exception()
                if isinstance(error, BrokenProcessPool):
                    broken.append(i)
                elif error is not None:
                    raise error
                else:
                    yield i, future.result()
            if broken:
                breaks += 1
                if breaks > config.retries:
                    raise Llm2FxError(f"a worker process died {breaks} times (out of memory?); run with fewer "
                                      "workers, or raise retries")
                log.warning("a worker process died; redoing its %d unfinished unit(s) in a new pool", len(broken))
                todo.extendleft(reversed(broken))
                pool.shutdown(wait=True)
                pool = _fork_pool(workers)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
