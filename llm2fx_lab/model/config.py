"""Configuration objects for the model, kept apart from the code that uses them (as peft does).

Four frozen dataclasses describe one model and how to train it:

- :class:`EncoderConfig`: which audio encoder (``"builtin"`` effects encoder, or
  ``"fxencoder_pp"`` with user-provided local weights) and its sizes; whether to add the
  third group of pair-comparison tokens.
- :class:`AdapterConfig`: the 32-query cross-attention adapter.
- :class:`LLMConfig`: the Qwen3 language model (a local path, or sizes for a fresh
  ``Qwen3Config``), LoRA or full fine-tuning.
- :class:`TrainConfig`: the two training stages (learning rates, steps, schedule).

:data:`PRESETS` holds the named presets ``tiny`` (tests), ``mini`` (the embedded model) and
``qwen3-4b`` (the paper's recipe); :func:`preset` returns one, optionally with overrides.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from llm2fx_lab.errors import ParameterError


@dataclass(frozen=True)
class EncoderConfig:
    """The audio encoder: ``waveform (batch, 2, samples) -> features (batch, frames, dim)``."""

    kind: Literal["builtin", "fxencoder_pp"] = "builtin"
    sample_rate: int = 44100
    #: Shortest clip the encoder accepts, in seconds.
    min_seconds: float = 0.5
    #: Clips are cropped (or zero-padded) to this length for training and inference.
    clip_seconds: float = 10.0
    dim: int = 128
    #: STFT sizes of the multi-resolution log spectra (builtin encoder).
    n_ffts: tuple[int, ...] = (512, 2048)
    hop_samples: int = 1024
    n_bands: int = 32
    #: Strided conv layers (each halves the frame rate) and transformer layers.
    n_conv: int = 2
    n_layers: int = 1
    n_heads: int = 4
    #: Third token group: dry-vs-reference comparison (band differences, gain curve, deconvolved IR).
    pair_tokens: bool = False
    n_pair_queries: int = 8
    #: Local weights for ``fxencoder_pp`` (``.safetensors`` or a ``.pt`` state dict); never downloaded.
    weights_path: str | None = None
    #: Train the encoder in stage 1 (the builtin one); Fx-Encoder++ stays frozen.
    trainable: bool = True


@dataclass(frozen=True)
class AdapterConfig:
    """Learnable queries attending to encoder features (cross-attention + GEGLU, no self-attention)."""

    n_queries: int = 32
    dim: int = 128
    n_layers: int = 2
    n_heads: int = 4
    ffn_mult: int = 4
    dropout: float = 0.0


@dataclass(frozen=True)
class LLMConfig:
    """A Qwen3 causal LM: ``path`` (local, ``local_files_only``) or sizes for ``Qwen3Config``."""

    path: str | None = None
    hidden_size: int = 128
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int = 2
    head_dim: int | None = None
    intermediate_size: int = 384
    #: Minimum vocabulary of a freshly built LLM (the tokenizer's size if larger): Qwen3's 151936.
    vocab_size: int | None = None
    max_position_embeddings: int = 4096
    #: ``None``: full fine-tuning in stage 2. Otherwise LoRA rank/alpha on ``lora_targets``.
    lora_rank: int | None = None
    lora_alpha: int = 256
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj",
                                     "gate_proj", "up_proj", "down_proj")
    #: Put the toolset's JSON schemas in the system turn (costs ~1-3 k prompt tokens).
    tool_schemas_in_prompt: bool = True
    #: The agent form: the prompt holds a ``measure_pair`` call and its JSON result, the lab's
    #: measurement of the pair (:mod:`llm2fx_lab.model.measurements`; ~150 prompt tokens).
    measurements_in_prompt: bool = False
    gradient_checkpointing: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """Two stages: 1 trains encoder (builtin) + adapter with the LLM frozen; 2 adds LoRA/full."""

    stage1_lr: float = 1e-4
    stage1_steps: int = 100
    stage2_lr: float = 5e-5
    stage2_steps: int = 100
    warmup_steps: int = 10
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    batch_size: int = 4
    grad_accum: int = 1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    #: Number Token Loss coefficient (0.3 in the public code); 0 disables it.
    ntl_coef: float = 0.3
    #: Auxiliary chain loss on the audio tokens (training only; ours, not the paper's): a small
    #: probe reads the pooled audio tokens of each row and predicts which modules are present
    #: (BCE) and their normalised parameters (L1 on present modules); ``loss += aux_coef * aux``.
    #: It makes the encoder and adapters carry what the chain did to the audio, which the
    #: language loss alone failed to teach a small model trained from scratch. 0 disables it.
    aux_coef: float = 0.0
    #: Stage 1 also trains on the language loss through the frozen LLM. A model trained from
    #: scratch has a random LLM in stage 1, whose CE teaches the adapters nothing: with this
    #: False (and ``aux_coef > 0``) stage 1 trains the audio pathway on the probe loss alone,
    #: without running the LLM.
    stage1_language_loss: bool = True
    #: Probability of dropping the dry clip in training (blind estimation, as the paper).
    dry_mask_prob: float = 0.0
    bf16: bool = True
    eval_every: int = 50
    save_every: int = 200
    log_every: int = 1
    seed: int = 0
    #: Batch dialogues of similar token length (less padding; see ``LengthGroupedBatches``).
    group_by_length: bool = True


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a model; ``name`` is the preset it came from."""

    name: str = "tiny"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    #: Vocabulary of the project-trained BPE tokenizer (small presets).
    tokenizer_vocab_size: int = 1000

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelConfig":
        def build(kind, values):
            names = {f.name: f for f in dataclasses.fields(kind)}
            unknown = set(values) - set(names)
            if unknown:
                raise ParameterError(f"unknown {kind.__name__} fields {sorted(unknown)}; allowed: {sorted(names)}")
            return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

        d = dict(d)
        return cls(name=d.get("name", "custom"),
                   encoder=build(EncoderConfig, d.get("encoder", {})),
                   adapter=build(AdapterConfig, d.get("adapter", {})),
                   llm=build(LLMConfig, d.get("llm", {})),
                   train=build(TrainConfig, d.get("train", {})),
                   tokenizer_vocab_size=d.get("tokenizer_vocab_size", 1000))

    def replace(self, **sections: Mapping[str, Any] | Any) -> "ModelConfig":
        """A copy with some fields changed: ``cfg.replace(train={"stage1_steps": 5})``."""
        out = self
        names = [f.name for f in dataclasses.fields(self)]
        for key, value in sections.items():
            if key not in names:
                sections_hint = ", ".join(f"{f.name}={{...}}" for f in dataclasses.fields(self)
                                          if dataclasses.is_dataclass(getattr(self, f.name)))
                raise ParameterError(f"ModelConfig has no field {key!r}; allowed: {', '.join(names)} "
                                     f"(nested settings go by section, e.g. {sections_hint})")
            current = getattr(out, key)
            if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
                value = dataclasses.replace(current, **value)
            out = dataclasses.replace(out, **{key: value})
        return out


