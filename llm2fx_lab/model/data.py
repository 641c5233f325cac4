"""From dialogues to training batches: text rendering, placeholder expansion, labels, audio.

A :class:`Dialogue` is one training example: dry and reference audio (``(2, samples)``
float32; ``dry`` may be ``None`` for blind estimation), the instruction, the chain of
thought, the chain and the short response. :func:`encode` renders it in the dialogue format
of :mod:`llm2fx_lab.data.format` and expands the audio placeholder into
:func:`audio_layout`: ``"dry audio"`` + 32 pads + ``"reference audio"`` + 32 pads
(+ ``"comparison"`` + the pair-comparison pads when the model has them). The model writes
its audio embeddings over the pads, in that order. Labels cover only the assistant turn.

On disk (``llm2fx train --data DIR``): ``DIR/dialogues.jsonl``, one JSON object a line::

    {"dry": "audio/0001_dry.flac" | null, "reference": "audio/0001_ref.flac",
     "instruction": "...", "reasoning": "...", "tool_calls": [{"name": ..., "arguments": {...}}],
     "response": "...", "split": "train" | "val" | "test"}

with audio paths relative to ``DIR`` (read at the model's sample rate).

A folder written by ``llm2fx data generate`` (Parquet shards + ``manifest.json``) is read
directly too (:func:`read_generated_dir`): the first turn of each dialogue, with the dry clip
dropped for rows the generator masked (blind estimation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from llm2fx_lab.data.format import (AUDIO_PAD_TOKEN, AUDIO_PLACEHOLDER, audio_token_layout,
                                    assistant_message, render_dialogue, split_prompt_target, user_message)
from llm2fx_lab.errors import AudioError, Llm2FxError, ToolCallError
from llm2fx_lab.fx.chain import Chain, as_chain
from llm2fx_lab.model.config import ModelConfig

DEFAULT_INSTRUCTION = "Estimate the audio effects chain that turns the dry audio into the reference audio."
COMPARISON_TEXT = "comparison"
IGNORE_INDEX = -100


@dataclass(frozen=True)
class Dialogue:
    """One example. Audio is ``(2, samples)`` float32 at the model's sample rate."""

    reference: np.ndarray
    chain: Chain
    dry: np.ndarray | None = None
    instruction: str = DEFAULT_INSTRUCTION
    reasoning: str = ""
    response: str = ""


def n_pair_tokens(cfg: ModelConfig) -> int:
    return cfg.encoder.n_pair_queries if cfg.encoder.pair_tokens else 0


def audio_layout(cfg: ModelConfig, has_dry: bool) -> str:
    """The text that replaces the placeholder; each pad stands for one audio embedding."""
    extra = f"{COMPARISON_TEXT}{AUDIO_PAD_TOKEN * n_pair_tokens(cfg)}" if has_dry and n_pair_tokens(cfg) else ""
    return audio_token_layout(has_dry) + extra


def n_audio_slots(cfg: ModelConfig, has_dry: bool) -> int:
    """How many pads :func:`audio_layout` writes."""
    from llm2fx_lab.data.format import N_AUDIO_TOKENS

    return N_AUDIO_TOKENS * (2 if has_dry else 1) + (n_pair_tokens(cfg) if has_dry else 0)


def _expand(prompt: str, cfg: ModelConfig, has_dry: bool) -> str:
    n = prompt.count(AUDIO_PLACEHOLDER)
    if n != 1:
        raise ToolCallError(f"the prompt must hold the audio placeholder {AUDIO_PLACEHOLDER!r} exactly once, found {n}")
    return prompt.replace(AUDIO_PLACEHOLDER, audio_layout(cfg, has_dry))


def _tools(cfg: ModelConfig):
    return None if cfg.llm.tool_schemas_in_prompt else []


def prompt_text(cfg: ModelConfig, instruction: str | None = None, has_dry: bool = True) -> str:
    """The generation prompt (ends with ``<|im_start|>assistant\\n``), placeholder expanded."""
    text = render_dialogue([user_message(instruction or DEFAULT_INSTRUCTION)], tools=_tools(cfg),
                           add_generation_prompt=True)
    return _expand(text, cfg, has_dry)


def target_text(d: Dialogue) -> str:
    """What the model must write: ``<think>...</think>``, tool calls, response, ``<|im_end|>``."""
    text = render_dialogue([user_message("x"), assistant_message(d.reasoning, d.chain, d.response)], tools=[])
    return split_prompt_target(text)[1].rstrip("\n")


def encode(d: Dialogue, tokenizer, cfg: ModelConfig, has_dry: bool | None = None) -> dict[str, list[int]]:
    """``{"input_ids", "labels"}`` for one dialogue (labels ``-100`` on the prompt)."""
    has_dry = d.dry is not None if has_dry is None else has_dry
    p = tokenizer(prompt_text(cfg, d.instruction, has_dry), add_special_tokens=False)["input_ids"]
    t = tokenizer(target_text(d), add_special_tokens=False)["input_ids"]
    return {"input_ids": p + t, "labels": [IGNORE_INDEX] * len(p) + t}


