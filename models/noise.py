"""The flow's starting point, shared by both backends."""

from __future__ import annotations

import torch

from .config import SuffixConfig


def initial_noise(batch: int, suffix: SuffixConfig, noise: torch.Tensor | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """`noise` checked against [B, horizon, action_dim], or standard normal float32 of that shape when None."""
    shape = (batch, suffix.horizon, suffix.action_dim)
    if noise is None:
        return torch.randn(shape, generator=generator, dtype=torch.float32)
    if tuple(noise.shape) != shape:
        raise ValueError(f"noise must have shape {shape}, got {tuple(noise.shape)}")
    return noise