PRESETS: dict[str, ModelConfig] = {
    # Tests: seconds on a CPU; full fine-tuning; no schemas in the prompt (short sequences).
    "tiny": ModelConfig(
        name="tiny",
        encoder=EncoderConfig(dim=64, n_ffts=(256, 1024), hop_samples=1024, n_bands=16,
                              n_conv=1, n_layers=1, n_heads=2, min_seconds=0.25, clip_seconds=1.0),
        adapter=AdapterConfig(dim=64, n_layers=1, n_heads=2, ffn_mult=2),
        llm=LLMConfig(hidden_size=64, n_layers=2, n_heads=2, n_kv_heads=1, intermediate_size=128,
                      tool_schemas_in_prompt=False),
        # cosine, not constant: decaying to zero ends training converged, where a constant rate
        # leaves the last step wherever Adam's noise puts it (docs/decisions.md)
        train=TrainConfig(stage1_lr=1.5e-3, stage1_steps=20, stage2_lr=1.5e-3, stage2_steps=400,
                          warmup_steps=5, schedule="cosine", batch_size=8, eval_every=100,
                          save_every=1000, bf16=False, group_by_length=False),
        tokenizer_vocab_size=600,
    ),
    # The embedded model (llm2fx_lab/model/weights/mini, `make mini`): sized so that data
    # generation + both stages fit in about two hours on 2 CPU cores, and a 10 s estimate runs
    # in about a second there. See llm2fx_lab/model/weights/mini/MODEL_CARD.md.
    "mini": ModelConfig(
        name="mini",
        encoder=EncoderConfig(dim=128, n_ffts=(512, 2048), hop_samples=2048, n_bands=32,
                              n_conv=2, n_layers=1, n_heads=4, pair_tokens=True, min_seconds=1.0,
                              clip_seconds=5.0),
        adapter=AdapterConfig(dim=128, n_layers=2, n_heads=4),
        llm=LLMConfig(hidden_size=192, n_layers=4, n_heads=3, n_kv_heads=1, head_dim=64,
                      intermediate_size=512, max_position_embeddings=2048, tool_schemas_in_prompt=False),
        train=TrainConfig(stage1_lr=1e-3, stage1_steps=150, stage2_lr=1e-3, stage2_steps=3300,
                          warmup_steps=100, batch_size=8, eval_every=250, save_every=250, bf16=True),
        tokenizer_vocab_size=3000,
    ),
    # The paper: Fx-Encoder++ (local weights), 6x12 adapter, Qwen3-4B with LoRA r128/alpha 256.
    "qwen3-4b": ModelConfig(
        name="qwen3-4b",
        encoder=EncoderConfig(kind="fxencoder_pp", dim=2048, min_seconds=1.0, trainable=False),
        adapter=AdapterConfig(dim=768, n_layers=6, n_heads=12, ffn_mult=4),
        llm=LLMConfig(path=None, hidden_size=2560, n_layers=36, n_heads=32, n_kv_heads=8,
                      head_dim=128, intermediate_size=9728, vocab_size=151936,
                      max_position_embeddings=40960, lora_rank=128, lora_alpha=256,
                      tool_schemas_in_prompt=True, gradient_checkpointing=True),
        train=TrainConfig(stage1_lr=1e-4, stage1_steps=100_000, stage2_lr=5e-5, stage2_steps=400_000,
                          warmup_steps=1000, batch_size=8, grad_accum=1, eval_every=5000,
                          save_every=10_000),
    ),
}