def fit_clip(x: np.ndarray, cfg: ModelConfig, name: str) -> np.ndarray:
    """Crop or zero-pad ``(2, samples)`` to ``clip_seconds``; refuse clips under ``min_seconds``."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != 2:
        raise AudioError(f"{name} must be (2, samples) stereo, got shape {x.shape}")
    sr = cfg.encoder.sample_rate
    if x.shape[1] < cfg.encoder.min_seconds * sr:
        raise AudioError(f"{name} is {x.shape[1] / sr:.3f} s long; the model needs at least "
                         f"{cfg.encoder.min_seconds:g} s at {sr} Hz")
    n = int(round(cfg.encoder.clip_seconds * sr))
    return np.ascontiguousarray(x[:, :n] if x.shape[1] >= n else np.pad(x, ((0, 0), (0, n - x.shape[1]))))


class Collator:
    """Turns a list of :class:`Dialogue` into a padded batch (dict of tensors).

    ``dry_mask_prob`` drops the dry clip of a training example with that probability (blind
    estimation, as the paper's robust training).
    """

    def __init__(self, tokenizer, cfg: ModelConfig, dry_mask_prob: float = 0.0, seed: int = 0):
        self.tokenizer, self.cfg = tokenizer, cfg
        self.dry_mask_prob = dry_mask_prob
        self.rng = np.random.default_rng(seed)

    def __call__(self, dialogues: Sequence[Dialogue]) -> dict[str, torch.Tensor]:
        rows, refs, drys, has_dry = [], [], [], []
        for d in dialogues:
            keep = d.dry is not None and not (self.dry_mask_prob and self.rng.random() < self.dry_mask_prob)
            rows.append(encode(d, self.tokenizer, self.cfg, has_dry=keep))
            refs.append(fit_clip(d.reference, self.cfg, "reference"))
            drys.append(fit_clip(d.dry, self.cfg, "dry") if keep else np.zeros_like(refs[-1]))
            has_dry.append(keep)
        n = max(len(r["input_ids"]) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(rows), n), pad, dtype=torch.long)
        labels = torch.full((len(rows), n), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for i, r in enumerate(rows):
            k = len(r["input_ids"])
            ids[i, :k] = torch.tensor(r["input_ids"])
            labels[i, :k] = torch.tensor(r["labels"])
            mask[i, :k] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels,
                "reference": torch.from_numpy(np.stack(refs)), "dry": torch.from_numpy(np.stack(drys)),
                "has_dry": torch.tensor(has_dry)}


def read_generated_dir(path: str | Path, cfg: ModelConfig, split: str | None = None) -> list[Dialogue]:
    """Dialogues from a folder written by ``llm2fx data generate`` (first turn of each row).

    The generator names its splits ``train``/``validation``/``test``; ``"val"`` is accepted
    for ``"validation"``. Audio is resampled to the encoder's rate when it differs.
    """
    from llm2fx_lab.audio.io import resample
    from llm2fx_lab.data.generate import decode_audio, iter_examples

    path = Path(path)
    split = {"val": "validation"}.get(split, split) if split else None
    sr = cfg.encoder.sample_rate
    out = []
    for row in iter_examples(path, split):
        messages = json.loads(row["messages"])
        user = next(m for m in messages if m["role"] == "user")
        answer = next(m for m in messages if m["role"] == "assistant")
        instruction = user["content"].replace(AUDIO_PLACEHOLDER, "").strip() or DEFAULT_INSTRUCTION
        response = answer["content"].rsplit("</tool_call>", 1)[-1].strip()
        dry, wet, rate = decode_audio(row, path)
        if rate != sr:
            dry, wet = resample(dry, rate, sr), resample(wet, rate, sr)
        out.append(Dialogue(reference=wet, dry=None if row["dry_masked"] else dry,
                            chain=as_chain(row["chain"]), instruction=instruction,
                            reasoning=answer.get("reasoning_content", ""), response=response))
    if not out and split in (None, "train"):
        raise Llm2FxError(f"{path} holds no {split or ''} examples".replace("  ", " "))
    return out


def read_dialogue_dir(path: str | Path, cfg: ModelConfig, split: str | None = None) -> list[Dialogue]:
    """Read ``DIR/dialogues.jsonl`` (format in the module docstring) or a generated Parquet
    folder (:func:`read_generated_dir`), optionally one ``split``."""
    from llm2fx_lab.audio.io import load_audio

    path = Path(path)
    index = path / "dialogues.jsonl"
    if not index.is_file() and (path / "manifest.json").is_file() and any(path.glob("*.parquet")):
        return read_generated_dir(path, cfg, split)
    if not index.is_file():
        raise Llm2FxError(f"no dialogues.jsonl or generated *.parquet shards in {path} "
                          "(see llm2fx_lab.model.data for the format; `llm2fx data generate` writes one)")
    out = []
    for line_no, line in enumerate(index.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError as e:
            raise Llm2FxError(f"{index}:{line_no}: not JSON ({e})") from None
        if split is not None and rec.get("split", "train") != split:
            continue
        sr = cfg.encoder.sample_rate
        ref, _ = load_audio(path / rec["reference"], sample_rate=sr)
        dry = load_audio(path / rec["dry"], sample_rate=sr)[0] if rec.get("dry") else None
        out.append(Dialogue(reference=ref, dry=dry, chain=as_chain(rec["tool_calls"]),
                            instruction=rec.get("instruction") or DEFAULT_INSTRUCTION,
                            reasoning=rec.get("reasoning", ""), response=rec.get("response", "")))
    return out


def corpus_texts(dialogues: Sequence[Dialogue], cfg: ModelConfig) -> list[str]:
    """Texts to train the tokenizer on: every prompt and target, plus the tool schemas."""
    texts = [prompt_text(cfg, d.instruction) + target_text(d) for d in dialogues]
    from llm2fx_lab.data.format import default_tools

    texts.append(json.dumps(default_tools()))
    return texts
