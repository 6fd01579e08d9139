"""Flow-matching sampler: forward Euler from t = 1 (noise) to t = 0 (actions)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from models.rtc import ChunkGuidance

from .rtc import guided_velocity


def euler_sample(velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], noise_BHA: torch.Tensor,
                 num_steps: int, on_step: Callable[[int], None] | None = None,
                 guidance: ChunkGuidance | None = None) -> torch.Tensor:
    """x <- x + dt * v(x, t) with dt = -1 / num_steps, t = 1, 1 + dt, ... (openpi's loop).
    on_step(i) is called after step i (for timing). With `guidance` (real-time chunking) v is the guided velocity."""
    if num_steps <= 0:
        raise ValueError(f"num_steps must be positive, got {num_steps}")
    dt = -1.0 / num_steps
    x = noise_BHA.float()
    for step in range(num_steps):
        time = 1.0 + step * dt
        t = torch.full((x.shape[0],), time, dtype=torch.float32, device=x.device)
        if guidance is None:
            v = velocity(x, t).float()
        else:
            v = guided_velocity(lambda x_t: velocity(x_t, t), x, time, guidance)
        x = x + dt * v
        if on_step is not None:
            on_step(step)
    return x
