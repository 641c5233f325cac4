"""The wrapper: audio splicing, stages, checkpoints, bad input."""

import json

import pytest
import torch

from llm2fx_lab.errors import Llm2FxError, ToolCallError
from llm2fx_lab.model.inputs import Collator
from llm2fx_lab.model.llm import Llm2FxModel

from .conftest import tiny_config


def test_audio_lands_exactly_at_placeholders(tiny_model, tokenizer, dialogues):
    b = Collator(tokenizer, tiny_model.cfg)(dialogues[:2])
    b["has_dry"][1] = False  # a blind row: reference tokens only
    b2 = Collator(tokenizer, tiny_model.cfg)([dialogues[0]])
    blind = Collator(tokenizer, tiny_model.cfg, dry_mask_prob=1.0)([dialogues[1]])
    ids = torch.nn.utils.rnn.pad_sequence([b2["input_ids"][0], blind["input_ids"][0]], batch_first=True,
                                          padding_value=tokenizer.pad_token_id)
    has_dry = torch.tensor([True, False])
    with torch.no_grad():
        audio = tiny_model.audio_embeddings(b["reference"], b["dry"], has_dry)
        emb = tiny_model.inputs_embeds(ids, audio, has_dry)
        tok_emb = tiny_model.llm.get_input_embeddings()(ids)
    assert audio.shape[0] == 64 + 32
    mask = ids == tiny_model.audio_pad_id
    assert torch.equal(emb[mask], audio)
    assert torch.equal(emb[~mask], tok_emb[~mask])
    # order: row 0 = dry then reference; row 1 = its reference only
    with torch.no_grad():
        ref_tok = tiny_model.adapter(tiny_model.encoder(b["reference"]))
        dry_tok = tiny_model.adapter(tiny_model.encoder(b["dry"][:1]))
    assert torch.allclose(emb[0][mask[0]][:32], dry_tok[0], atol=1e-5)
    assert torch.allclose(emb[0][mask[0]][32:], ref_tok[0], atol=1e-5)
    assert torch.allclose(emb[1][mask[1]], ref_tok[1], atol=1e-5)


def test_missing_placeholders_are_an_error(tiny_model, tokenizer, dialogues):
    b = Collator(tokenizer, tiny_model.cfg)(dialogues[:1])
    ids = b["input_ids"].clone()
    ids[ids == tiny_model.audio_pad_id] = tokenizer.pad_token_id
    with pytest.raises(ToolCallError, match="audio placeholders"):
        tiny_model(**{**b, "input_ids": ids})


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, module):
    return {k for k, v in module.state_dict().items() if not torch.equal(before[k], v)}


def _steps(model, batch, n=2):
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2)
    for _ in range(n):
        model(**batch)["loss"].backward()
        opt.step()
        opt.zero_grad()


def test_stage1_freezes_llm_stage2_trains_it(tiny_model, tokenizer, dialogues):
    b = Collator(tokenizer, tiny_model.cfg)(dialogues[:2])
    llm0, ad0 = _snapshot(tiny_model.llm), _snapshot(tiny_model.adapter)
    tiny_model.set_stage(1)
    _steps(tiny_model, b)
    assert not _changed(llm0, tiny_model.llm)
    assert _changed(ad0, tiny_model.adapter)
    tiny_model.set_stage(2)
    _steps(tiny_model, b)
    assert _changed(llm0, tiny_model.llm)


def test_stage2_with_lora_changes_only_lora_and_adapter(tokenizer, dialogues):
    torch.manual_seed(0)
    cfg = tiny_config(llm={"lora_rank": 4, "lora_alpha": 8, "lora_targets": ("q_proj", "v_proj")})
    model = Llm2FxModel(cfg, tokenizer)
    b = Collator(tokenizer, cfg)(dialogues[:2])
    llm0 = _snapshot(model.llm)
    model.set_stage(1)
    _steps(model, b)
    assert not _changed(llm0, model.llm)
    model.set_stage(2)
    _steps(model, b)
    changed = _changed(llm0, model.llm)
    assert changed and all("lora_" in k for k in changed)


def test_save_load_round_trip_identical_outputs(tiny_model, tokenizer, dialogues, tmp_path):
    b = Collator(tokenizer, tiny_model.cfg)(dialogues[:2])
    tiny_model.eval()
    with torch.no_grad():
        before = tiny_model(**b)["logits"]
    tiny_model.save_pretrained(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "model.safetensors").is_file()
    loaded = Llm2FxModel.from_pretrained(tmp_path / "ckpt", preset="tiny")
    with torch.no_grad():
        after = loaded(**b)["logits"]
    assert torch.equal(before, after)


def test_lora_checkpoint_round_trip(tokenizer, dialogues, tmp_path):
    torch.manual_seed(1)
    cfg = tiny_config(llm={"lora_rank": 4, "lora_alpha": 8, "lora_targets": ("q_proj", "v_proj")})
    model = Llm2FxModel(cfg, tokenizer)
    model.set_stage(2)
    b = Collator(tokenizer, cfg)(dialogues[:2])
    _steps(model, b, 1)
    model.eval()
    model.save_pretrained(tmp_path / "lora")
    # a LoRA checkpoint holds adapter + LoRA weights, plus the full base only if it was not from a path
    keys = json.loads((tmp_path / "lora" / "config.json").read_text())["config"]["llm"]
    assert keys["lora_rank"] == 4
    torch.manual_seed(1)  # the base model of a config-built LLM comes from the seed
    fresh = Llm2FxModel(cfg, tokenizer)
    fresh.load_weights(tmp_path / "lora" / "model.safetensors")
    fresh.eval()
    with torch.no_grad():
        assert torch.allclose(model(**b)["logits"], fresh(**b)["logits"], atol=1e-6)


def test_checkpoint_bad_input(tiny_model, tokenizer, tmp_path):
    tiny_model.save_pretrained(tmp_path / "ok")
    with pytest.raises(Llm2FxError, match="'tiny' checkpoint, not 'mini'"):
        Llm2FxModel.from_pretrained(tmp_path / "ok", preset="mini")
    other = Llm2FxModel(tiny_config(adapter={"dim": 32}), tokenizer)
    with pytest.raises(Llm2FxError, match="does not fit"):
        other.load_weights(tmp_path / "ok" / "model.safetensors")
    torch.save({"x": torch.zeros(1)}, tmp_path / "weights.pt")
    with pytest.raises(Llm2FxError, match="not a .safetensors"):
        tiny_model.load_weights(tmp_path / "weights.pt")
    (tmp_path / "pt").mkdir()
    (tmp_path / "pt" / "config.json").write_text((tmp_path / "ok" / "config.json").read_text())
    (tmp_path / "pt" / "pytorch_model.bin").write_bytes(b"\x80")
    with pytest.raises(Llm2FxError, match="only safetensors"):
        Llm2FxModel.from_pretrained(tmp_path / "pt")
    (tmp_path / "junk.safetensors").write_bytes(b"not really")
    with pytest.raises(Llm2FxError, match="not a valid safetensors"):
        tiny_model.load_weights(tmp_path / "junk.safetensors")
    with pytest.raises(Llm2FxError, match="config.json missing"):
        Llm2FxModel.from_pretrained(tmp_path / "nothing")
