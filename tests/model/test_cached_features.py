"""Cached encoder inputs and length-grouped batches: same numbers, less work."""

import dataclasses

import numpy as np
import pytest
import torch

from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.model.inputs import Collator, LengthGroupedBatches, attach_features, encode

from .conftest import tiny_config


def test_cached_features_give_the_same_loss_as_waveforms(tiny_model, tokenizer, dialogues):
    cfg = tiny_model.cfg
    rows = dialogues[:6]
    rows = rows[:3] + [dataclasses.replace(rows[3], dry=None)] + rows[4:]  # one blind row
    plain = Collator(tokenizer, cfg)(rows)
    cached_rows = attach_features(cfg, rows, batch_size=4, progress=False, keep_audio=False)
    cached = Collator(tokenizer, cfg)(cached_rows)
    assert "reference" not in cached and "ref_frames" in cached["audio_features"]
    assert cached_rows[3].dry is None and cached_rows[0].reference.shape == (2, 0)
    assert torch.equal(plain["has_dry"], cached["has_dry"])
    with torch.no_grad():
        a = tiny_model(**plain)
        b = tiny_model(**cached)
    assert torch.allclose(a["logits"], b["logits"], atol=1e-5)
    assert abs(float(a["loss"]) - float(b["loss"])) < 1e-5


def test_cached_features_with_pair_tokens(tokenizer, dialogues):
    from llm2fx_lab.model.llm import Llm2FxModel

    cfg = tiny_config(encoder={"pair_tokens": True, "n_pair_queries": 4})
    torch.manual_seed(0)
    model = Llm2FxModel(cfg, tokenizer).eval()
    rows = dialogues[:4]
    with torch.no_grad():
        a = model(**Collator(tokenizer, cfg)(rows))["logits"]
        b = model(**Collator(tokenizer, cfg)(attach_features(cfg, rows, progress=False)))["logits"]
    assert torch.allclose(a, b, atol=1e-5)


def test_forward_needs_audio(tiny_model, tokenizer, dialogues):
    batch = Collator(tokenizer, tiny_model.cfg)(dialogues[:2])
    batch.pop("reference")
    batch.pop("dry")
    with pytest.raises(Llm2FxError, match="reference audio or precomputed audio_features"):
        tiny_model(**batch)


def test_cached_features_refuse_other_encoders(dialogues):
    cfg = tiny_config(encoder={"kind": "fxencoder_pp"})
    with pytest.raises(Llm2FxError, match="built-in encoder"):
        attach_features(cfg, dialogues[:2], progress=False)


def test_length_grouped_batches_cover_everything_once_and_reshuffle():
    rng = np.random.default_rng(0)
    lengths = rng.integers(100, 1100, size=203)
    sampler = LengthGroupedBatches(lengths, batch_size=8, seed=1, window=5)
    first, second = list(sampler), list(sampler)
    for passes in (first, second):
        flat = [i for b in passes for i in b]
        assert sorted(flat) == list(range(203)) and len(passes) == len(sampler) == 26
    assert first != second
    # grouping: the spread of lengths inside a batch is far below a random batch's
    spread = np.mean([np.ptp(lengths[b]) for b in first if len(b) == 8])
    assert spread < 0.3 * np.ptp(lengths)
    with pytest.raises(Llm2FxError, match="batch_size"):
        LengthGroupedBatches(lengths, 0)


def test_token_lengths_match_the_encoding(tokenizer, dialogues):
    cfg = tiny_config()
    batch = Collator(tokenizer, cfg)(dialogues[:3])
    for i, d in enumerate(dialogues[:3]):
        assert int(batch["attention_mask"][i].sum()) == len(encode(d, tokenizer, cfg)["input_ids"])
