"""A BPE tokenizer trained by the project (small presets), so nothing is downloaded.

Byte-level BPE (as Qwen3's) with digits split into single-digit tokens beforehand, so every
number is written digit by digit (what the Number Token Loss needs) and the ten tokens
``"0"``..``"9"`` always exist. The Qwen3 special tokens of the dialogue format
(``<|im_start|>``, ``<|im_end|>``, ``<think>``, ``<tool_call>``, the audio placeholder and
pad, ...) are single tokens. The Qwen3 chat template is attached, and the tokenizer is
saved next to the model weights (``save_pretrained``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from llm2fx_lab.data.format import SPECIAL_TOKENS, THINK_END, THINK_START, TOOL_CALL_END, TOOL_CALL_START, chat_template
from llm2fx_lab.errors import Llm2FxError

EOS_TOKEN = "<|endoftext|>"
#: Tokens that stay visible when decoding with ``skip_special_tokens=True`` (as in Qwen3).
VISIBLE_TOKENS = (THINK_START, THINK_END, TOOL_CALL_START, TOOL_CALL_END)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1000):
    """Train a byte-level BPE with single-digit tokens on ``texts``.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        With ``pad_token = eos_token = "<|endoftext|>"``, the format's special tokens and the
        Qwen3 chat template. A small corpus gives fewer merges than ``vocab_size``: size the
        model with ``len(tokenizer)``.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    hidden = [t for t in SPECIAL_TOKENS if t not in VISIBLE_TOKENS]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS_TOKEN, *hidden],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(texts), trainer)
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in VISIBLE_TOKENS])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS_TOKEN, pad_token=EOS_TOKEN,
                                   additional_special_tokens=hidden)
    fast.chat_template = chat_template()
    check_tokenizer(fast)
    return fast


def check_tokenizer(tokenizer) -> None:
    """Raise :class:`Llm2FxError` unless every format token and digit is a single token."""
    for t in (*SPECIAL_TOKENS, *"0123456789"):
        ids = tokenizer.encode(t, add_special_tokens=False)
        if len(ids) != 1:
            raise Llm2FxError(f"tokenizer splits {t!r} into {len(ids)} tokens; the dialogue format needs one")


def load_tokenizer(path: str | Path):
    """A tokenizer saved by :func:`train_tokenizer` (or any local HF tokenizer), offline.

    Format tokens a foreign tokenizer lacks (e.g. the audio placeholder in Qwen3's own) are
    added; resize the LLM's embeddings to ``len(tokenizer)`` afterwards.
    """
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise Llm2FxError(f"no tokenizer directory at {path}")
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    missing = [t for t in SPECIAL_TOKENS if tok.convert_tokens_to_ids(t) in (None, tok.unk_token_id)]
    if missing:
        tok.add_special_tokens({"additional_special_tokens": missing}, replace_additional_special_tokens=False)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not tok.chat_template:
        tok.chat_template = chat_template()
    check_tokenizer(tok)
    return tok
