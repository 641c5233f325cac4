"""The generator on several processes and on a Dask cluster of two local workers (127.0.0.1):
the same shards as one process, a killed worker's unit redone, a stopped run resumed."""

import json
import logging
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from llm2fx_lab.cli import main
from llm2fx_lab.data.cluster import ClusterConfig, map_units, parse_address, version_mismatches
from llm2fx_lab.data.generate import GenerateConfig, generate, iter_examples, verify
from llm2fx_lab.errors import Llm2FxError
from tests._cluster import free_port, kill_a_busy_worker, local_cluster
from tests.test_docs_pages import command_lines, parse_error

ROOT = Path(__file__).resolve().parents[2]

N = 12


def _cfg(out, **kw):
    base = dict(splits=("train",), n_examples=N, shard_size=6, seed=3, source="examples", segments_per_unit=3,
                refinement_probability=0.3, dry_mask_probability=0.3, style_probability=0.2)
    return GenerateConfig(str(out), **(base | kw))


def _same_shards(a, b):
    names = sorted(p.name for p in a.glob("*.parquet"))
    assert names and names == sorted(p.name for p in b.glob("*.parquet"))
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The single-process run every other run must equal, byte for byte."""
    out = tmp_path_factory.mktemp("one-process")
    generate(_cfg(out), workers=1, progress=False)
    return out


def test_addresses_and_settings_are_checked():
    assert parse_address("127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    assert parse_address("tls://scheduler.lab:8786") == "tls://scheduler.lab:8786"
    assert ClusterConfig("tcp://[::1]:8786").address == "tcp://[::1]:8786"
    for bad in ("127.0.0.1", "http://127.0.0.1:8786", "tcp://host:99999", "tcp://a b:1", ""):
        with pytest.raises(Llm2FxError, match="tcp://HOST:PORT"):
            ClusterConfig(bad)
    for bad in (dict(workers=0), dict(retries=-1), dict(connect_timeout_seconds=0), dict(in_flight_per_thread=0)):
        with pytest.raises(Llm2FxError):
            ClusterConfig(**bad)
    assert ClusterConfig(workers=1).describe() == "this process"
    assert ClusterConfig(workers=3).describe() == "3 local processes"


def test_version_mismatches_name_the_package_and_the_worker():
    def info(python="3.11.7.final.0", **packages):
        return {"packages": {"python": python, "dask": "1", "numpy": "2.0", **packages}}

    same = {"client": info(), "scheduler": info(), "workers": {"tcp://w1:1": info(), "tcp://w2:1": info()}}
    assert version_mismatches(same, ("dask", "numpy")) == []
    assert version_mismatches(same | {"scheduler": info(numpy="1.26")}, ("dask", "numpy")) == []  # not its business
    other = same | {"workers": {"tcp://w1:1": info(), "tcp://w2:1": info(python="3.12.1.final.0", numpy="1.26")}}
    assert version_mismatches(other, ("dask", "numpy")) == ["Python 3.11 here, 3.12 on tcp://w2:1",
                                                           "numpy 2.0 here, 1.26 on tcp://w2:1"]
    missing = same | {"workers": {"tcp://w1:1": {"packages": {"python": "3.11.0", "dask": "1"}}}}
    assert version_mismatches(missing, ("dask", "numpy")) == ["numpy 2.0 here, missing on tcp://w1:1"]


def test_map_units_in_this_process_and_its_bad_input():
    assert sorted(map_units(divmod, [(7, 2), (9, 4)], ClusterConfig(workers=1), progress=False)) == [
        (0, (3, 1)), (1, (2, 1))]
    assert list(map_units(divmod, [], ClusterConfig(workers=1), progress=False)) == []
    with pytest.raises(Llm2FxError, match="one weight per unit"):
        list(map_units(divmod, [(7, 2)], ClusterConfig(workers=1), weights=[1, 2], progress=False))
    with pytest.raises(ZeroDivisionError):  # a unit's own error is the caller's, as it is
        list(map_units(divmod, [(1, 0)], ClusterConfig(workers=2), progress=False))


def test_several_local_processes_survive_a_killed_one(reference, tmp_path, caplog):
    before = set(mp.active_children())
    run = threading.Thread(target=generate, args=(_cfg(tmp_path),), kwargs=dict(workers=2, progress=False))
    with caplog.at_level(logging.WARNING, logger="llm2fx_lab.data.cluster"):
        run.start()
        deadline = time.monotonic() + 30
        while len(set(mp.active_children()) - before) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # both hold a unit (each takes about a second)
        os.kill(sorted(set(mp.active_children()) - before, key=lambda p: p.pid)[0].pid, signal.SIGKILL)
        run.join(120)
    assert not run.is_alive()
    assert "a worker process died" in caplog.text
    assert _same_shards(reference, tmp_path) and verify(tmp_path)["train"]["complete"]


def test_an_unreachable_or_malformed_address_is_one_line(tmp_path, capsys):
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(Llm2FxError, match=f"cannot reach the Dask scheduler at {address} within 1 s"):
        generate(_cfg(tmp_path), cluster=ClusterConfig(address, connect_timeout_seconds=1), progress=False)
    assert not list(tmp_path.glob("*.parquet"))
    args = ["data", "generate", str(tmp_path / "cli"), "--n", "2", "--splits", "train", "--source", "examples",
            "--quiet"]
    assert main(args + ["--cluster", address, "--connect-timeout-seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert "dask scheduler" in err and err.count("\n") == 1
    assert main(args + ["--cluster", "localhost"]) == 2
    assert "tcp://HOST:PORT" in capsys.readouterr().err
    assert main(args + ["--cluster", address, "--workers", "2"]) == 2
    assert "leave out one of the two" in capsys.readouterr().err


# -- on a Dask cluster of two worker processes -------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    # allowed_failures=0: the scheduler gives up on a unit at its worker's first death, so the
    # killed-worker test exercises map_units' own resubmission (a default scheduler allows 3)
    with local_cluster(allowed_failures=0) as c:
        yield c.scheduler_address


def test_a_cluster_writes_the_shards_of_one_process(reference, cluster, tmp_path):
    written = generate(_cfg(tmp_path), cluster=cluster, progress=False)
    assert len(written) == 2 and _same_shards(reference, tmp_path)
    assert verify(tmp_path) == {"train": {"expected": N, "examples": N, "missing": 0, "first_missing": [],
                                          "repeated": 0, "unexpected": 0, "complete": True}}


def test_audio_files_are_written_here_not_on_the_workers(cluster, tmp_path):
    generate(_cfg(tmp_path / "one", audio="paths", n_examples=3), workers=1, progress=False)
    generate(_cfg(tmp_path / "dask", audio="paths", n_examples=3), cluster=cluster, progress=False)
    assert _same_shards(tmp_path / "one", tmp_path / "dask")
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one" / "audio").rglob("*.flac"))
    assert len(files) == 6 and not list((tmp_path / "dask").rglob("*.tmp"))
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "dask" / f).read_bytes() for f in files)


def test_a_worker_killed_mid_unit_loses_only_that_unit(reference, cluster, tmp_path, caplog):
    run = threading.Thread(target=generate, args=(_cfg(tmp_path),), kwargs=dict(cluster=cluster, progress=False))
    with caplog.at_level(logging.WARNING, logger="llm2fx_lab.data.cluster"):
        run.start()
        kill_a_busy_worker(cluster, "_unit_job-")
        run.join(120)
    assert not run.is_alive()
    assert "lost its worker; handing it out again" in caplog.text
    assert _same_shards(reference, tmp_path) and verify(tmp_path)["train"]["complete"]


def test_a_stopped_run_resumes_where_it_was(cluster, tmp_path, capsys):
    """The client killed mid-run (SIGKILL: no clean-up), then the same command again."""
    n, shard_size = 24, 3
    out, one = tmp_path / "dask", tmp_path / "one"
    args = ["data", "generate", str(out), "--n", str(n), "--splits", "train", "--source", "examples", "--seed", "4",
            "--shard-size", str(shard_size), "--cluster", cluster, "--quiet"]
    client = subprocess.Popen([sys.executable, "-m", "llm2fx_lab.cli", *args], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while not list(out.glob("train-*.parquet")) and time.monotonic() < deadline and client.poll() is None:
        time.sleep(0.02)
    client.kill()
    client.wait()
    done = len(list(out.glob("train-*.parquet")))
    assert 1 <= done < n // shard_size, "the run was not stopped mid-way"
    report = verify(out)["train"]
    assert not report["complete"] and report["missing"] == n - done * shard_size and report["repeated"] == 0
    assert main(["data", "stats", str(out)]) == 0
    assert f"incomplete train: {done * shard_size} of {n} examples" in capsys.readouterr().out

    assert main(args) == 0
    assert f"wrote {n // shard_size - done} shard(s)" in (text := capsys.readouterr().out)
    assert f"verified train: {n} of {n} examples, each index once" in text
    generate(GenerateConfig(str(one), splits=("train",), n_examples=n, seed=4, source="examples",
                            shard_size=shard_size), workers=1, progress=False)
    assert _same_shards(one, out)
    assert [r["index"] for r in iter_examples(out, columns=["index"])] == list(range(n))
    assert json.loads((out / "manifest.json").read_text())["splits"] == ["train"]


def test_the_cluster_page_shows_commands_that_parse():
    found = command_lines((ROOT / "docs" / "cluster.md").read_text())
    assert {tuple(argv[:2]) for _, argv in found} >= {("data", "generate"), ("data", "stats")}
    assert sum("--cluster" in argv for _, argv in found) >= 3
    for key, argv in found:
        assert parse_error(key, argv) is None, f"docs/cluster.md: `{' '.join(argv)}` no longer parses"
