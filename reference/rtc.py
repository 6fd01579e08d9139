"""Real-time chunking guidance of one denoising step (models/rtc.py states the semantics). Twin of tt/rtc.py."""

from __future__ import annotations

from collections.abc import Callable

import torch

from models.rtc import ChunkGuidance

Velocity = Callable[[torch.Tensor], torch.Tensor]


def velocity_and_pullback(velocity: Velocity, x_t_BHA: torch.Tensor):
    """v(x_t) float32, and the function e -> (dv/dx_t)^T e (autograd through the whole velocity network; call it
    once)."""
    with torch.enable_grad():
        x = x_t_BHA.detach().requires_grad_(True)
        v = velocity(x).float()

    def pullback(cotangent_BHA: torch.Tensor) -> torch.Tensor:
        return torch.autograd.grad(v, x, cotangent_BHA)[0]

    return v.detach(), pullback


def guided_velocity(velocity: Velocity, x_t_BHA: torch.Tensor, time: float, guidance: ChunkGuidance) -> torch.Tensor:
    """v(x_t) - w(t) * correction, float32 [B, horizon, action_dim]."""
    weights = guidance.weights_H.to(x_t_BHA.device)[None, :, None]
    target = guidance.target_BHA.to(x_t_BHA.device)
    if guidance.differentiate_velocity:
        v, pullback = velocity_and_pullback(velocity, x_t_BHA)
    else:
        v = velocity(x_t_BHA).float()
    err = (target - (x_t_BHA - time * v)) * weights
    # d(x_t - t v)/dx_t pulled back: err itself when v is held constant (lerobot), else err - t J^T err.
    correction = err - time * pullback(err) if guidance.differentiate_velocity else err
    return v - guidance.weight_at(time) * correction
