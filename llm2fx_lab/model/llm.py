"""The whole model: audio encoder -> query adapter -> Qwen3 (LoRA or full), audio spliced in.

:class:`Llm2FxModel` holds

- ``encoder``: the built-in :class:`~llm2fx_lab.model.encoders.EffectsEncoder` or
  :class:`~llm2fx_lab.model.fxencoder_pp.FxEncoderPlusPlus` (frozen, local weights);
- ``adapter``: a :class:`~llm2fx_lab.model.adapter.QueryAdapter` shared by dry and reference;
- ``pair`` and ``pair_adapter`` (optional): the third token group comparing the two clips;
- ``chain_probe`` (optional, training only, ``TrainConfig.aux_coef > 0``): reads the pooled
  audio tokens and predicts the chain's modules and parameters, an auxiliary loss that keeps
  the audio tokens informative (:func:`chain_probe_loss`);
- ``llm``: any ``AutoModelForCausalLM`` of the Qwen3 family, from a local path
  (``local_files_only``) or a fresh ``Qwen3Config``; wrapped by peft LoRA when the config
  says so (LoRA B starts at zero, so adding it changes nothing until stage 2 trains it).

Audio enters through ``inputs_embeds``: every ``<|audio_pad|>`` token of the prompt is
overwritten, in order, with the audio embeddings of its row (dry, reference, comparison;
reference only for a blind row). The same path serves training and ``generate``.

Checkpoints (:meth:`save_pretrained` / :meth:`from_pretrained`): a directory with
``config.json``, ``model.safetensors`` (encoder if trainable, adapters, and the LoRA
weights or the full LLM; metadata names the preset) and ``tokenizer/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from llm2fx_lab.data.format import AUDIO_PAD_TOKEN, END_OF_MESSAGE
from llm2fx_lab.errors import Llm2FxError, ToolCallError
from llm2fx_lab.fx.spec import MODULE_NAMES
from llm2fx_lab.fx.vectors import N_CHAIN_TARGETS
from llm2fx_lab.model.adapter import QueryAdapter
from llm2fx_lab.model.config import EncoderConfig, LLMConfig, ModelConfig
from llm2fx_lab.model.encoders import EffectsEncoder, PairComparison, audio_features
from llm2fx_lab.model.fxencoder_pp import build_fxencoder_pp
from llm2fx_lab.model.inputs import n_audio_slots
from llm2fx_lab.model.ntl import causal_lm_losses, digit_token_ids
from llm2fx_lab.model.tokenizer import load_tokenizer

FORMAT = "llm2fx-lab-model"
WEIGHTS_NAME = "model.safetensors"


def _has_dry(has_dry: torch.Tensor | None, dry: torch.Tensor | None, batch: int) -> torch.Tensor:
    if has_dry is None:
        return torch.full((batch,), dry is not None, dtype=torch.bool)
    return has_dry.bool().cpu()


#: The auxiliary probe's outputs: the 9 module presences, then the 26 normalised parameters
#: (:func:`llm2fx_lab.fx.vectors.probe_targets`).
N_MODULES = len(MODULE_NAMES)


def chain_probe_loss(probe: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """BCE on module presence plus the L1 error of the parameters of present modules
    (``targets`` from :func:`llm2fx_lab.fx.vectors.probe_targets`; ``nan`` marks absent ones)."""
    presence = F.binary_cross_entropy_with_logits(probe[:, :N_MODULES], targets[:, :N_MODULES])
    values, known = targets[:, N_MODULES:], ~torch.isnan(targets[:, N_MODULES:])
    if not bool(known.any()):
        return presence
    err = (torch.sigmoid(probe[:, N_MODULES:]) - torch.nan_to_num(values)).abs()
    return presence + err[known].mean()


def build_encoder(cfg: EncoderConfig, allow_random: bool = False) -> nn.Module:
    """The encoder the config names (``allow_random``: Fx-Encoder++ without weights, for tests)."""
    if cfg.kind == "builtin":
        return EffectsEncoder(cfg)
    if cfg.kind == "fxencoder_pp":
        return build_fxencoder_pp(cfg, allow_random=allow_random)
    raise Llm2FxError(f"unknown encoder kind {cfg.kind!r}; allowed: 'builtin', 'fxencoder_pp'")


def qwen3_config(cfg: LLMConfig, vocab_size: int, eos_id: int | None = None, pad_id: int | None = None):
    """A ``transformers.Qwen3Config`` with the sizes of ``cfg``."""
    from transformers import Qwen3Config

    return Qwen3Config(vocab_size=vocab_size, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.n_layers,
                       num_attention_heads=cfg.n_heads, num_key_value_heads=cfg.n_kv_heads,
                       head_dim=cfg.head_dim or cfg.hidden_size // cfg.n_heads,
                       intermediate_size=cfg.intermediate_size,
                       max_position_embeddings=cfg.max_position_embeddings,
                       eos_token_id=eos_id, pad_token_id=pad_id, bos_token_id=None)


def build_llm(cfg: LLMConfig, tokenizer) -> nn.Module:
    """The causal LM: from ``cfg.path`` (offline) or freshly initialised; embeddings sized to the tokenizer."""
    from transformers import AutoModelForCausalLM

    eos = tokenizer.convert_tokens_to_ids(END_OF_MESSAGE)
    if cfg.path:
        if not Path(cfg.path).is_dir():
            raise Llm2FxError(f"LLM path {cfg.path} is not a local directory (nothing is downloaded)")
        llm = AutoModelForCausalLM.from_pretrained(cfg.path, local_files_only=True, dtype="auto")
        if llm.get_input_embeddings().weight.shape[0] < len(tokenizer):
            llm.resize_token_embeddings(len(tokenizer))
    else:
        vocab = max(len(tokenizer), cfg.vocab_size or 0)
        llm = AutoModelForCausalLM.from_config(qwen3_config(cfg, vocab, eos, tokenizer.pad_token_id))
    llm.generation_config.eos_token_id = eos
    llm.generation_config.pad_token_id = tokenizer.pad_token_id
    if cfg.gradient_checkpointing:
        llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.lora_rank:
        from peft import LoraConfig, get_peft_model

        llm = get_peft_model(llm, LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha,
                                             lora_dropout=cfg.lora_dropout,
                                             target_modules=list(cfg.lora_targets), task_type="CAUSAL_LM"))
    return llm


class Llm2FxModel(nn.Module):
    """Audio-conditioned Qwen3. ``forward(**batch)`` gives ``{"loss", "ce", "ntl", "logits"}``.

    Parameters
    ----------
    cfg : ModelConfig
    tokenizer : PreTrainedTokenizerFast
        With the dialogue format's tokens (:mod:`llm2fx_lab.model.tokenizer`).
    llm : nn.Module, optional
        A ready causal LM (default: built from ``cfg.llm``).
    allow_random_encoder : bool
        Allow Fx-Encoder++ with random weights (tests, benchmarks).
    """

    def __init__(self, cfg: ModelConfig, tokenizer, llm: nn.Module | None = None,
                 allow_random_encoder: bool = False):
        super().__init__()
        self.cfg, self.tokenizer = cfg, tokenizer
        self.llm = llm if llm is not None else build_llm(cfg.llm, tokenizer)
        hidden = self.llm.get_input_embeddings().weight.shape[1]
        self.encoder = build_encoder(cfg.encoder, allow_random_encoder)
        self.adapter = QueryAdapter(cfg.adapter, cfg.encoder.dim, hidden)
        self.pair = PairComparison(cfg.encoder) if cfg.encoder.pair_tokens else None
        self.pair_adapter = (QueryAdapter(cfg.adapter, cfg.encoder.dim, hidden, cfg.encoder.n_pair_queries)
                             if cfg.encoder.pair_tokens else None)
        with torch.no_grad():
            spread = float(self.llm.get_input_embeddings().weight.float().std())
            for a in (self.adapter, self.pair_adapter):
                if a is not None:
                    a.out_scale.fill_(spread)
        # training-only auxiliary probe (TrainConfig.aux_coef): pooled dry/reference/comparison
        # tokens -> module presence logits and normalised parameters
        self.chain_probe = (nn.Sequential(nn.LayerNorm(3 * hidden), nn.Linear(3 * hidden, 256), nn.GELU(),
                                          nn.Linear(256, N_CHAIN_TARGETS))
                            if cfg.train.aux_coef > 0 else None)
        self.audio_pad_id = tokenizer.convert_tokens_to_ids(AUDIO_PAD_TOKEN)
        self.eos_id = tokenizer.convert_tokens_to_ids(END_OF_MESSAGE)
        self.digit_ids = digit_token_ids(tokenizer) if cfg.train.ntl_coef > 0 else None
        self.set_stage(1)

    # ---- parameters and stages ---------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.adapter.queries.device

    @property
    def encoder_trainable(self) -> bool:
        return self.cfg.encoder.kind == "builtin" and self.cfg.encoder.trainable

    def set_stage(self, stage: int) -> None:
        """Stage 1: encoder (builtin) + adapters train, LLM frozen. Stage 2: also LoRA (or the full LLM)."""
        if stage not in (1, 2):
            raise Llm2FxError(f"stage must be 1 or 2, got {stage}")
        self.stage = stage
        for p in self.parameters():
            p.requires_grad_(False)
        for m in (self.adapter, self.pair, self.pair_adapter, self.chain_probe,
                  self.encoder if self.encoder_trainable else None):
            if m is not None:
                for p in m.parameters():
                    p.requires_grad_(True)
        if stage == 2:
            for name, p in self.llm.named_parameters():
                if not self.cfg.llm.lora_rank or "lora_" in name:
                    p.requires_grad_(True)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    # ---- audio -> embeddings -> inputs_embeds ------------------------------------------------

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """A frozen encoder (Fx-Encoder++) on waveforms; the built-in one goes through
        :meth:`audio_features` and ``encoder.embed`` instead."""
        self.encoder.eval()
        with torch.no_grad():
            return self.encoder(x)

    def audio_features(self, reference: torch.Tensor, dry: torch.Tensor | None = None,
                       has_dry: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The parameter-free encoder inputs of a batch (:func:`~llm2fx_lab.model.encoders.audio_features`)."""
        if self.cfg.encoder.kind != "builtin":
            raise Llm2FxError("cached audio features need the built-in encoder; "
                              f"this model uses {self.cfg.encoder.kind!r}")
        return audio_features(self.encoder, self.pair, reference.to(self.device),
                              None if dry is None else dry.to(self.device), _has_dry(has_dry, dry, reference.shape[0]))

    def audio_embeddings(self, reference: torch.Tensor | None = None, dry: torch.Tensor | None = None,
                         has_dry: torch.Tensor | None = None,
                         audio_features: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """All rows' audio embeddings, flattened in prompt order: ``(total_slots, hidden)``.

        From waveforms, or from ``audio_features`` (:meth:`audio_features`, built-in encoder).
        """
        return self._flatten(*self._audio_tokens(reference, dry, has_dry, audio_features))

    def audio_embeddings_and_presence(self, reference: torch.Tensor, dry: torch.Tensor | None = None,
                                      has_dry: torch.Tensor | None = None
                                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`audio_embeddings` and, from the same audio tokens, the presence head's
        probabilities ``(B, 9)`` in toolset order (None when the model has no chain probe)."""
        groups = self._audio_tokens(reference, dry, has_dry, None)
        presence = None
        if self.chain_probe is not None:
            presence = torch.sigmoid(self.probe(*groups)[:, :N_MODULES])
        return self._flatten(*groups), presence

    def _audio_tokens(self, reference, dry, has_dry, audio_features):
        """(reference tokens (B, Q, H), dry tokens of the rows with dry, comparison tokens of those
        rows or None, the indices of those rows)."""
        if audio_features is None and self.cfg.encoder.kind == "builtin":
            audio_features = self.audio_features(reference, dry, has_dry)
        if audio_features is not None:
            f = {k: v.to(self.device) for k, v in audio_features.items()}
            B = f["ref_frames"].shape[0]
            has_dry = _has_dry(has_dry, dry, B)  # the collator always passes has_dry with features
            rows_dry = has_dry.nonzero().flatten().tolist()
            frames = torch.cat([f["ref_frames"], f["dry_frames"][rows_dry]])
            stats = torch.cat([f["ref_stats"], f["dry_stats"][rows_dry]])
            tokens = self.adapter(self.encoder.embed(frames, stats))
            pair_tok = None
            if self.pair is not None and rows_dry:
                pair_tok = self.pair_adapter(self.pair.embed(f["pair_frames"][rows_dry], f["pair_tf"][rows_dry],
                                                             f["pair_env"][rows_dry]))
        else:
            B = reference.shape[0]
            has_dry = _has_dry(has_dry, dry, B)
            rows_dry = has_dry.nonzero().flatten().tolist()
            clips = torch.cat([reference, dry[rows_dry]]) if rows_dry else reference
            tokens = self.adapter(self.encode(clips.to(self.device)))
            pair_tok = None
            if self.pair is not None and rows_dry:
                d, r = dry[rows_dry].to(self.device), reference[rows_dry].to(self.device)
                pair_tok = self.pair_adapter(self.pair(d, r))
        return tokens[:B], tokens[B:], pair_tok, rows_dry

    @staticmethod
    def _flatten(ref_tok, dry_tok, pair_tok, rows_dry) -> torch.Tensor:
        B = ref_tok.shape[0]
        parts, j = [], 0
        for i in range(B):
            if i in rows_dry:
                parts += [dry_tok[j], ref_tok[i]] + ([pair_tok[j]] if pair_tok is not None else [])
                j += 1
            else:
                parts.append(ref_tok[i])
        return torch.cat(parts, 0)

    def inputs_embeds(self, input_ids: torch.Tensor, audio: torch.Tensor,
                      has_dry: torch.Tensor | None = None) -> torch.Tensor:
        """Token embeddings with ``audio`` written over the ``<|audio_pad|>`` positions, in order."""
        emb = self.llm.get_input_embeddings()(input_ids)
        mask = input_ids == self.audio_pad_id
        counts = mask.sum(1).tolist()
        if has_dry is not None:
            for i, (c, d) in enumerate(zip(counts, has_dry.tolist())):
                want = n_audio_slots(self.cfg, bool(d))
                if c != want:
                    raise ToolCallError(f"row {i} has {c} audio placeholders ({AUDIO_PAD_TOKEN}); this model "
                                        f"expects {want} (expand the prompt with llm2fx_lab.model.inputs.audio_layout)")
        if sum(counts) != audio.shape[0]:
            raise ToolCallError(f"{sum(counts)} audio placeholders for {audio.shape[0]} audio embeddings")
        return emb.masked_scatter(mask.unsqueeze(-1), audio.to(emb.dtype))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, reference: torch.Tensor | None = None,
                dry: torch.Tensor | None = None, has_dry: torch.Tensor | None = None,
                labels: torch.Tensor | None = None,
                audio_features: dict[str, torch.Tensor] | None = None,
                chain_targets: torch.Tensor | None = None) -> dict[str, Any]:
        """Logits (and losses with ``labels``) from token ids and audio: waveforms
        (``reference``, ``dry``) or precomputed ``audio_features``."""
        if reference is None and audio_features is None:
            raise Llm2FxError("forward needs the reference audio or precomputed audio_features")
        has_dry = _has_dry(has_dry, dry, input_ids.shape[0])
        groups = self._audio_tokens(reference, dry, has_dry, audio_features)
        out: dict[str, Any] = {}
        probed = self.chain_probe is not None and chain_targets is not None and labels is not None
        if probed:
            out["probe"] = self.probe(*groups)
            out["aux"] = chain_probe_loss(out["probe"], chain_targets.to(out["probe"].device))
            if self.stage == 1 and not self.cfg.train.stage1_language_loss:
                zero = out["aux"].new_zeros(())
                return out | {"ce": zero, "ntl": zero, "loss": self.cfg.train.aux_coef * out["aux"]}
        embeds = self.inputs_embeds(input_ids, self._flatten(*groups), has_dry)
        out["logits"] = logits = self.llm(inputs_embeds=embeds, attention_mask=attention_mask).logits
        if labels is not None:
            ce, ntl = causal_lm_losses(logits, labels, self.digit_ids)
            loss = ce + self.cfg.train.ntl_coef * ntl
            out.update(ce=ce, ntl=ntl, loss=loss + self.cfg.train.aux_coef * out["aux"] if probed else loss)
        return out

    def probe(self, ref_tok, dry_tok, pair_tok, rows_dry) -> torch.Tensor:
        """The auxiliary probe's raw outputs ``(B, 35)``: 9 presence logits, 26 parameter logits
        (sigmoid gives the normalised value). Rows without dry pool zeros for dry and comparison."""
        B = ref_tok.shape[0]
        # the adapters scale their output to the embedding spread (~0.02): undo it before the probe
        scale = self.adapter.out_scale.abs().clamp_min(1e-6)
        pooled_dry = ref_tok.new_zeros(B, ref_tok.shape[-1])
        pooled_pair = ref_tok.new_zeros(B, ref_tok.shape[-1])
        if rows_dry:
            idx = torch.tensor(rows_dry, device=ref_tok.device)
            pooled_dry = pooled_dry.index_copy(0, idx, dry_tok.mean(1) / scale)
            if pair_tok is not None:
                pair_scale = self.pair_adapter.out_scale.abs().clamp_min(1e-6)
                pooled_pair = pooled_pair.index_copy(0, idx, pair_tok.mean(1) / pair_scale)
        return self.chain_probe(torch.cat([ref_tok.mean(1) / scale, pooled_dry, pooled_pair], -1).float())

    # ---- checkpoints ---------------------------------------------------------------------------

    def _saved_modules(self) -> dict[str, nn.Module | None]:
        """The non-LLM modules a checkpoint holds, by key prefix (None: absent in this config)."""
        return {"adapter": self.adapter, "pair": self.pair, "pair_adapter": self.pair_adapter,
                "chain_probe": self.chain_probe, "encoder": self.encoder if self.encoder_trainable else None}

    def weights_state_dict(self) -> dict[str, torch.Tensor]:
        """What a checkpoint holds (frozen Fx-Encoder++ and a LoRA base model are not saved)."""
        state: dict[str, torch.Tensor] = {}
        for prefix, m in self._saved_modules().items():
            if m is not None:
                state.update({f"{prefix}.{k}": v for k, v in m.state_dict().items()})
        if self.cfg.llm.lora_rank:
            from peft import get_peft_model_state_dict

            state.update({f"lora.{k}": v for k, v in get_peft_model_state_dict(self.llm).items()})
        else:
            state.update({f"llm.{k}": v for k, v in self.llm.state_dict().items()})
        # clone: tied embeddings share storage, which safetensors refuses
        return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}

    def save_pretrained(self, path: str | Path) -> Path:
        """Write ``config.json``, ``model.safetensors`` and ``tokenizer/`` into ``path``."""
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(json.dumps({"format": FORMAT, "version": 1,
                                                      "config": self.cfg.to_dict()}, indent=2))
        save_file(self.weights_state_dict(), str(path / WEIGHTS_NAME),
                  metadata={"format": FORMAT, "preset": self.cfg.name})
        self.tokenizer.save_pretrained(str(path / "tokenizer"))
        return path

    def load_weights(self, file: str | Path) -> None:
        """Load a ``model.safetensors`` written by :meth:`save_pretrained` into this model."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        file = Path(file)
        if file.suffix != ".safetensors":
            raise Llm2FxError(f"{file} is not a .safetensors file; llm2fx-lab loads model weights only "
                              "from safetensors (no pickle)")
        try:
            with safe_open(str(file), "pt") as f:
                meta = f.metadata() or {}
        except Exception as e:  # noqa: BLE001 - any parse failure: not a valid safetensors file
            raise Llm2FxError(f"{file} is not a valid safetensors file ({e})") from None
        if meta.get("preset") and meta["preset"] != self.cfg.name:
            raise Llm2FxError(f"{file} is a checkpoint of preset {meta['preset']!r}; this model is "
                              f"{self.cfg.name!r}")
        state = load_file(str(file), device=str(self.device))
        ours = self.weights_state_dict()
        missing, unexpected = sorted(set(ours) - set(state)), sorted(set(state) - set(ours))
        wrong = [k for k in set(ours) & set(state) if ours[k].shape != state[k].shape]
        if missing or unexpected or wrong:
            raise Llm2FxError(f"{file} does not fit this {self.cfg.name!r} model: {len(missing)} missing "
                              f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]}), "
                              f"{len(wrong)} of another shape (e.g. {sorted(wrong)[:2]})")
        for prefix, m in self._saved_modules().items():
            if m is not None:
                m.load_state_dict({k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")})
        if self.cfg.llm.lora_rank:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.llm, {k[5:]: v for k, v in state.items() if k.startswith("lora.")})
        else:
            self.llm.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("llm.")})

    @classmethod
    def from_pretrained(cls, path: str | Path, preset: str | None = None, device: str | None = None,
                        **overrides: Any) -> "Llm2FxModel":
        """Load a directory written by :meth:`save_pretrained`; ``preset`` must match if given.

        ``overrides`` replace config sections (e.g. ``encoder={"weights_path": ...}``).
        """
        path = Path(path)
        if path.is_file():
            raise Llm2FxError(f"{path} is a file; pass the checkpoint directory (config.json, "
                              f"{WEIGHTS_NAME}, tokenizer/)")
        if not (path / "config.json").is_file():
            raise Llm2FxError(f"no model checkpoint at {path}: config.json missing")
        if not (path / WEIGHTS_NAME).is_file():
            other = sorted(p.name for p in path.glob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
            hint = f" (found {other}: only safetensors weights are loaded)" if other else ""
            raise Llm2FxError(f"no {WEIGHTS_NAME} in {path}{hint}")
        meta = json.loads((path / "config.json").read_text())
        if meta.get("format") != FORMAT:
            raise Llm2FxError(f"{path}/config.json is not an llm2fx-lab model config")
        cfg = ModelConfig.from_dict(meta["config"])
        if preset is not None and cfg.name != preset:
            raise Llm2FxError(f"{path} holds a {cfg.name!r} checkpoint, not {preset!r}")
        if overrides:
            cfg = cfg.replace(**overrides)
        model = cls(cfg, load_tokenizer(path / "tokenizer"))
        if device:
            model.to(device)
        model.load_weights(path / WEIGHTS_NAME)
        return model.eval()
