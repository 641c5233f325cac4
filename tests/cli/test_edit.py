"""``llm2fx edit`` and ``llm2fx estimate --chain --instruction``: the edit table through the CLI."""

import json

import pytest

from llm2fx_lab.audio.io import save_audio
from llm2fx_lab.cli.main import main
from llm2fx_lab.examples import example_pair
from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.planners.edits import HELP, diff_chains
from tests.planners.edit_table import EDITS, PIANO, REFUSALS


@pytest.fixture
def piano_json(tmp_path):
    path = tmp_path / "piano.json"
    path.write_text(PIANO.to_json(indent=2))
    return path


def cli(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_whole_table_through_the_cli(piano_json, capsys):
    for request, expected in EDITS:
        code, out, _ = cli(["edit", piano_json, request, "--json"], capsys)
        body = json.loads(out)
        turn = body["turns"][0]
        assert code == 0 and Chain.from_tool_calls(body["chain"]) == expected, request
        assert body["changed"] and turn["reply"].startswith(
            "Changed: " + "; ".join(c.describe() for c in diff_chains(PIANO, expected))), request
        assert [c["text"] for c in turn["changes"]] == [c.describe() for c in diff_chains(PIANO, expected)]
    for request, reason in REFUSALS:
        code, out, _ = cli(["edit", piano_json, request, "--json"], capsys)
        body = json.loads(out)
        assert code == 0 and not body["changed"] and Chain.from_tool_calls(body["chain"]) == PIANO, request
        assert reason in body["turns"][0]["reply"] and body["turns"][0]["reply"].endswith(HELP), request


def test_turns_undo_and_the_files(piano_json, tmp_path, capsys):
    before = piano_json.read_text()
    out_path = tmp_path / "edited.json"
    code, out, _ = cli(["edit", piano_json, "remove the delay", "bring back the delay", "undo", "--out", out_path],
                       capsys)
    assert code == 0 and piano_json.read_text() == before  # the input is never changed
    assert out.splitlines()[:2] == ["> remove the delay", "Changed: removed delay (was module 2 of 3). Chain: "
                                                          "equalizer -> panner."]
    assert "Undid the last edit." in out and f"wrote {out_path}" in out
    assert Chain.from_json(out_path.read_text()).names == ("equalizer", "panner")
    code, _, err = cli(["edit", piano_json, "louder", "--out", out_path], capsys)
    assert code == 2 and "exists; pass --overwrite" in err and len(err.strip().splitlines()) == 1
    assert Chain.from_json(out_path.read_text()).names == ("equalizer", "panner")  # not overwritten
    code, _, _ = cli(["edit", piano_json, "bypass the delay", "--out", out_path, "--overwrite"], capsys)
    assert code == 0 and Chain.from_json(out_path.read_text())["delay"].bypass
    code, out, _ = cli(["edit", piano_json, "bypass the delay"], capsys)
    assert '"bypass": true' in out  # the printed chain keeps the switch


@pytest.mark.parametrize("argv, needle", [
    (["edit", "{missing}", "louder"], "cannot read chain file"),
    (["edit", "{chain}", "x" * 3000], "too long; at most 2000 characters"),
    (["edit", "{chain}", "louder", "--out", "{dir}/x.wav"], "must end in .json"),
    (["edit", "{chain}"], "the following arguments are required: REQUEST"),
])
def test_bad_edit_commands_are_one_line(argv, needle, piano_json, tmp_path, capsys):
    argv = [a.format(missing=tmp_path / "nope.json", chain=piano_json, dir=tmp_path) for a in argv]
    try:
        code, _, err = cli(argv, capsys)
    except SystemExit as exit_:
        code, err = exit_.code, capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_estimate_edits_the_chain_it_is_given(piano_json, tmp_path, capsys):
    dry, ref, sr, _ = example_pair("piano")
    save_audio(tmp_path / "dry.wav", dry[:, : 2 * sr], sr)
    save_audio(tmp_path / "ref.wav", ref[:, : 2 * sr], sr)
    code, out, _ = cli(["estimate", tmp_path / "dry.wav", tmp_path / "ref.wav", "--planner", "analysis",
                        "--chain", piano_json, "--instruction", "remove the delay", "--json"], capsys)
    body = json.loads(out)
    assert code == 0 and Chain.from_tool_calls(body["chain"]).names == ("equalizer", "panner")
    assert body["response"].startswith("Changed: removed delay (was module 2 of 3).")
    code, _, err = cli(["estimate", tmp_path / "dry.wav", tmp_path / "ref.wav", "--chain", piano_json], capsys)
    assert code == 2 and "--chain is the chain an --instruction edits" in err
