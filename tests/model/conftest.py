"""Shared fixtures: tiny dialogues whose audio tells the chains apart, a tokenizer, a model."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest
import torch

from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.model.config import preset
from llm2fx_lab.model.inputs import Dialogue, corpus_texts

SR = 44100
#: Modules with few parameters keep the targets short (fast tests).
SIMPLE = [
    [{"name": "gain", "arguments": {"gain_db": -6}}],
    [{"name": "gain", "arguments": {"gain_db": 8}}],
    [{"name": "distortion", "arguments": {"drive_db": 12}}],
    [{"name": "panner", "arguments": {"pan": -0.4}}],
    [{"name": "panner", "arguments": {"pan": 0.7}}],
    [{"name": "stereo_widener", "arguments": {"width": 1.3}}],
    [{"name": "limiter", "arguments": {"threshold_db": -9, "release_ms": 150}}],
    [{"name": "gain", "arguments": {"gain_db": 3}}, {"name": "distortion", "arguments": {"drive_db": 6}}],
    [{"name": "distortion", "arguments": {"drive_db": 18}}, {"name": "gain", "arguments": {"gain_db": -12}}],
    [{"name": "panner", "arguments": {"pan": 0.2}}, {"name": "gain", "arguments": {"gain_db": -2}}],
    [{"name": "stereo_widener", "arguments": {"width": 0.5}}],
    [{"name": "gain", "arguments": {"gain_db": 14}}],
    [{"name": "limiter", "arguments": {"threshold_db": -3, "release_ms": 400}}],
    [{"name": "distortion", "arguments": {"drive_db": 4}}],
    [{"name": "panner", "arguments": {"pan": -0.9}}, {"name": "stereo_widener", "arguments": {"width": 1.1}}],
    [{"name": "gain", "arguments": {"gain_db": -15}}, {"name": "limiter", "arguments": {"threshold_db": -6, "release_ms": 50}}],
]


def tiny_config(**overrides):
    base = {"encoder": {"clip_seconds": 0.5}, "train": {"batch_size": 8}}
    for k, v in overrides.items():
        base[k] = {**base.get(k, {}), **v}
    return preset("tiny", **base)


def make_dialogues(n: int = 16, seconds: float = 0.5, seed: int = 0) -> list[Dialogue]:
    """Dialogue i: a sine at its own frequency (dry) and a louder/shifted version (reference)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    out = []
    for i in range(n):
        f = 110.0 * 2 ** (i / 3)
        dry = np.stack([np.sin(2 * np.pi * f * t), np.sin(2 * np.pi * f * t + 0.3)]).astype(np.float32) * 0.3
        ref = (dry * (0.2 + 0.05 * i) + 0.01 * rng.standard_normal(dry.shape)).astype(np.float32)
        chain = Chain.from_tool_calls(SIMPLE[i % len(SIMPLE)])
        out.append(Dialogue(reference=ref, dry=dry, chain=chain, instruction="Match it.",
                            reasoning=f"Selection: {', '.join(chain.names)}.\nOrder: as listed.",
                            response="Done."))
    return out


@pytest.fixture(scope="session")
def dialogues() -> list[Dialogue]:
    return make_dialogues()


@pytest.fixture(scope="session")
def tokenizer(dialogues):
    from llm2fx_lab.model.tokenizer import train_tokenizer

    cfg = tiny_config()
    return train_tokenizer(corpus_texts(dialogues, cfg), cfg.tokenizer_vocab_size)


@pytest.fixture()
def tiny_model(tokenizer):
    from llm2fx_lab.model.llm import Llm2FxModel

    torch.manual_seed(0)
    return Llm2FxModel(tiny_config(), tokenizer)


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """One intra-op thread: on a small shared CPU this is faster than two (no oversubscription)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
