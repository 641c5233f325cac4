"""Fast greedy decoding for the Qwen3 language model: fused weights, one preallocated KV cache.

``transformers``' ``generate`` spends most of each step outside the arithmetic when the model
is small: on the embedded ``mini`` model (4 layers, hidden size 192) one cached forward pass
costs about 5 ms on this project's 2-core CPU machine, of which the matrix products are a
small part (``benchmarks/model.py`` measures both paths). :class:`Qwen3Decoder` runs the same
computation as ``Qwen3ForCausalLM`` (``transformers/models/qwen3/modeling_qwen3.py``:
RMSNorm before attention and MLP, per-head RMSNorm of queries and keys, rotary embeddings,
grouped-query attention, SiLU-gated MLP, final norm and LM head) with the query/key/value and
gate/up projections fused into one matrix each and the keys and values written into one
preallocated cache, so a step is a handful of tensor operations.

:func:`greedy_generate` is the decoding loop of ``generate(do_sample=False)``: scores in
float32, logits processors applied to the generated ids (prompt given as embeddings, as
:func:`~llm2fx_lab.model.generate.estimate_stream` does), argmax, the token streamed, then the
end-of-message token, ``max_new_tokens`` or a stop request ends it. Tests check the logits
against ``transformers`` at every step and the generated text against ``generate``.

On CUDA each single-token step is one replay of a CUDA graph (captured after the prompt, once
per sequence): a step of a large model launches hundreds of small kernels, and on a slow host
launching them from Python, not the GPU, sets the pace. The captured step has fixed shapes (the
position is a tensor, the cache is written with ``index_copy_`` and attention covers the whole
cache under a mask); it computes what the eager step computes, tested on both devices.
``LLM2FX_CUDA_GRAPHS=0`` turns it off.

Only what this computation covers is accepted (:func:`unsupported_reason` names anything
else: a peft/LoRA wrapper, another architecture, rotary scaling, sliding windows, attention
biases, generation settings that add logits processors); callers fall back to ``generate``.
"""

from __future__ import annotations

import copy
import os
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from llm2fx_lab.errors import Llm2FxError

#: Generation-config fields whose non-default values make ``generate`` add logits processors
#: or change the search; with any of them set, decoding goes through ``generate``.
_GENERATION_FIELDS = ("repetition_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size",
                      "bad_words_ids", "min_length", "min_new_tokens", "forced_bos_token_id",
                      "forced_eos_token_id", "suppress_tokens", "begin_suppress_tokens", "sequence_bias",
                      "exponential_decay_length_penalty", "renormalize_logits", "num_beams",
                      "guidance_scale", "watermarking_config")


def unsupported_reason(llm: torch.nn.Module) -> str | None:
    """Why :class:`Qwen3Decoder` cannot run ``llm`` exactly, or ``None`` when it can."""
    if hasattr(llm, "peft_config") or hasattr(llm, "get_base_model"):
        return "the language model is wrapped by peft (LoRA); merged weights are not built here"
    cfg = getattr(llm, "config", None)
    if getattr(cfg, "model_type", None) != "qwen3" or not hasattr(llm, "model") or not hasattr(llm, "lm_head"):
        return f"the language model is not a Qwen3ForCausalLM (model_type {getattr(cfg, 'model_type', None)!r})"
    rope = getattr(cfg, "rope_parameters", None) or {"rope_type": "default"}
    if rope.get("rope_type", "default") != "default":
        return f"rotary scaling {rope.get('rope_type')!r} is not implemented (only 'default')"
    if any(t != "full_attention" for t in (getattr(cfg, "layer_types", None) or ())):
        return "sliding-window layers are not implemented"
    if getattr(cfg, "attention_bias", False):
        return "attention biases are not implemented"
    if getattr(cfg, "hidden_act", "silu") != "silu":
        return f"activation {cfg.hidden_act!r} is not implemented (only 'silu')"
    gen = getattr(llm, "generation_config", None)
    if gen is not None:
        from transformers import GenerationConfig

        default = GenerationConfig()
        changed = [f for f in _GENERATION_FIELDS if getattr(gen, f, None) != getattr(default, f, None)]
        if changed:
            return f"the model's generation config sets {', '.join(changed)}"
    return None


