"""The shipped MODEL_CARD.md is what ``scripts/make_mini.py`` writes from the shipped report."""

import importlib.util
import json
from pathlib import Path

import pytest

from llm2fx_lab.planners.registry import mini_weights_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def make_mini():
    spec = importlib.util.spec_from_file_location("make_mini", ROOT / "scripts" / "make_mini.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_card_is_the_one_written_from_the_shipped_report(make_mini):
    weights = mini_weights_dir()
    report = json.loads((weights / "report.json").read_text())
    card = make_mini.model_card(report, weights)
    assert card == (weights / "MODEL_CARD.md").read_text(), \
        "MODEL_CARD.md is stale: rerun scripts/make_mini.py --card-only --install --overwrite"


def test_card_states_what_the_model_is_and_how_it_was_measured(make_mini):
    weights = mini_weights_dir()
    report = json.loads((weights / "report.json").read_text())
    card = make_mini.model_card(report, weights)
    assert "not the paper's Qwen3-4B model" in card
    n = report["evaluation"]["per_length"]
    assert f"make_test_pairs(per_length={n}" in card
    for label in ("mini", "analysis"):
        assert f"| {label} | {9 * n} |" in card, label
    lat = report["latency"]
    assert f"full estimate {lat['total_seconds']:.2f} s" in card
    if lat.get("decoder") == "fast":
        assert "fast decoder" in card
    if "evaluate" in report.get("commands", {}):
        assert report["commands"]["evaluate"] in card
