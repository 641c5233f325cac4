"""End to end: a tiny dataset from the bundled examples; parsing, grounding, determinism, resume."""

import json

import pytest

from llm2fx_lab.analysis import compare
from llm2fx_lab.cli import main
from llm2fx_lab.data.stats import stats


def cli_main(argv):
    return main(["data", *argv])
from llm2fx_lab.data.format import parse_tool_calls, render_dialogue, split_prompt_target
from llm2fx_lab.data.generate import GenerateConfig, decode_audio, generate, iter_examples
from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.fx.chain import Chain

N = 12


def _cfg(out, **kw):
    base = dict(splits=("train",), n_examples=N, shard_size=6, seed=3, source="examples",
                segments_per_unit=3, refinement_probability=0.3, dry_mask_probability=0.3, style_probability=0.2)
    base.update(kw)
    return GenerateConfig(str(out), **base)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    generate(_cfg(out), workers=1, progress=False)
    return out, list(iter_examples(out))


def test_every_dialogue_parses_back_to_its_chain(dataset):
    _, rows = dataset
    assert len(rows) == N
    for r in rows:
        messages = json.loads(r["messages"])
        assert render_dialogue(messages) == r["text"]
        _, target = split_prompt_target(r["text"])
        chain, repairs = parse_tool_calls(target)
        assert chain == Chain.from_json(r["final_chain"]) and repairs == ()
        assert "</think>" in target and target.endswith("<|im_end|>\n")
        assert len(Chain.from_json(r["chain"])) == r["n_modules"]


def test_claims_are_confirmed_by_evidence(dataset):
    out, rows = dataset
    n_claims = 0
    for r in rows[:6]:
        dry, wet, sr = decode_audio(r, out)
        if r["dry_masked"]:
            from llm2fx_lab.audio.fxnorm import pseudo_dry

            ev = compare(pseudo_dry(wet, sr), wet, sr)
        else:
            ev = compare(dry, wet, sr)
        messages = json.loads(r["messages"])
        reasoning = messages[1]["reasoning_content"]
        for c in json.loads(r["claims"]):
            if c["turn"] != 1:
                continue
            n_claims += 1
            assert ev.direction(c["field"]) == c["direction"], c
            value = ev.echo_delay_seconds if c["field"] == "echo_detected" else getattr(ev, c["field"])
            assert value == pytest.approx(c["value"], abs=0.06), c
            if c["module"] != "style":
                assert c["text"].lower() in reasoning.lower()
    assert n_claims > 0


def test_tasks_and_refinement(dataset):
    _, rows = dataset
    tasks = {r["task"] for r in rows}
    assert len(tasks) >= 2
    for r in rows:
        msgs = json.loads(r["messages"])
        assert len(msgs) == (4 if r["task"] == "refinement" else 2)
        assert r["dry_masked"] == (r["task"] == "blind")


def test_adjacent_reasoning_differs(dataset):
    _, rows = dataset
    firsts = [json.loads(r["messages"])[1]["reasoning_content"].split("\n")[0] for r in rows]
    assert all(a != b for a, b in zip(firsts, firsts[1:]))


def test_deterministic_and_resumable(dataset, tmp_path):
    out, rows = dataset
    # interrupted run: one shard only, then resume
    written = generate(_cfg(tmp_path), workers=1, progress=False, max_shards=1)
    assert len(written) == 1
    rest = generate(_cfg(tmp_path), workers=1, progress=False)
    assert len(rest) == 1
    again = list(iter_examples(tmp_path))
    for a, b in zip(rows, again):
        assert a["text"] == b["text"] and a["chain"] == b["chain"] and a["wet_flac"] == b["wet_flac"]
    assert generate(_cfg(tmp_path), workers=1, progress=False) == []
    with pytest.raises(Llm2FxError):
        generate(_cfg(tmp_path, seed=4), workers=1, progress=False)


