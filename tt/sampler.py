"""Flow-matching Euler loop kept on the device. Twin of reference/sampler.py.

x stays a float32 device tensor across steps so that the small Euler updates are not rounded to bfloat16.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from tt.ops import ttnn


def step_times(num_steps: int) -> list[float]:
    """t = 1, 1 + dt, ... with dt = -1 / num_steps (openpi's loop)."""
    if num_steps <= 0:
        raise ValueError(f"num_steps must be positive, got {num_steps}")
    return [1.0 - step / num_steps for step in range(num_steps)]


def euler_sample(velocity: Callable[[object, int], object], noise_B1HA, num_steps: int,
                 on_step: Callable[[int], None] | None = None,
                 step_scope: Callable[[int], AbstractContextManager] = lambda step: nullcontext()):
    """velocity(x, step) -> v (device tensors); returns x after num_steps updates x <- x + dt * v.
    Step i runs inside step_scope(i) (an op-log section); on_step(i) is called after it is enqueued (for timing)."""
    dt = -1.0 / num_steps
    x = noise_B1HA
    for step in range(num_steps):
        with step_scope(step):
            v = ttnn.typecast(velocity(x, step), ttnn.float32)
            x = ttnn.add(x, ttnn.multiply(v, dt))
        if on_step is not None:
            on_step(step)
    return x
