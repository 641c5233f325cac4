"""The agent form: the pair's measurement as a measure_pair result in the prompt."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from llm2fx_lab.analysis.evidence import compare
from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.events import Final
from llm2fx_lab.model.generate import estimate_stream
from llm2fx_lab.model.inputs import encode, iter_generated_dir, prompt_text
from llm2fx_lab.model.llm import Llm2FxModel
from llm2fx_lab.model.measurements import FIELDS, measurement_result, pair_measurements
from llm2fx_lab.model.train import train

from .conftest import SR, make_dialogues, tiny_config


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A few rows of `llm2fx data generate` (the bundled examples as sources: seconds)."""
    from llm2fx_lab.data.generate import GenerateConfig, generate

    out = tmp_path_factory.mktemp("generated")
    generate(GenerateConfig(str(out), splits=("train",), n_examples=8, shard_size=8, seed=5, source="examples",
                            segments_per_unit=2, dry_mask_probability=0.25), workers=1, progress=False)
    return out


def test_the_result_rounds_as_the_reasoning_quotes():
    out = measurement_result({"loudness_change_lu": -5.345, "pan_change": -0.5016, "decay_change_seconds": 0.4556,
                              "low_band_gain_db": float("nan"), "added_harmonics_db": -20.0,
                              "echo_detected": True, "echo_delay_seconds": 0.3499, "echo_level_db": -8.348,
                              "echo_feedback": 0.2782})
    assert out["loudness_change_lu"] == -5.3 and out["pan_change"] == -0.5 and out["decay_change_seconds"] == 0.46
    assert out["low_band_gain_db"] is None and out["mid_band_gain_db"] is None  # NaN and missing: null
    assert out["added_harmonics_percent"] == 1.0 and out["echo_delay_ms"] == 350 and out["echo_feedback"] == 0.28
    assert "echo_delay_ms" not in measurement_result({"echo_detected": False, "echo_delay_seconds": 0.3})


def test_generated_rows_carry_the_measurement_their_reasoning_quotes(generated):
    cfg = tiny_config(llm={"measurements_in_prompt": True}).replace(encoder={"sample_rate": 44100})
    rows = list(iter_generated_dir(generated, cfg))
    assert rows and all(d.measurements is not None for d in rows)
    quoted = 0
    for d in rows:
        text = json.dumps(d.measurements)
        for name, decimals in FIELDS:
            value = d.measurements[name]
            if value is not None and f"{abs(value):.{decimals}f}" in d.reasoning:
                quoted += 1
                assert str(value) in text
    assert quoted >= 5  # the reasoning's numbers are in the prompt, to be copied
    x = np.stack([np.sin(np.linspace(0, 900, SR * 2))] * 2).astype(np.float32) * 0.3
    y = x * 0.5
    assert pair_measurements(x, y, SR) == measurement_result(compare(x, y, SR).as_dict())
    assert pair_measurements(None, y, SR)["loudness_change_lu"] is not None  # blind: the pseudo-dry


def test_the_prompt_holds_the_call_and_its_result(tokenizer):
    cfg = tiny_config(llm={"measurements_in_prompt": True})
    result = {"loudness_change_lu": -5.3, "echo_detected": False}
    text = prompt_text(cfg, "Match it.", True, result)
    assert text.endswith('<tool_response>\n{"loudness_change_lu":-5.3,"echo_detected":false}\n</tool_response>'
                         '<|im_end|>\n<|im_start|>assistant\n')
    assert '"name": "measure_pair"' in text
    with pytest.raises(Llm2FxError, match="reads the pair's measurements in its prompt"):
        prompt_text(cfg, "Match it.", True)
    d = dataclasses.replace(make_dialogues(1)[0], measurements=result)
    assert len(encode(d, tokenizer, cfg)["input_ids"]) > len(encode(d, tokenizer, tiny_config())["input_ids"])
    assert prompt_text(tiny_config(), "Match it.", True, result) == prompt_text(tiny_config(), "Match it.", True)


def test_a_tiny_agent_model_trains_and_quotes_the_measured_number(tokenizer, tmp_path):
    cfg = tiny_config(llm={"measurements_in_prompt": True}, train={"stage2_steps": 300})
    dialogues = []
    for d in make_dialogues(8, seconds=1.0):
        measured = pair_measurements(d.dry, d.reference, SR)
        reasoning = f"Loudness {measured['loudness_change_lu']} LU. Selection: {', '.join(d.chain.names)}."
        dialogues.append(dataclasses.replace(d, measurements=measured, reasoning=reasoning))
    torch.manual_seed(0)
    model = Llm2FxModel(cfg, tokenizer)
    train(model, dialogues, tmp_path, progress=False)
    model.eval()
    right = 0
    for d in dialogues:
        final = [e for e in estimate_stream(model, d.dry, d.reference, d.instruction, max_new_tokens=80)
                 if isinstance(e, Final)][0]
        right += f"Loudness {d.measurements['loudness_change_lu']} LU" in final.reasoning
    assert right >= 6
    blind = [e for e in estimate_stream(model, None, dialogues[0].reference, max_new_tokens=20)][-1]
    assert isinstance(blind, Final)  # blind mode measures the pseudo-dry
