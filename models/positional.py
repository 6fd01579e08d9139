"""Position and time encodings shared by both trees (pure torch, computed on the host)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def rope_tables(positions_BS: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype):
    """cos, sin [B, S, head_dim] in float32 math (as transformers' Gemma/Qwen rotary embeddings), cast to dtype."""
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim
    inv_freq = 1.0 / (theta ** exponents)
    freqs = positions_BS.float()[..., None] * inv_freq.to(positions_BS.device)
    angles = torch.cat([freqs, freqs], dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def time_embedding(t_B: torch.Tensor, dim: int, min_period: float, max_period: float) -> torch.Tensor:
    """Sine-cosine embedding of the flow time, [B, dim]; periods are computed in float64 as openpi does."""
    if dim % 2:
        raise ValueError(f"time embedding dim must be even, got {dim}")
    fraction = torch.linspace(0.0, 1.0, dim // 2, dtype=torch.float64, device=t_B.device)
    period = min_period * (max_period / min_period) ** fraction
    angle = (2 * math.pi / period)[None, :] * t_B[:, None]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1).to(t_B.dtype)


def interpolate_positions(table_ND: torch.Tensor, grid: int) -> torch.Tensor:
    """SigLIP's learned [g * g, D] position table resized bicubically to [grid * grid, D] (identity if g == grid)."""
    trained = int(table_ND.shape[0] ** 0.5)
    if grid == trained:
        return table_ND
    square = table_ND.reshape(1, trained, trained, -1).permute(0, 3, 1, 2)
    resized = F.interpolate(square, size=(grid, grid), mode="bicubic", align_corners=False)
    return resized.permute(0, 2, 3, 1).reshape(grid * grid, -1)
