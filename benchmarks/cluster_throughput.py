"""Data generator on a Dask cluster: throughput with 1 and 2 local workers, projection to 101,000.

Usage::

    .venv/bin/python benchmarks/cluster_throughput.py [--n 120] [--source midi]

For 1 and 2 workers, in that order: a Dask ``LocalCluster`` of one-thread worker processes
(127.0.0.1), and the same number of local processes without Dask (``--workers``, the engine
without a cluster), each timed on the same train split after a warm-up that loads every
worker (soundfont, imports). Every run's shards must equal the first run's, byte for byte.
Then the time of one unit on a Dask worker as its nanny leaves it and after
:func:`llm2fx_lab.data.cluster._large_arrays_from_the_heap` (docs/decisions.md, "Cluster").
The projection for the paper's 101,000 dialogues divides by the measured rate; for larger
clusters it assumes the per-worker rate holds (no larger machine was available to check it)
and caps it by what the client can receive over a 1 Gbit/s link.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from distributed import Client, LocalCluster  # noqa: E402

from benchmarks._report import markdown_table, write_section  # noqa: E402
from llm2fx_lab.data.cluster import ClusterConfig, _run_on_worker  # noqa: E402
from llm2fx_lab.data.generate import GenerateConfig, _unit_job, generate, schedule  # noqa: E402
from llm2fx_lab.data.stats import stats  # noqa: E402

PAPER_EXAMPLES = 101_000
LINK_BYTES_PER_SECOND = 1e9 / 8  # 1 Gbit/s between the workers and the client


def timed_runs(out: Path, n: int, source: str, engine: ClusterConfig, workers: int,
               repeats: int) -> tuple[float, float]:
    """Examples per second, the best of ``repeats`` runs after a warm-up run that loads every
    worker (other jobs may share the cores), and the highest 1-min load average seen."""
    warm = GenerateConfig(str(out / "warm-up"), n_examples=6 * workers, shard_size=6, source=source, seed=99)
    generate(warm, cluster=engine, progress=False)
    best, load = 0.0, os.getloadavg()[0]
    for r in range(repeats):
        cfg = GenerateConfig(str(out / f"run-{r}"), n_examples=n, shard_size=n // 2, source=source)
        t = time.perf_counter()
        generate(cfg, cluster=engine, progress=False)
        best, load = max(best, n / (time.perf_counter() - t)), max(load, os.getloadavg()[0])
    return best, load


def same_shards(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.glob("*.parquet"))
    return bool(names) and all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def unit_seconds(source: str, tuned: bool, units: int = 3) -> float:
    """Mean seconds of a unit on a fresh one-worker cluster, the allocator tuned or as the nanny left it."""
    cfg = GenerateConfig("unused", n_examples=6 * (units + 1), source=source)
    lengths = schedule(cfg, "train")
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client:
        def run(unit: int) -> float:
            args = (cfg, "train", unit, tuple((i, lengths[i]) for i in range(6 * unit, 6 * unit + 6)))
            t = time.perf_counter()
            (client.submit(_run_on_worker, _unit_job, *args, pure=False) if tuned
             else client.submit(_unit_job, *args, pure=False)).result()
            return time.perf_counter() - t

        run(0)  # imports and the soundfont
        return sum(run(u) for u in range(1, units + 1)) / units


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=120, help="examples per timed run (a multiple of 12)")
    ap.add_argument("--source", default="midi")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per engine and worker count (the best counts)")
    args = ap.parse_args()
    rates: dict[tuple[str, int], float] = {}
    loads: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="llm2fx-bench-cluster-") as tmp:
        first = None
        for workers in (1, 2):
            for kind in ("Dask LocalCluster", "local processes"):
                out = Path(tmp) / f"{kind.split()[0]}-{workers}"
                if kind.startswith("Dask"):
                    with LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1",
                                      dashboard_address=None) as cluster:
                        engine = ClusterConfig(cluster.scheduler_address)
                        rates[kind, workers], loads[kind, workers] = timed_runs(out, args.n, args.source, engine,
                                                                                workers, args.repeats)
                else:
                    rates[kind, workers], loads[kind, workers] = timed_runs(
                        out, args.n, args.source, ClusterConfig(workers=workers), workers, args.repeats)
                first = first or out / "run-0"
                for r in range(args.repeats):
                    if not same_shards(first, out / f"run-{r}"):
                        raise SystemExit(f"{kind} with {workers} worker(s) wrote other shards than the first run")
                print(f"{kind}, {workers} worker(s): {rates[kind, workers]:.2f} examples/s", flush=True)
        bytes_per_example = stats(first)["bytes_on_disk"] / args.n
    untuned, tuned = unit_seconds(args.source, False), unit_seconds(args.source, True)
    dask1, dask2 = rates["Dask LocalCluster", 1], rates["Dask LocalCluster", 2]
    link_cap = LINK_BYTES_PER_SECOND / bytes_per_example
    rows = [[kind, workers, f"{rate:.2f}", f"{rate / rates[kind, 1]:.2f}x",
             f"{PAPER_EXAMPLES / rate / 3600:.1f} h", f"{loads[kind, workers]:.1f}"]
            for (kind, workers), rate in rates.items()]
    table = markdown_table(["engine", "workers", "examples / s", "vs 1 worker", "101,000 examples at this rate",
                            "load average (1 min, highest)"], rows)
    projection = markdown_table(["cluster (projected, not measured)", "examples / s", "101,000 examples"], [
        [f"{w} one-core workers at the 1-worker Dask rate", f"{min(w * dask1, link_cap):.0f}",
         f"{PAPER_EXAMPLES / min(w * dask1, link_cap) / 60:.0f} min"] for w in (16, 32, 64)])
    heap = markdown_table(["one unit (6 examples) on a Dask worker", "seconds"], [
        ["allocator as the nanny leaves it (MALLOC_TRIM_THRESHOLD_ set)", f"{untuned:.2f}"],
        ["after _large_arrays_from_the_heap (what map_units runs)", f"{tuned:.2f}"],
        ["ratio", f"{untuned / tuned:.2f}x"]])
    body = (f"Train split of {args.n} examples per run, `--source {args.source}`, best of {args.repeats} runs after "
            f"a warm-up; one-thread Dask workers on 127.0.0.1; local processes are forked by each run (as `--workers` "
            f"does), 1 of them meaning this process. Every run's shards byte-identical to the first run's. The "
            f"client (receiving units, writing shards) shares the {os.cpu_count()} cores with the workers.\n\n"
            f"{table}\n\n"
            f"Dask, 2 workers / 1 worker: **{dask2 / dask1:.2f}x**; 101,000 examples on this machine: "
            f"**{PAPER_EXAMPLES / dask2 / 3600:.1f} h** with 2 workers.\n\n"
            f"No larger machine or real cluster was available: the rows below assume each added one-core worker "
            f"adds the 1-worker rate, capped by what the client receives over 1 Gbit/s "
            f"({bytes_per_example / 1e6:.2f} MB per example with inline FLAC: {link_cap:.0f} examples/s).\n\n"
            f"{projection}\n\nThe allocator setting that map_units applies on Dask workers:\n\n{heap}\n")
    print(body)
    write_section("cluster", "Data generator on a Dask cluster (issue 35)", body)


if __name__ == "__main__":
    main()
