"""The shipped MODEL_CARD.md is what ``scripts/make_mini.py`` writes from the shipped report."""

import json

import pytest

from llm2fx_lab.model.mini import mini_weights_dir
from tests._scripts import load_script


@pytest.fixture(scope="module")
def make_mini():
    return load_script("scripts/make_mini.py")


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


def _previous(make_mini, per_length: int, refine_per_length: int) -> dict:
    return {"eval_seed": 1234, "per_length": per_length, "refine_per_length": refine_per_length,
            "results": {label: {"n_pairs": 0, "seconds_per_example": 0.0, "rows": []}
                        for label in make_mini.EVAL_ROWS}}


def test_rescoring_refuses_rows_that_would_not_match_the_kept_ones(make_mini, tmp_path):
    # other pairs per length than the kept rows: refused before any pair is made
    with pytest.raises(ValueError, match="--eval-per-length 100"):
        make_mini.evaluate(tmp_path, 6, 1, ("mini+refine",), _previous(make_mini, 100, 1))
    # one +refine row on another subset than the kept +refine row
    with pytest.raises(ValueError, match=r"kept rows \['analysis\+refine'\].*--refine-per-length 1"):
        make_mini.evaluate(tmp_path, 100, 10, ("mini+refine",), _previous(make_mini, 100, 1))


def test_card_names_rescored_rows_and_their_command(make_mini):
    report = {"commands": {"evaluate": "python scripts/make_mini.py --run RUN --eval-only"},
              "evaluation": {"rescored": [{"rows": ["mini+refine", "analysis+refine"], "date": "2026-11-26",
                                           "minutes": 21.4, "machine": "x",
                                           "command": "python scripts/make_mini.py --run RUN --rescore "
                                                      "mini+refine analysis+refine --refine-per-length 10"}]}}
    text = make_mini._eval_command_line(report)
    assert text.startswith("Scored by `python scripts/make_mini.py --run RUN --eval-only`.")
    assert "Re-scored later (2026-11-26, 21 min, the same test pairs): mini+refine, analysis+refine, by " \
           "`python scripts/make_mini.py --run RUN --rescore mini+refine analysis+refine --refine-per-length 10`" \
           in text


def test_an_interrupted_run_resumes_and_reports_every_sitting(make_mini, tmp_path, monkeypatch):
    """Data and training resume from disk, so an interrupted sitting's time counts and the card says
    so; the evaluation starts over, so only its finished run is timed."""
    calls = []

    def fake_phase(name, interrupt):
        def phase(*_):
            calls.append(name)
            if interrupt and calls.count(name) == 1:
                raise KeyboardInterrupt(f"stopped during {name}")
            return [name]
        return phase

    monkeypatch.setattr(make_mini, "phase_data", fake_phase("data", False))
    monkeypatch.setattr(make_mini, "phase_train", fake_phase("train", True))
    monkeypatch.setattr(make_mini, "training_facts", lambda model_dir: {"stages": {}})
    scored, stopped = [], []

    def fake_evaluate(model_dir, per_length, refine_per_length, labels, previous, on_row):
        results = dict(previous["results"]) if previous else {}
        for label in labels:
            if label == "analysis" and not stopped:  # the first evaluation stops here, once
                scored.append(label)
                stopped.append(label)
                raise KeyboardInterrupt("stopped during the evaluation")
            scored.append(label)
            results[label] = {"rows": [label]}
            on_row({"eval_seed": make_mini.EVAL_SEED, "per_length": per_length,
                    "refine_per_length": refine_per_length, "results": dict(results)})
        return {"results": results}

    monkeypatch.setattr(make_mini, "evaluate", fake_evaluate)
    monkeypatch.setattr(make_mini, "latency", lambda model_dir: {})
    monkeypatch.setattr(make_mini, "model_card", lambda report, model_dir: make_mini._sittings_text(report))
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "model.safetensors").write_bytes(b"weights")
    with pytest.raises(KeyboardInterrupt, match="during train"):
        make_mini.main(["--run", str(run)])
    first = json.loads((run / "report.json").read_text())
    assert first["interrupted"] == {"train": 1}
    assert set(first["phase_seconds"]) == {"data", "train"}
    assert "evaluation" not in first

    with pytest.raises(KeyboardInterrupt, match="during the evaluation"):
        make_mini.main(["--run", str(run)])
    second = json.loads((run / "report.json").read_text())
    assert list(second["evaluation_partial"]["results"]) == ["mini", "mini-guided"]
    assert second["interrupted"] == {"train": 1, "evaluate": 1}

    assert make_mini.main(["--run", str(run)]) == 0
    assert calls == ["data", "train"] * 3
    assert scored == ["mini", "mini-guided", "analysis", "analysis", "mini+refine", "analysis+refine"]
    third = json.loads((run / "report.json").read_text())
    assert list(third["evaluation"]["results"]) == list(make_mini.EVAL_ROWS) and "evaluation_partial" not in third
    for phase in ("data", "train", "evaluate"):  # the interrupted sittings' times are kept and added to
        assert third["phase_seconds"][phase] >= second["phase_seconds"][phase]
    card = (run / "model" / "MODEL_CARD.md").read_text()
    assert card == (" Interrupted and resumed where it stopped: train 1x, evaluate 1x; "
                    "the times above add up every sitting.")
    # new weights: the next evaluation starts afresh, its time and interruptions too
    (run / "model" / "model.safetensors").write_bytes(b"other weights")
    (run / "report.json").write_text(json.dumps({**third, "evaluation_partial": second["evaluation_partial"]}))
    scored.clear()
    assert make_mini.main(["--run", str(run)]) == 0
    assert scored == list(make_mini.EVAL_ROWS)
    assert json.loads((run / "report.json").read_text())["interrupted"] == {"train": 1}


