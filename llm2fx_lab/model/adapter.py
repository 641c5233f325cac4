"""The adapter: learnable queries attending to audio features, projected to the LLM width.

As in the paper: ``n_queries`` (32) learnable query embeddings, a stack of blocks each with
cross-attention (queries attend to the encoder features) and a GEGLU feed-forward layer,
pre-norm residuals, no self-attention among the queries; then a linear projection into the
LLM's embedding size. Every block has its own weights (the public code reuses one block's
weights by mistake; we do not).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from llm2fx_lab.model.config import AdapterConfig


class GEGLU(nn.Module):
    """``W2 (gelu(x W_gate) * (x W_up))``."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.proj_in = nn.Linear(dim, 2 * hidden)
        self.proj_out = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.proj_in(x).chunk(2, dim=-1)
        return self.proj_out(self.dropout(F.gelu(gate) * up))


class CrossAttentionBlock(nn.Module):
    """``q += attn(norm(q), norm(kv)); q += geglu(norm(q))``."""

    def __init__(self, cfg: AdapterConfig):
        super().__init__()
        self.norm_q = nn.LayerNorm(cfg.dim)
        self.norm_kv = nn.LayerNorm(cfg.dim)
        self.attn = nn.MultiheadAttention(cfg.dim, cfg.n_heads, dropout=cfg.dropout, batch_first=True)
        self.norm_ff = nn.LayerNorm(cfg.dim)
        self.ff = GEGLU(cfg.dim, cfg.ffn_mult * cfg.dim, cfg.dropout)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(kv)
        q = q + self.attn(self.norm_q(q), kv, kv, need_weights=False)[0]
        return q + self.ff(self.norm_ff(q))


class QueryAdapter(nn.Module):
    """``forward(features (B, frames, in_dim)) -> (B, n_queries, out_dim)``.

    Parameters
    ----------
    cfg : AdapterConfig
    in_dim : int
        Encoder feature size.
    out_dim : int
        LLM hidden size.
    n_queries : int, optional
        Overrides ``cfg.n_queries`` (the pair-comparison group uses fewer).
    """

    def __init__(self, cfg: AdapterConfig, in_dim: int, out_dim: int, n_queries: int | None = None):
        super().__init__()
        self.cfg = cfg
        n = cfg.n_queries if n_queries is None else n_queries
        self.queries = nn.Parameter(torch.randn(n, cfg.dim) * 0.02)
        self.proj_in = nn.Linear(in_dim, cfg.dim)
        self.blocks = nn.ModuleList(CrossAttentionBlock(cfg) for _ in range(cfg.n_layers))
        self.norm_out = nn.LayerNorm(cfg.dim)
        self.proj_out = nn.Linear(cfg.dim, out_dim)
        # Output scale (learned): the LLM sets it to its token embeddings' spread, so audio
        # tokens start at the size of text tokens instead of ~30x larger.
        self.out_scale = nn.Parameter(torch.ones(()))

    @property
    def n_queries(self) -> int:
        return self.queries.shape[0]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        kv = self.proj_in(features)
        q = self.queries.unsqueeze(0).expand(features.shape[0], -1, -1).to(kv.dtype)
        for block in self.blocks:
            q = block(q, kv)
        return self.proj_out(self.norm_out(q)) * self.out_scale
