"""Flow-matching sampler: forward Euler from t = 1 (noise) to t = 0 (actions)."""

from __future__ import annotations

from collections.abc import Callable

import torch


def euler_sample(velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], noise_BHA: torch.Tensor,
                 num_steps: int, on_step: Callable[[int], None] | None = None) -> torch.Tensor:
    """x <- x + dt * v(x, t) with dt = -1 / num_steps, t = 1, 1 + dt, ... (openpi's loop).
    on_step(i) is called after step i (for timing)."""
    if num_steps <= 0:
        raise ValueError(f"num_steps must be positive, got {num_steps}")
    dt = -1.0 / num_steps
    x = noise_BHA.float()
    for step in range(num_steps):
        t = torch.full((x.shape[0],), 1.0 + step * dt, dtype=torch.float32, device=x.device)
        x = x + dt * velocity(x, t).float()
        if on_step is not None:
            on_step(step)
    return x