#: Models with at most this many parameters are decoded on one CPU thread: their steps are too
#: small to share, and a streamed estimate's consumer thread needs the other core (the mini
#: decodes faster that way on 2 cores; docs/decisions.md).
SINGLE_THREAD_MAX_PARAMS = 50_000_000

#: Environment variable: ``0`` turns off CUDA-graph steps (eager steps on CUDA, as on the CPU).
CUDA_GRAPHS_ENV = "LLM2FX_CUDA_GRAPHS"


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # Qwen3RMSNorm: normalise in float32, cast back, then scale
    if x.dtype == torch.float32:
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _versions(params: Sequence[torch.Tensor]) -> tuple:
    return tuple((id(p), p._version) for p in params)


class Qwen3Decoder:
    """Batch-1 prefill and single-token steps of a ``Qwen3ForCausalLM`` (see the module docstring).

    The fused weights are copies: :func:`decoder_for` rebuilds the decoder when a parameter
    of the model changes (in-place updates bump a tensor's version counter).

    Parameters
    ----------
    llm : Qwen3ForCausalLM
        Refused with :class:`~llm2fx_lab.errors.Llm2FxError` naming the reason when
        :func:`unsupported_reason` gives one.
    """

    def __init__(self, llm: torch.nn.Module) -> None:
        reason = unsupported_reason(llm)
        if reason:
            raise Llm2FxError(f"fast decoding is not available: {reason}; use decoder='hf'")
        cfg = llm.config
        params = list(llm.parameters())
        self.versions = _versions(params)
        self.single_thread = sum(p.numel() for p in params) <= SINGLE_THREAD_MAX_PARAMS
        self.n_heads, self.n_kv, self.head_dim = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.eps, self.inner = cfg.rms_norm_eps, cfg.intermediate_size
        self.scale = self.head_dim ** -0.5
        self.embed = llm.get_input_embeddings().weight
        self.inv_freq = llm.model.rotary_emb.inv_freq.float()
        self.rope_scale = float(llm.model.rotary_emb.attention_scaling)
        self.norm, self.lm_head = llm.model.norm.weight, llm.lm_head.weight
        with torch.no_grad():
            self.layers = [dict(
                ln1=layer.input_layernorm.weight, ln2=layer.post_attention_layernorm.weight,
                q_norm=layer.self_attn.q_norm.weight, k_norm=layer.self_attn.k_norm.weight,
                qkv=torch.cat([layer.self_attn.q_proj.weight, layer.self_attn.k_proj.weight,
                               layer.self_attn.v_proj.weight]),
                o=layer.self_attn.o_proj.weight,
                gate_up=torch.cat([layer.mlp.gate_proj.weight, layer.mlp.up_proj.weight]),
                down=layer.mlp.down_proj.weight) for layer in llm.model.layers]
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.cos = self.sin = self.slots = torch.empty(0)
        self.position = 0
        self._graph: torch.cuda.CUDAGraph | None = None

    def _rope(self, length: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Qwen3RotaryEmbedding: angles position * inv_freq in float32, duplicated, cos/sin cast to the model's dtype
        pos = torch.arange(length, device=like.device, dtype=torch.float32)
        freqs = pos[:, None] * self.inv_freq.to(like.device)[None]
        emb = torch.cat((freqs, freqs), dim=-1)
        return (emb.cos() * self.rope_scale).to(like.dtype), (emb.sin() * self.rope_scale).to(like.dtype)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        t, p = x.shape[1], self.position
        if p + t > self.keys[0].shape[2]:
            raise Llm2FxError(f"the KV cache holds {self.keys[0].shape[2]} positions; {p + t} were asked for")
        cos, sin = self.cos[p:p + t], self.sin[p:p + t]
        nq, nkv, hd = self.n_heads, self.n_kv, self.head_dim
        for k_cache, v_cache, w in zip(self.keys, self.values, self.layers):
            qkv = F.linear(_rms(x, w["ln1"], self.eps), w["qkv"]).view(1, t, nq + 2 * nkv, hd)
            q = _rms(qkv[:, :, :nq], w["q_norm"], self.eps).transpose(1, 2)
            k = _rms(qkv[:, :, nq:nq + nkv], w["k_norm"], self.eps).transpose(1, 2)
            v = qkv[:, :, nq + nkv:].transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            k_cache[:, :, p:p + t] = k
            v_cache[:, :, p:p + t] = v
            o = F.scaled_dot_product_attention(q, k_cache[:, :, :p + t], v_cache[:, :, :p + t],
                                               is_causal=t > 1, scale=self.scale, enable_gqa=nkv != nq)
            x = x + F.linear(o.transpose(1, 2).reshape(1, t, nq * hd), w["o"])
            gate_up = F.linear(_rms(x, w["ln2"], self.eps), w["gate_up"])
            x = x + F.linear(F.silu(gate_up[..., :self.inner]) * gate_up[..., self.inner:], w["down"])
        self.position = p + t
        return F.linear(_rms(x[:, -1:], self.norm, self.eps), self.lm_head)[:, 0].float()

    @torch.no_grad()
    def prefill(self, embeds: torch.Tensor, max_length: int) -> torch.Tensor:
        """Start a sequence from prompt embeddings ``(1, T, hidden)``; the next token's logits ``(1, vocab)``.

        ``max_length`` is the number of positions the cache holds (prompt plus new tokens).
        """
        if embeds.ndim != 3 or embeds.shape[0] != 1 or embeds.shape[1] < 1:
            raise Llm2FxError(f"prefill takes embeddings of shape (1, T >= 1, hidden), got {tuple(embeds.shape)}")
        x = embeds.to(self.embed.dtype)
        shape = (1, self.n_kv, int(max_length), self.head_dim)
        self.keys = [torch.zeros(shape, dtype=x.dtype, device=x.device) for _ in self.layers]
        self.values = [torch.zeros_like(k) for k in self.keys]
        self.cos, self.sin = self._rope(int(max_length), x)
        self.slots = torch.arange(int(max_length), device=x.device)
        self.position = 0
        self._graph = None  # a new cache: a captured step would write into the old one
        return self._forward(x)

    @torch.no_grad()
    def step(self, token_id: int) -> torch.Tensor:
        """Append one token; the next token's logits ``(1, vocab)``."""
        if not self.keys:
            raise Llm2FxError("step() before prefill()")
        if self.keys[0].device.type == "cuda" and os.environ.get(CUDA_GRAPHS_ENV, "1") != "0":
            return self._graph_step(token_id)
        return self._forward(self.embed[token_id].view(1, 1, -1))

    def static_step(self, token: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """One token at ``position`` with every shape fixed (what a CUDA graph captures).

        ``token``, ``position``: long tensors of shape ``(1,)`` on the model's device. Writes the
        cache at ``position`` and returns the next token's logits ``(1, vocab)``; does not move
        :attr:`position` (the caller does).
        """
        x = F.embedding(token, self.embed).view(1, 1, -1)
        cos, sin = self.cos.index_select(0, position), self.sin.index_select(0, position)
        mask = (self.slots <= position).view(1, 1, 1, -1)
        nq, nkv, hd = self.n_heads, self.n_kv, self.head_dim
        for k_cache, v_cache, w in zip(self.keys, self.values, self.layers):
            qkv = F.linear(_rms(x, w["ln1"], self.eps), w["qkv"]).view(1, 1, nq + 2 * nkv, hd)
            q = _rms(qkv[:, :, :nq], w["q_norm"], self.eps).transpose(1, 2)
            k = _rms(qkv[:, :, nq:nq + nkv], w["k_norm"], self.eps).transpose(1, 2)
            v = qkv[:, :, nq + nkv:].transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            k_cache.index_copy_(2, position, k)
            v_cache.index_copy_(2, position, v)
            o = F.scaled_dot_product_attention(q, k_cache, v_cache, attn_mask=mask, scale=self.scale,
                                               enable_gqa=nkv != nq)
            x = x + F.linear(o.transpose(1, 2).reshape(1, 1, nq * hd), w["o"])
            gate_up = F.linear(_rms(x, w["ln2"], self.eps), w["gate_up"])
            x = x + F.linear(F.silu(gate_up[..., :self.inner]) * gate_up[..., self.inner:], w["down"])
        return F.linear(_rms(x, self.norm, self.eps), self.lm_head)[:, 0].float()

    def _graph_step(self, token_id: int) -> torch.Tensor:
        p = self.position
        if p + 1 > self.keys[0].shape[2]:
            raise Llm2FxError(f"the KV cache holds {self.keys[0].shape[2]} positions; {p + 1} were asked for")
        if self._graph is None:
            dev = self.keys[0].device
            self._token = torch.tensor([token_id], dtype=torch.long, device=dev)
            self._position = torch.tensor([p], dtype=torch.long, device=dev)
            # warm-up on a side stream before capture (torch.cuda.graphs' rule); it computes this
            # very step, so the cache entries it writes are the ones the replay writes again
            side = torch.cuda.Stream(dev)
            side.wait_stream(torch.cuda.current_stream(dev))
            with torch.cuda.stream(side):
                self.static_step(self._token, self._position)
            torch.cuda.current_stream(dev).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._logits = self.static_step(self._token, self._position)
            self._graph = graph
        self._token.fill_(int(token_id))
        self._position.fill_(p)
        self._graph.replay()
        self.position = p + 1
        return self._logits.clone()  # the graph's output buffer is overwritten by the next replay


def decoder_for(llm: torch.nn.Module) -> Qwen3Decoder:
    """The model's :class:`Qwen3Decoder`, built once and rebuilt when its weights change."""
    cached = getattr(llm, "_llm2fx_decoder", None)
    if cached is None or cached.versions != _versions(list(llm.parameters())):
        cached = Qwen3Decoder(llm)
        object.__setattr__(llm, "_llm2fx_decoder", cached)  # a plain attribute, not a submodule
    return cached


def greedy_generate(llm: torch.nn.Module, embeds: torch.Tensor, max_new_tokens: int, eos_id: int | Sequence[int],
                    logits_processor: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                    should_stop: Callable[[], bool] | None = None,
                    on_token: Callable[[int], None] | None = None) -> list[int]:
    """Greedy decoding from prompt embeddings, as ``llm.generate(inputs_embeds=..., do_sample=False)``.

    Parameters
    ----------
    embeds : tensor (1, T, hidden)
    max_new_tokens : int
    eos_id : int or sequence of int
        Generation ends after one of these is emitted (it is included).
    logits_processor : callable, optional
        ``(generated_ids (1, n), scores (1, vocab) float32) -> scores``, as ``transformers``'
        logits processors (e.g. :class:`~llm2fx_lab.model.generate.LoopGuard`).
    should_stop : callable, optional
        Checked after each token (which is kept and streamed), like a stopping criterion.
    on_token : callable, optional
        Called with each new token id as soon as it is chosen (streaming).

    Returns
    -------
    list of int
        The generated token ids.
    """
    if max_new_tokens < 1:
        raise Llm2FxError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    eos = {int(eos_id)} if isinstance(eos_id, int) else {int(e) for e in eos_id}
    # a shallow copy: the fused weights are shared, the KV cache and position are this call's own
    # (prefill assigns new ones), so concurrent calls on one model do not mix and the cache is freed
    dec = copy.copy(decoder_for(llm))
    threads = torch.get_num_threads()
    if dec.single_thread and embeds.device.type == "cpu":
        torch.set_num_threads(1)  # per calling thread with OpenMP; restored below
    try:
        return _greedy(dec, embeds, max_new_tokens, eos, logits_processor, should_stop, on_token)
    finally:
        torch.set_num_threads(threads)


def _greedy(dec: Qwen3Decoder, embeds: torch.Tensor, max_new_tokens: int, eos: set[int],
            logits_processor, should_stop, on_token) -> list[int]:
    logits = dec.prefill(embeds, embeds.shape[1] + max_new_tokens)
    ids = torch.empty((1, 0), dtype=torch.long, device=embeds.device)
    out: list[int] = []
    for n in range(max_new_tokens):
        scores = logits if logits_processor is None else logits_processor(ids, logits)
        token = int(torch.argmax(scores, dim=-1)[0])
        out.append(token)
        ids = torch.cat([ids, torch.tensor([[token]], dtype=torch.long, device=ids.device)], dim=1)
        if on_token is not None:
            on_token(token)
        if token in eos or n + 1 == max_new_tokens or (should_stop is not None and should_stop()):
            break
        logits = dec.step(token)
    return out
