"""Qwen-family blocks: RMSNorm scaled by weight and the SiLU gated MLP (SwiGLU). Qwen3's per-head q/k norms are
this RMSNorm over head_dim; Qwen2.5's QKV biases are a flag of the attention projections (decoder.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class QwenRMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Qwen normalises in float32 and casts back before the weight multiply (transformers' Qwen2/Qwen3).
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


class QwenMLP(nn.Module):
    def __init__(self, width: int, mlp_dim: int):
        super().__init__()
        self.gate_proj = nn.Linear(width, mlp_dim, bias=False)
        self.up_proj = nn.Linear(width, mlp_dim, bias=False)
        self.down_proj = nn.Linear(mlp_dim, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