def test_sigterm_unwinds_like_ctrl_c(make_mini):
    with pytest.raises(KeyboardInterrupt, match="signal 15"):
        make_mini._terminate(15, None)


def test_compare_lists_other_runs_in_a_reproducibility_table(make_mini, tmp_path, monkeypatch):
    shipped = {k: v for k, v in json.loads((mini_weights_dir() / "report.json").read_text()).items()
               if k != "other_runs"}
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "report.json").write_text(json.dumps(shipped))
    other = dict(shipped, date="2026-12-01", phase_seconds={"data": 600.0, "train": 6000.0, "evaluate": 60.0})
    other["evaluation"] = json.loads(json.dumps(shipped["evaluation"]))
    mini_all = make_mini.overall(other["evaluation"]["results"]["mini"]["rows"])
    mini_all["acc"] = 0.6123
    (tmp_path / "other.json").write_text(json.dumps(other))
    monkeypatch.setattr(make_mini, "model_card", lambda report, model_dir: make_mini._reproducibility_text(report))

    assert make_mini.main(["--run", str(run), "--card-only", "--compare", str(tmp_path / "other.json"), "second run"]) == 0
    card = (run / "model" / "MODEL_CARD.md").read_text()
    assert "All rows use the same test pairs." in card
    lines = [line for line in card.splitlines() if line.startswith("| this checkpoint") or line.startswith("| second run")]
    assert len(lines) == 2
    assert "| 2026-12-01 | 1,500 + 4,800 | 110 min | 61.2% |" in lines[1]
    assert f"| {make_mini.overall(shipped['evaluation']['results']['mini']['rows'])['acc'] * 100:.1f}% |" in lines[0]
    refined = make_mini.overall(shipped["evaluation"]["results"]["mini+refine"]["rows"])
    assert (f"| {refined['acc'] * 100:.1f}% | {refined['mrs_l']:.2f} / {refined['mrs_r']:.2f} | "
            f"{make_mini.overall(shipped['evaluation']['results']['analysis']['rows'])['acc'] * 100:.1f}% |") in lines[0]
    # kept in the report (the card is rewritten from it alone), replaced when listed again
    kept = json.loads((run / "report.json").read_text())["other_runs"]
    assert [r["label"] for r in kept] == ["second run"]
    assert make_mini.main(["--run", str(run), "--card-only", "--compare", str(tmp_path / "other.json"), "second run"]) == 0
    assert len(json.loads((run / "report.json").read_text())["other_runs"]) == 1
    # a run stopped during its evaluation: the rows it scored, and the table says so
    stopped = {k: v for k, v in other.items() if k != "evaluation"}
    stopped["evaluation_partial"] = {**other["evaluation"], "results": {"mini": other["evaluation"]["results"]["mini"]}}
    (tmp_path / "stopped.json").write_text(json.dumps(stopped))
    assert make_mini.main(["--run", str(run), "--card-only", "--compare", str(tmp_path / "stopped.json"), "third"]) == 0
    row = next(line for line in (run / "model" / "MODEL_CARD.md").read_text().splitlines() if line.startswith("| third"))
    assert row.startswith("| third (evaluation stopped part way: the scored rows only) |")
    assert "| 61.2% |" in row and row.endswith("| - | - / - | - |")  # no refine or analysis row scored


def test_compare_refuses_what_is_not_a_finished_report(make_mini, tmp_path, capsys):
    (tmp_path / "half.json").write_text(json.dumps({"phase_seconds": {"data": 1.0}}))
    assert make_mini.main(["--run", str(tmp_path / "run"), "--card-only", "--compare", str(tmp_path / "half.json"), "x"]) == 2
    assert "not the report.json of an evaluated run (KeyError" in capsys.readouterr().err
    assert make_mini.main(["--run", str(tmp_path / "run"), "--card-only", "--compare", str(tmp_path / "nope.json"), "x"]) == 2


def test_a_finished_training_is_not_started_again(make_mini, tmp_path, monkeypatch):
    from llm2fx_lab.model.config import preset

    ran = []
    monkeypatch.setattr(make_mini, "run", ran.append)
    state = tmp_path / "model" / "state"
    state.mkdir(parents=True)
    steps = preset(make_mini.PRESET).train.stage2_steps
    (state / "progress.json").write_text(json.dumps({"stage": 2, "step": steps - 250}))
    make_mini.phase_train(tmp_path)
    assert ran and ran[-1][-1] == "--resume"
    (state / "progress.json").write_text(json.dumps({"stage": 2, "step": steps}))
    cmd = make_mini.phase_train(tmp_path)
    assert len(ran) == 1 and "--resume" not in cmd
