"""The auxiliary chain probe (TrainConfig.aux_coef): targets, loss, training, checkpoints."""

import csv
import math

import numpy as np
import pytest
import torch

from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.fx.vectors import probe_targets
from llm2fx_lab.model.inputs import Collator
from llm2fx_lab.model.llm import N_CHAIN_TARGETS, N_MODULES, Llm2FxModel, chain_probe_loss
from llm2fx_lab.model.train import train

from .conftest import tiny_config


def test_probe_loss_counts_only_present_parameters():
    targets = torch.tensor(probe_targets(Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": 0.0}}])))[None]
    perfect = torch.full((1, N_CHAIN_TARGETS), 0.0)
    perfect[0, :N_MODULES] = torch.where(targets[0, :N_MODULES] > 0, 30.0, -30.0)
    assert float(chain_probe_loss(perfect, targets)) < 1e-6  # absent parameters (nan) do not count
    wrong = perfect.clone()
    wrong[0, N_MODULES:] = 10.0  # every parameter predicted at the top of its range: gain is off by 0.5
    assert float(chain_probe_loss(wrong, targets)) == pytest.approx(0.5, abs=1e-3)


def test_collator_adds_targets_only_when_the_probe_is_on(tokenizer, dialogues):
    off = Collator(tokenizer, tiny_config())(dialogues[:3])
    assert "chain_targets" not in off
    on = Collator(tokenizer, tiny_config(train={"aux_coef": 1.0}))(dialogues[:3])
    assert on["chain_targets"].shape == (3, N_CHAIN_TARGETS)


@pytest.fixture(scope="module")
def probed(tokenizer, dialogues, tmp_path_factory):
    out = tmp_path_factory.mktemp("probe_run")
    torch.manual_seed(0)
    cfg = tiny_config(train={"aux_coef": 1.0, "stage1_steps": 60, "stage2_steps": 60, "eval_every": 30})
    model = Llm2FxModel(cfg, tokenizer)
    summary = train(model, dialogues, out, val_set=dialogues, progress=False)
    return model.eval(), out, summary


def test_probe_learns_the_modules_and_is_logged(probed):
    _, out, summary = probed
    rows = list(csv.DictReader((out / "log.csv").open()))
    aux = [float(r["aux"]) for r in rows]
    assert all(math.isfinite(a) for a in aux)
    assert np.mean(aux[-10:]) < 0.5 * np.mean(aux[:10])
    # the 16 dialogues' audio tells them apart, so the probe can overfit their module sets
    assert summary["stage2"]["val_probe_accuracy"] > 0.9
    assert float(rows[-1]["val_aux"]) == pytest.approx(summary["stage2"]["val_aux"])


def test_probe_weights_round_trip_and_are_refused_by_a_model_without_probe(probed, tokenizer):
    model, out, _ = probed
    again = Llm2FxModel.from_pretrained(out)
    assert again.chain_probe is not None
    for a, b in zip(model.chain_probe.parameters(), again.chain_probe.parameters()):
        assert torch.equal(a.cpu(), b.cpu())
    without = Llm2FxModel(tiny_config(), tokenizer)
    with pytest.raises(Llm2FxError, match="unexpected"):
        without.load_weights(out / "model.safetensors")
