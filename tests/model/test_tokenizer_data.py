"""Project-trained tokenizer and dialogue encoding."""

import numpy as np
import pytest

from llm2fx_lab.data.format import AUDIO_PAD_TOKEN, SPECIAL_TOKENS
from llm2fx_lab.errors import AudioError, ToolCallError
from llm2fx_lab.model.inputs import Collator, _expand, encode, n_audio_slots, target_text
from llm2fx_lab.model.tokenizer import load_tokenizer

from .conftest import tiny_config


def test_digits_and_format_tokens_are_single(tokenizer):
    for t in (*SPECIAL_TOKENS, *"0123456789"):
        assert len(tokenizer.encode(t, add_special_tokens=False)) == 1
    ids = tokenizer.encode("gain_db: -12.5", add_special_tokens=False)
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert "1" in pieces and "2" in pieces and "5" in pieces
    assert tokenizer.decode(ids) == "gain_db: -12.5"


def test_save_load_round_trip(tokenizer, tmp_path):
    tokenizer.save_pretrained(str(tmp_path))
    again = load_tokenizer(tmp_path)
    text = "<think>\nx\n</think>\n\n<tool_call>\n{\"gain_db\": 3}\n</tool_call><|im_end|>"
    assert again.encode(text, add_special_tokens=False) == tokenizer.encode(text, add_special_tokens=False)
    assert again.chat_template == tokenizer.chat_template


def test_encode_masks_the_prompt_and_expands_audio(tokenizer, dialogues):
    cfg = tiny_config()
    row = encode(dialogues[0], tokenizer, cfg)
    pad = tokenizer.convert_tokens_to_ids(AUDIO_PAD_TOKEN)
    assert row["input_ids"].count(pad) == n_audio_slots(cfg, True) == 64
    first = next(i for i, v in enumerate(row["labels"]) if v != -100)
    assert tokenizer.decode(row["input_ids"][first:]) == target_text(dialogues[0])
    assert pad not in row["input_ids"][first:]
    blind = encode(dialogues[0], tokenizer, cfg, has_dry=False)
    assert blind["input_ids"].count(pad) == 32
    pair_cfg = tiny_config(encoder={"pair_tokens": True, "n_pair_queries": 4})
    assert encode(dialogues[0], tokenizer, pair_cfg)["input_ids"].count(pad) == 68


def test_collator_batch(tokenizer, dialogues):
    b = Collator(tokenizer, tiny_config())(dialogues[:3])
    assert b["input_ids"].shape == b["labels"].shape == b["attention_mask"].shape
    assert b["reference"].shape == (3, 2, 22050) and b["has_dry"].all()


def test_bad_inputs(tokenizer, dialogues):
    cfg = tiny_config()
    with pytest.raises(ToolCallError, match="exactly once"):
        _expand("no placeholder here", cfg, True)
    short = dialogues[0].__class__(reference=np.zeros((2, 100), np.float32), chain=dialogues[0].chain)
    with pytest.raises(AudioError, match="at least"):
        Collator(tokenizer, cfg)([short])
