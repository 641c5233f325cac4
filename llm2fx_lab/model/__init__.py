"""The model: audio encoder, 32-query adapter, Qwen3 (LoRA or full), Number Token Loss,
two-stage training and streaming inference (the LLM2Fx-Tools method).

Heavy imports (torch, transformers, peft) happen when a name is first used.

>>> from llm2fx_lab.model import preset
>>> preset("tiny").adapter.n_queries
32
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from llm2fx_lab.model.config import PRESETS, AdapterConfig, EncoderConfig, LLMConfig, ModelConfig, TrainConfig, preset

_LAZY = {
    "Llm2FxModel": "llm2fx_lab.model.llm",
    "EffectsEncoder": "llm2fx_lab.model.encoders",
    "PairComparison": "llm2fx_lab.model.encoders",
    "FxEncoderPlusPlus": "llm2fx_lab.model.fxencoder_pp",
    "QueryAdapter": "llm2fx_lab.model.adapter",
    "number_token_loss": "llm2fx_lab.model.ntl",
    "train_tokenizer": "llm2fx_lab.model.tokenizer",
    "load_tokenizer": "llm2fx_lab.model.tokenizer",
    "Dialogue": "llm2fx_lab.model.inputs",
    "Collator": "llm2fx_lab.model.inputs",
    "train": "llm2fx_lab.model.train",
    "train_from_dir": "llm2fx_lab.model.train",
    "estimate_stream": "llm2fx_lab.model.generate",
    "ModelEstimator": "llm2fx_lab.model.generate",
    "load_planner_model": "llm2fx_lab.model.generate",
    "digit_probabilities": "llm2fx_lab.model.scores", "DigitScore": "llm2fx_lab.model.scores",
    "presence_probabilities": "llm2fx_lab.model.scores",
}

__all__ = ["AdapterConfig", "EncoderConfig", "LLMConfig", "ModelConfig", "PRESETS", "TrainConfig", "preset",
           *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'llm2fx_lab.model' has no attribute {name!r}")