# The shipped embedded model since stop 15 (`make mini`): mini with the auxiliary chain probe.
# Stage 1 trains the audio pathway on the probe loss alone (the LLM is random then); stage 2
# trains everything on CE + NTL + the probe. On make_mini's 54 pairs it scores module accuracy
# 56.0 % / MAE 0.228 / MRS 2.87 against plain mini's 46.5 % / 0.282 / 3.49 (probe presence
# accuracy 74.5 %). Its greedy reasoning can still loop; generate.LoopGuard moves it on.
# The shipped checkpoint was trained as 2,400 stage-2 steps and then resumed to 4,800 with the
# cosine schedule restarted; see its MODEL_CARD.md.
PRESETS["mini-probe"] = dataclasses.replace(PRESETS["mini"].replace(
    train={"stage1_steps": 1500, "stage2_steps": 4800, "aux_coef": 1.0, "stage1_language_loss": False}),
    name="mini-probe")


# The agent form of mini-probe (issue "mini v2"): the same model, reading the pair's measurement
# as a measure_pair tool result in its prompt (llm2fx_lab/model/measurements.py), so that the
# numbers its reasoning quotes are the lab's, copied, not generated. Experimental: not shipped.
PRESETS["mini-agent"] = dataclasses.replace(PRESETS["mini-probe"].replace(llm={"measurements_in_prompt": True}),
                                            name="mini-agent")


def preset(name: str, **overrides: Mapping[str, Any] | Any) -> ModelConfig:
    """The preset ``name`` (``tiny``, ``mini``, ``mini-probe``, ``mini-agent``, ``qwen3-4b``), with optional
    section overrides.

    >>> preset("tiny", train={"stage2_steps": 10}).train.stage2_steps
    10
    """
    if name not in PRESETS:
        raise ParameterError(f"unknown model preset {name!r}; allowed: {sorted(PRESETS)}")
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]
