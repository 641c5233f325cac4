"""scripts/refine_gap.py: the same tuning from estimated and true starts, on generated pairs."""

from __future__ import annotations

import json
import re

import pytest

from llm2fx_lab.fx.chain import Chain
from tests._scripts import load_script


def _script():
    return load_script("scripts/refine_gap.py")


@pytest.fixture(scope="module")
def pairs():
    from llm2fx_lab.planners.bench import make_test_pairs

    # one pair of 1 and one of 6 modules, 4 s clips; seed 7 gives the long one a delay
    found = make_test_pairs(1, seed=7, lengths=(1, 6), seconds=4.0)
    assert any("delay" in p["reference"] for p in found), "the fixture needs a pair with a delay"
    return found


def test_starts_keep_the_true_structure_and_only_the_named_truth(pairs):
    from llm2fx_lab.fx.chain import tool_call

    pair = next(p for p in pairs if "delay" in p["reference"])
    truth = pair["reference"]
    # an estimate that misses the first true module and holds a module the truth lacks
    extra = next(m for m in ("panner", "stereo_widener", "gain", "limiter") if m not in truth)
    estimate = Chain(tuple(tool_call(c.name, {}, mode="lenient") for c in truth.calls[1:])
                     + (tool_call(extra, {}, mode="lenient"),))
    starts = _script().starts_for(pair, estimate)
    assert set(starts) == {"true_structure", "true_delay", "true_chain"}
    for chain in starts.values():
        assert chain.names == truth.names
    assert starts["true_chain"] == truth
    for c in truth.calls[1:]:
        if c.name != "delay":
            assert starts["true_structure"][c.name] == estimate[c.name]
            assert starts["true_delay"][c.name] == estimate[c.name]
    assert starts["true_delay"]["delay"] == truth["delay"]
    assert starts["true_structure"]["delay"] == estimate["delay"]


def test_main_prints_every_start_and_writes_json(tmp_path, capsys):
    out_json = tmp_path / "gap.json"
    argv = ["--per-length", "1", "--seed", "7", "--lengths", "1", "6", "--seconds", "4", "--steps", "3",
            "--workers", "1", "--no-pipeline", "--json", str(out_json)]
    assert _script().main(argv) == 0
    out = capsys.readouterr().out
    assert "2 pairs (1 per chain length [1, 6], seed 7), 3 gradient steps per tuning" in out
    record = json.loads(out_json.read_text())
    summary = record["summary"]
    assert list(summary) == ["analysis", "true_structure", "true_delay", "true_chain"]
    # the loss's minimum is at the true chain: tuning from it stays there
    assert summary["true_chain"]["mae"] < 0.02
    assert summary["true_chain"]["loss_mean"] < 0.1
    assert summary["true_structure"]["loss_mean"] >= summary["true_chain"]["loss_mean"]
    row = re.search(r"\| true chain, tuned \| ([\d.]+) \|", out)
    assert row and float(row.group(1)) == pytest.approx(summary["true_chain"]["mae"], abs=1e-3)
    assert {p["id"] for p in record["pairs"]} and all(set(p["chains"]) == set(summary) for p in record["pairs"])
    # never overwrites without being asked
    with pytest.raises(SystemExit):
        _script().main(argv)
    assert "exists; pass --overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--per-length", "0"], "--per-length, --steps and --workers must each be >= 1"),
    (["--lengths", "0", "3"], "--lengths must be chain lengths 1..9"),
    (["--seconds", "1"], "--seconds must be >= 2"),
])
def test_bad_arguments_name_the_allowed_values(argv, message, capsys):
    with pytest.raises(SystemExit):
        _script().main(argv)
    assert message in capsys.readouterr().err