def test_stored_distance_is_a_bound_or_exact(dataset, tmp_path):
    out, rows = dataset
    assert all(r["similarity_passed"] or r["mrstft_exact"] for r in rows)  # a failing chain is measured in full
    assert any(not r["mrstft_exact"] for r in rows)  # the filter does stop early
    # exact_distance: the same chains and audio; every stored bound is at most the exact distance
    generate(_cfg(tmp_path, exact_distance=True), workers=1, progress=False, max_shards=1)
    exact = list(iter_examples(tmp_path))
    assert exact and all(r["mrstft_exact"] for r in exact)
    for a, b in zip(rows, exact):
        assert a["chain"] == b["chain"] and a["wet_flac"] == b["wet_flac"] and a["text"] == b["text"]
        assert a["mrstft_distance"] <= b["mrstft_distance"] + 1e-9
        assert a["mrstft_distance"] == b["mrstft_distance"] or not a["mrstft_exact"]
    assert "exact_distance" not in _cfg(tmp_path).fingerprint()  # manifests of older versions still match


def test_shards_of_the_older_format_are_not_resumed(dataset, tmp_path):
    import shutil

    def as_v1(folder):
        manifest = folder / "manifest.json"
        manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"format": "llm2fx-lab lp-fx v1"}))
        return manifest

    generate(_cfg(tmp_path / "part"), workers=1, progress=False, max_shards=1)
    as_v1(tmp_path / "part")
    with pytest.raises(Llm2FxError, match="another dataset format"):
        generate(_cfg(tmp_path / "part"), workers=1, progress=False)
    # a complete dataset of the older format is left alone: nothing to generate, manifest kept
    shutil.copytree(dataset[0], tmp_path / "full")
    manifest = as_v1(tmp_path / "full")
    assert generate(_cfg(tmp_path / "full"), workers=1, progress=False) == []
    assert json.loads(manifest.read_text())["format"] == "llm2fx-lab lp-fx v1"


def test_shards_load_with_datasets_under_the_declared_features(dataset):
    import pyarrow.parquet as pq

    from llm2fx_lab.data.generate import features, load_dataset_dir

    out, rows = dataset
    ds = load_dataset_dir(out)["train"]
    assert ds.features == features() and ds.num_rows == N and ds[0]["wet_flac"] == rows[0]["wet_flac"]
    column = pq.ParquetFile(str(next(out.glob("train-*.parquet")))).metadata.row_group(0).column
    names = list(features())
    flac = column(names.index("wet_flac"))
    assert flac.compression == "UNCOMPRESSED" and "RLE_DICTIONARY" not in flac.encodings  # audio is compressed already


def test_stats_and_cli(dataset, capsys):
    out, _ = dataset
    s = stats(out)
    assert s["examples"] == {"train": N} and sum(s["chain_lengths"]["train"].values()) == N
    assert cli_main(["stats", str(out)]) == 0
    assert "chain lengths" in capsys.readouterr().out
    assert cli_main(["stats", str(out / "nothing")]) == 2


def test_config_validation():
    with pytest.raises(Llm2FxError):
        GenerateConfig("x", splits=("dev",))
    with pytest.raises(Llm2FxError):
        GenerateConfig("x", audio="mp3")


def test_n_validation_sizes_the_validation_split(tmp_path):
    out = tmp_path / "nv"
    args = ["generate", str(out), "--n", "3", "--n-validation", "2", "--splits", "train", "validation",
            "--source", "examples", "--seed", "5", "--workers", "1", "--quiet"]
    assert cli_main(args) == 0
    assert stats(out)["examples"] == {"train": 3, "validation": 2}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["n_validation"] == 2 and manifest["config"]["n_examples"] == 3
    # resuming with another validation size is refused (exit code 2, nothing rewritten)
    assert cli_main(args[:5] + ["3"] + args[6:]) == 2
    # without the option the validation split has --n examples, and old manifests lack the key
    cfg = GenerateConfig(str(tmp_path / "x"), splits=("train", "validation"), n_examples=4)
    assert cfg.split_size("validation") == 4 and "n_validation" not in cfg.fingerprint()
    assert GenerateConfig("x", n_validation=0).split_size("validation") == 0
    with pytest.raises(Llm2FxError):
        GenerateConfig("x", n_validation=-1)
