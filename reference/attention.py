"""RoPE application, masked multi-head attention with shared KV heads, and the prefix KV cache."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def apply_rope(x_BHSD: torch.Tensor, cos_BSD: torch.Tensor, sin_BSD: torch.Tensor) -> torch.Tensor:
    """Rotate-half RoPE (the Hugging Face Gemma/Qwen convention)."""
    half = x_BHSD.shape[-1] // 2
    rotated = torch.cat([-x_BHSD[..., half:], x_BHSD[..., :half]], dim=-1)
    return x_BHSD * cos_BSD[:, None] + rotated * sin_BSD[:, None]


def attend(q_BHQD: torch.Tensor, k_BKSD: torch.Tensor, v_BKSD: torch.Tensor, bias_B1QS: torch.Tensor) -> torch.Tensor:
    """Softmax attention, scale head_dim ** -0.5; K/V heads are shared by groups of query heads.
    Returns [B, Q, H * D]."""
    b, h, q, d = q_BHQD.shape
    out = F.scaled_dot_product_attention(q_BHQD, k_BKSD, v_BKSD, attn_mask=bias_B1QS,
                                         scale=d ** -0.5, enable_gqa=k_BKSD.shape[1] != h)
    return out.transpose(1, 2).reshape(b, q, h * d)


@dataclass
class PrefixKVCache:
    """Per-layer keys and values of the prefix (images + language), filled once, read by every denoising step.

    keys[i], values[i]: [B, num_kv_heads, P, head_dim], keys already rotated by RoPE at the prefix positions.
    pad: bool [B, P], False on padding and masked cameras (those keys are never attended to).
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    pad: torch.Tensor

    @property
    def length(self) -> int:
        return self.pad.shape[1]
