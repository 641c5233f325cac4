"""benchmarks/planners.py keeps the rows of planners not run now and the all-pairs calibration;
its --set experiments change the planners' configs."""

import pytest

from llm2fx_lab.errors import ParameterError
from tests._scripts import load_script

NOTE = "900 generated pairs (100 per chain length 1..9, seed 1234); the note."
PAPER = "| LLM2Fx-Tools (paper) | paper | 80% | 0.56 | 0.23 | 3.13 | - | - | - |"
HEAD = "| method | audio | Acc |\n|---|---|---|"


def _merge():
    return load_script("benchmarks/planners.py", name="bench_planners").merge_previous


def test_keeps_other_planners_and_all_pairs_calibration():
    previous = "\n".join([
        "- date: 2026-11-26 04:31 UTC", "- command: `python benchmarks/planners.py --planners mini`", "",
        NOTE, "", HEAD,
        "| mini (900 pairs) | ours | 58% |",
        "| calibration: empty chain | ours | 44% |",
        "| calibration: true modules, mid params | ours | 100% |",
        "| analysis+refine (9 pairs) | ours | 79% |",
        PAPER, "", "Per chain length, `mini`:", "", "| chain_length |", "|---|", "| all |", ""])
    table = "\n".join([NOTE, "", HEAD, "| analysis+refine (90 pairs) | ours | 81% |",
                       "| calibration: empty chain, 90 pairs | ours | 44% |", PAPER, ""])
    merged, sections = _merge()(table, ["Per chain length, `analysis+refine`: ..."], ["analysis+refine"], NOTE,
                                previous)
    rows = [line.split("|")[1].strip() for line in merged.splitlines() if line.startswith("| ")]
    assert rows[1:] == ["analysis+refine (90 pairs)", "calibration: empty chain, 90 pairs",
                        "calibration: empty chain", "calibration: true modules, mid params", "mini (900 pairs)",
                        "LLM2Fx-Tools (paper)"]
    assert "Calibration rows over all the pairs are kept" in merged
    assert "Rows for `mini` are kept from the earlier run on the same pairs (date 2026-11-26 04:31 UTC" in merged
    assert sections[0].startswith("Per chain length, `mini`") and len(sections) == 2


def test_other_pairs_keep_nothing():
    table = "\n".join(["100 generated pairs (other)", "", HEAD, "| analysis (100 pairs) | ours | 81% |", PAPER, ""])
    previous = "\n".join([NOTE, "", HEAD, "| mini (900 pairs) | ours | 58% |", PAPER])
    assert _merge()(table, [], ["analysis"], "100 generated pairs (other)", previous) == (table, [])


def test_set_changes_the_configs_of_the_planners_it_applies_to():
    bench = load_script("benchmarks/planners.py", name="bench_planners")
    changes = bench.settings(["analysis.gain_override_db=None", "refine.toggle_steps=4", "analysis.crop_seconds=1.5"])
    assert changes == {"analysis": {"gain_override_db": None, "crop_seconds": 1.5}, "refine": {"toggle_steps": 4}}
    refined = bench.planner_for("analysis+refine", changes)
    assert refined.config.toggle_steps == 4 and refined.planner.config.gain_override_db is None
    assert refined.planner.config.crop_seconds == 1.5
    plain = bench.planner_for("analysis", changes)
    assert plain.config.crop_seconds == 1.5 and not hasattr(plain, "planner")
    assert bench.planner_for("regression", changes).name == "regression"  # the baselines take no settings


def test_set_rejects_bad_settings():
    bench = load_script("benchmarks/planners.py", name="bench_planners")
    with pytest.raises(SystemExit, match="analysis.NAME=VALUE"):
        bench.settings(["toggle_steps=4"])
    with pytest.raises(SystemExit, match="Python literal"):
        bench.settings(["refine.toggle_steps=four"])
    with pytest.raises(ParameterError, match="unknown RefineConfig setting.*toggle_stepz.*allowed: steps"):
        bench.planner_for("analysis+refine", bench.settings(["refine.toggle_stepz=4"]))
    with pytest.raises(ParameterError, match="AnalysisConfig.crop_seconds must be a number > 0"):
        bench.planner_for("analysis", bench.settings(["analysis.crop_seconds=0"]))
    with pytest.raises(SystemExit):
        bench.main(["--set", "refine.steps=3", "--per-length", "1"])  # an experiment must not write the report
