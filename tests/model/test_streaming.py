"""GeneratedDialogues: a generated folder read a row at a time, training as on the whole list."""

import csv
import functools
import itertools
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from llm2fx_lab.errors import Llm2FxError, ParameterError
from llm2fx_lab.model import inputs
from llm2fx_lab.model import train as train_module
from llm2fx_lab.model.inputs import (
    GeneratedDialogues,
    corpus_texts,
    encode,
    iter_generated_dir,
    read_generated_dir,
    text_only,
)
from llm2fx_lab.model.llm import Llm2FxModel
from llm2fx_lab.model.tokenizer import train_tokenizer
from llm2fx_lab.model.train import train, train_from_dir

from .conftest import tiny_config

N_TRAIN, N_VAL = 12, 2
FXENCODER = {"kind": "fxencoder_pp", "dim": 2048, "clip_seconds": 0.5}


@pytest.fixture(scope="module", autouse=True)
def arrow_cache(tmp_path_factory):
    """The HF datasets Arrow cache in a temporary folder, not the user's."""
    import datasets.config

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.mktemp("hf_cache")))
        yield


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """`llm2fx data generate` output over several shards (bundled examples as sources: seconds)."""
    from llm2fx_lab.data.generate import GenerateConfig, generate

    out = tmp_path_factory.mktemp("generated")
    generate(GenerateConfig(str(out), splits=("train", "validation"), n_examples=N_TRAIN, n_validation=N_VAL,
                            shard_size=5, seed=3, source="examples", segments_per_unit=2,
                            dry_mask_probability=0.3), workers=1, progress=False)
    return out


@pytest.fixture()
def decodes(monkeypatch):
    """Counts the rows whose audio is decoded."""
    calls = []
    original = inputs.decode_audio

    def counting(row, path=None):
        calls.append(1)
        return original(row, path)

    monkeypatch.setattr(inputs, "decode_audio", counting)
    return calls


def _same(a, b) -> bool:
    audio = all((x is None and y is None) or (x is not None and y is not None and np.array_equal(x, y))
                for x, y in ((a.reference, b.reference), (a.dry, b.dry)))
    return audio and (a.chain.to_json(), a.instruction, a.reasoning, a.response, a.measurements) == \
        (b.chain.to_json(), b.instruction, b.reasoning, b.response, b.measurements)


def test_rows_are_the_dialogues_of_the_folder(generated):
    cfg = tiny_config()
    for split, n in (("train", N_TRAIN), ("val", N_VAL)):
        listed = read_generated_dir(generated, cfg, split)
        ds = GeneratedDialogues(generated, cfg, split)
        assert len(ds) == len(listed) == n
        assert all(_same(ds[i], d) for i, d in enumerate(listed))
        assert _same(ds[-1], listed[-1]) and all(_same(a, b) for a, b in zip(ds, listed))
    listed = read_generated_dir(generated, cfg, "train")
    assert any(d.dry is None for d in listed) and any(d.dry is not None for d in listed)  # blind rows too
    assert all(d.measurements for d in listed)
    slower = cfg.replace(encoder={"sample_rate": 22050})
    resampled = GeneratedDialogues(generated, slower, "train")[1]
    assert _same(resampled, next(itertools.islice(iter_generated_dir(generated, slower, "train"), 1, None)))
    assert resampled.reference.shape[1] == listed[1].reference.shape[1] // 2


def test_text_access_decodes_no_audio(generated, decodes, tokenizer):
    cfg = tiny_config()
    ds = GeneratedDialogues(generated, cfg, "train")
    listed = read_generated_dir(generated, cfg, "train")
    decodes.clear()
    texts = list(text_only(ds))
    lengths = [len(encode(d, tokenizer, cfg)["input_ids"]) for d in texts]
    assert lengths == [len(encode(d, tokenizer, cfg)["input_ids"]) for d in listed]
    assert corpus_texts(ds, cfg) == corpus_texts(listed, cfg)
    one = ds.text_dialogue(4)
    assert one.reference.shape == (2, 0) and (one.dry is None) == (listed[4].dry is None)
    assert one.reasoning == listed[4].reasoning and one.measurements == listed[4].measurements
    assert not decodes
    ds[4]
    assert len(decodes) == 1
    # the dataset holds no audio: it pickles (for DataLoader workers) as a few kB, the shards are MBs
    shards = sum(p.stat().st_size for p in generated.glob("train-*.parquet"))
    assert len(pickle.dumps(ds)) < 64_000 < shards


