"""The benchmark on local processes and on a Dask cluster of two local workers (127.0.0.1):
the per-example scores and the summary equal those of one process, exactly."""

import json

import pandas as pd
import pytest

from llm2fx_lab.cli import main
from llm2fx_lab.data.cluster import ClusterConfig
from llm2fx_lab.errors import Llm2FxError, PlannerError
from llm2fx_lab.planners import get_planner
from llm2fx_lab.planners.bench import make_test_pairs, run_bench
from tests._cluster import free_port, local_cluster

SCORING = dict(audibility_crop_seconds=1.0, mrstft_crop_seconds=1.0)


@pytest.fixture(scope="module")
def pairs():
    return make_test_pairs(1, seed=2, source="examples", lengths=(1, 2, 3, 4), seconds=2.0)


@pytest.fixture(scope="module")
def one_process(pairs):
    return {name: run_bench(name, pairs, **SCORING) for name in ("analysis", "regression")}


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as c:
        yield c.scheduler_address


def _assert_same_scores(a, b):
    (summary_a, per_example_a, seconds_a), (summary_b, per_example_b, seconds_b) = a, b
    pd.testing.assert_frame_equal(per_example_a, per_example_b, check_exact=True)
    pd.testing.assert_frame_equal(summary_a, summary_b, check_exact=True)
    assert len(seconds_a) == len(seconds_b)


@pytest.mark.parametrize("name", ["analysis", "regression"])
def test_local_processes_score_as_one_process(name, pairs, one_process):
    _assert_same_scores(one_process[name], run_bench(name, pairs, cluster=ClusterConfig(workers=2), pairs_per_task=1,
                                                     **SCORING))


@pytest.mark.parametrize("name", ["analysis", "regression"])
def test_a_cluster_scores_as_one_process(name, pairs, one_process, cluster):
    result = run_bench(name, pairs, cluster=ClusterConfig(cluster), pairs_per_task=3, **SCORING)
    _assert_same_scores(one_process[name], result)
    assert sorted(set(result[1]["example"])) == list(range(len(pairs)))  # numbered as one table


def test_a_planner_object_or_a_bad_chunk_is_refused(pairs):
    with pytest.raises(PlannerError, match="takes the planner's name"):
        run_bench(get_planner("analysis"), pairs, cluster=ClusterConfig(workers=2))
    with pytest.raises(Llm2FxError, match="pairs_per_task"):
        run_bench("analysis", pairs, cluster=ClusterConfig(workers=2), pairs_per_task=0)


def test_bench_command_on_a_cluster(cluster, tmp_path, capsys):
    args = ["bench", "--planner", "regression", "--per-length", "1", "--seconds", "1", "--no-audibility"]
    assert main(args + ["--json", str(tmp_path / "here.json")]) == 0
    assert main(args + ["--cluster", cluster, "--json", str(tmp_path / "there.json")]) == 0
    assert f"over 9 examples on the Dask cluster at {cluster}" in capsys.readouterr().out
    here, there = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("here", "there"))
    assert here["rows"] == there["rows"] and here["planner"] == there["planner"] == "regression"
    assert main(["bench", "--per-length", "1", "--cluster", cluster]) == 2
    assert "pass --planner" in capsys.readouterr().err


def test_an_unreachable_cluster_is_reported_before_the_pairs_are_made(monkeypatch, capsys):
    def never(*args, **kwargs):
        raise AssertionError("pairs made before the cluster was checked")

    monkeypatch.setattr("llm2fx_lab.planners.bench.make_test_pairs", never)
    address = f"tcp://127.0.0.1:{free_port()}"
    assert main(["bench", "--planner", "analysis", "--cluster", address, "--connect-timeout-seconds", "1"]) == 2
    assert f"cannot reach the Dask scheduler at {address}" in capsys.readouterr().err
