"""Nothing in the model package touches the network: build, save, load and generate with sockets blocked."""

import socket

import pytest
import torch

from llm2fx_lab.model.generate import estimate_stream
from llm2fx_lab.model.llm import Llm2FxModel
from llm2fx_lab.model.tokenizer import train_tokenizer

from .conftest import make_dialogues, tiny_config


@pytest.fixture()
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_build_save_load_generate_offline(no_network, tmp_path):
    ds = make_dialogues(2)
    cfg = tiny_config()
    tok = train_tokenizer([d.reasoning + d.response for d in ds] + ["0123456789"], 300)
    torch.manual_seed(0)
    model = Llm2FxModel(cfg, tok)
    model.save_pretrained(tmp_path / "m")
    loaded = Llm2FxModel.from_pretrained(tmp_path / "m")
    final = list(estimate_stream(loaded, ds[0].dry, ds[0].reference, max_new_tokens=5))[-1]
    assert final.timings.tokens <= 5
