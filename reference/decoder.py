"""A decoder stack (Gemma or Qwen family) whose layers expose the two halves that shared attention needs:
`project` (norm, q/k/v, q/k norm, RoPE) and `finish` (o_proj, gated residual, norm, MLP, gated residual).

Parameter names match Hugging Face checkpoints (`layers.N.self_attn.q_proj`, `layers.N.mlp.gate_proj`, ...).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from models.config import DecoderConfig

from models.masks import additive_mask
from models.positional import rope_tables

from .attention import apply_rope, attend
from .gemma import GemmaMLP, GemmaRMSNorm
from .qwen import QwenMLP, QwenRMSNorm

_FAMILY_BLOCKS = {"gemma": (GemmaRMSNorm, GemmaMLP), "qwen": (QwenRMSNorm, QwenMLP)}


class AdaptiveRMSNorm(nn.Module):
    """pi0.5's adaptive RMSNorm: a dense layer of the condition gives scale, shift and a residual gate."""

    def __init__(self, dim: int, cond_dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.dense = nn.Linear(cond_dim, 3 * dim)

    def forward(self, x_BSD: torch.Tensor, cond_BC: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        variance = x_BSD.float().pow(2).mean(-1, keepdim=True)
        normed = x_BSD * torch.rsqrt(variance + self.eps)
        scale, shift, gate = self.dense(cond_BC)[:, None].chunk(3, dim=-1)
        return (normed * (1 + scale.float()) + shift.float()).to(x_BSD.dtype), gate.to(x_BSD.dtype)


def _make_norm(cfg: DecoderConfig, dim: int) -> nn.Module:
    if cfg.adarms:
        return AdaptiveRMSNorm(dim, cfg.adarms_cond_dim, cfg.norm_eps)
    return _FAMILY_BLOCKS[cfg.family][0](dim, cfg.norm_eps)


def _norm_and_gate(norm: nn.Module, x: torch.Tensor, cond: torch.Tensor | None):
    if isinstance(norm, AdaptiveRMSNorm):
        return norm(x, cond)
    return norm(x), None


def _gated_residual(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor | None) -> torch.Tensor:
    return x + y if gate is None else x + y * gate


class SelfAttentionProjections(nn.Module):
    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        norm_cls = _FAMILY_BLOCKS[cfg.family][0]
        self.num_heads, self.num_kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.width, cfg.num_heads * cfg.head_dim, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(cfg.width, cfg.num_kv_heads * cfg.head_dim, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(cfg.width, cfg.num_kv_heads * cfg.head_dim, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(cfg.num_heads * cfg.head_dim, cfg.width, bias=False)
        if cfg.qk_norm:
            self.q_norm = norm_cls(cfg.head_dim, cfg.norm_eps)
            self.k_norm = norm_cls(cfg.head_dim, cfg.norm_eps)
        else:
            self.q_norm = self.k_norm = None

    def forward(self, x_BSD: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """q [B, H, S, hd], k and v [B, K, S, hd]; q and k rotated."""
        b, s, _ = x_BSD.shape
        q = self.q_proj(x_BSD).view(b, s, self.num_heads, self.head_dim)
        k = self.k_proj(x_BSD).view(b, s, self.num_kv_heads, self.head_dim)
        v = self.v_proj(x_BSD).view(b, s, self.num_kv_heads, self.head_dim)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v


class DecoderLayer(nn.Module):
    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.input_layernorm = _make_norm(cfg, cfg.width)
        self.self_attn = SelfAttentionProjections(cfg)
        self.post_attention_layernorm = _make_norm(cfg, cfg.width)
        self.mlp = _FAMILY_BLOCKS[cfg.family][1](cfg.width, cfg.mlp_dim)

    def project(self, h_BSD, cos, sin, cond=None):
        """Returns q, k, v and the attention residual gate (None without adaptive norms)."""
        normed, gate = _norm_and_gate(self.input_layernorm, h_BSD, cond)
        return (*self.self_attn(normed, cos, sin), gate)

    def finish(self, h_BSD, attn_BSX, gate, cond=None):
        h = _gated_residual(h_BSD, self.self_attn.o_proj(attn_BSX), gate)
        normed, gate = _norm_and_gate(self.post_attention_layernorm, h, cond)
        return _gated_residual(h, self.mlp(normed), gate)


class Decoder(nn.Module):
    """Token embedding (if vocab_size > 0), layers and final norm."""

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.width) if cfg.vocab_size else None
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.depth))
        self.norm = _make_norm(cfg, cfg.width)

    def embed(self, tokens_BL: torch.Tensor) -> torch.Tensor:
        emb = self.embed_tokens(tokens_BL)
        if self.cfg.scale_embeddings:
            # transformers rounds sqrt(width) to the weight dtype before multiplying.
            emb = emb * torch.tensor(math.sqrt(self.cfg.width), dtype=emb.dtype)
        return emb

    def rope(self, positions_BS: torch.Tensor, dtype: torch.dtype):
        return rope_tables(positions_BS, self.cfg.head_dim, self.cfg.rope_theta, dtype)

    def final_norm(self, h_BSD: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return _norm_and_gate(self.norm, h_BSD, cond)[0]

    def forward(self, h_BSD: torch.Tensor, mask_BSS: torch.Tensor, positions_BS: torch.Tensor,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        """Plain self-attention over one stream (no second expert); returns final-normed hidden states."""
        cos, sin = self.rope(positions_BS, h_BSD.dtype)
        bias = additive_mask(mask_BSS, h_BSD.dtype)
        for layer in self.layers:
            q, k, v, gate = layer.project(h_BSD, cos, sin, cond)
            h_BSD = layer.finish(h_BSD, attend(q, k, v, bias), gate, cond)
        return self.final_norm(h_BSD, cond)