def test_bad_folders_splits_and_indices(generated, tmp_path):
    cfg = tiny_config()
    with pytest.raises(Llm2FxError, match="has no manifest.json and no \\*.parquet shards"):
        GeneratedDialogues(tmp_path, cfg)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(Llm2FxError, match="has no \\*.parquet shards"):
        GeneratedDialogues(tmp_path, cfg)
    with pytest.raises(ParameterError, match="unknown split 'dev'; allowed: train, validation, test"):
        GeneratedDialogues(generated, cfg, "dev")
    ds = GeneratedDialogues(generated, cfg, "train")
    with pytest.raises(ParameterError, match=f"index {N_TRAIN} is out of range .* allowed: 0 to {N_TRAIN - 1}"):
        ds[N_TRAIN]
    with pytest.raises(ParameterError, match="out of range"):
        ds.text_dialogue(-N_TRAIN - 1)
    empty = GeneratedDialogues(generated, cfg, "test")  # a split the folder lacks
    assert len(empty) == 0 and list(empty.text_dialogues()) == []
    with pytest.raises(ParameterError, match="holds no test examples"):
        empty[0]


def _run(cfg, train_set, val_set, tokenizer, out, cache_features):
    torch.manual_seed(0)
    model = Llm2FxModel(cfg, tokenizer, allow_random_encoder=True)
    train(model, train_set, out, val_set, progress=False, cache_features=cache_features)
    rows = list(csv.DictReader((out / "log.csv").open()))
    return [(r["loss"], r["val_loss"]) for r in rows], load_file(str(out / "model.safetensors"))


# Length grouping with one window batches the same rows whatever their indices, so the
# built-in case shuffles plainly: there a row read at the wrong index changes the losses too.
@pytest.mark.parametrize("encoder, grouped", [(FXENCODER, True), ({}, False)], ids=["fxencoder_pp", "builtin-cached"])
def test_training_on_the_stream_equals_training_on_the_list(generated, tmp_path, decodes, encoder, grouped):
    cfg = tiny_config(encoder=encoder, train={"stage1_steps": 2, "stage2_steps": 2, "batch_size": 4,
                                              "group_by_length": grouped, "dry_mask_prob": 0.5, "eval_every": 2,
                                              "log_every": 1})
    listed, listed_val = read_generated_dir(generated, cfg, "train"), read_generated_dir(generated, cfg, "val")
    tokenizer = train_tokenizer(corpus_texts(listed, cfg), cfg.tokenizer_vocab_size)
    ds, ds_val = GeneratedDialogues(generated, cfg, "train"), GeneratedDialogues(generated, cfg, "val")
    decodes.clear()
    streamed = _run(cfg, ds, ds_val, tokenizer, tmp_path / "stream", cache_features=True)
    if encoder:  # per stage: 2 batches of 4 and the one accelerate reads ahead, then the validation rows
        assert len(decodes) == 2 * (3 * 4 + N_VAL)
    listed_run = _run(cfg, listed, listed_val, tokenizer, tmp_path / "list", cache_features=True)
    assert streamed[0] == listed_run[0] and len(streamed[0]) == 4
    assert streamed[1].keys() == listed_run[1].keys()
    assert all(torch.equal(streamed[1][k], listed_run[1][k]) for k in streamed[1])


def test_train_from_dir_streams_audio_with_another_encoder(generated, tmp_path, decodes, monkeypatch):
    # the random Fx-Encoder++ stands in for the user's local weights (tests download nothing)
    monkeypatch.setattr(train_module, "Llm2FxModel", functools.partial(Llm2FxModel, allow_random_encoder=True))
    monkeypatch.setattr(train_module, "read_dialogue_dir", lambda *a, **k: pytest.fail("read the whole folder"))
    summary = train_from_dir("tiny", generated, tmp_path / "run", progress=False,
                             encoder=FXENCODER, train={"stage1_steps": 1, "stage2_steps": 1, "batch_size": 1})
    assert set(summary) == {"stage1", "stage2"} and np.isfinite(summary["stage2"]["val_loss"])
    # per stage: one batch of 1 and the one accelerate reads ahead, then the validation rows
    assert len(decodes) == 2 * (2 + N_VAL) < N_TRAIN + N_VAL
