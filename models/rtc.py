"""Real-time chunking (RTC): sample the next action chunk so that it continues the part of the previous chunk that
the robot is still executing. Settings and guidance arithmetic shared by both trees (pure torch).

Semantics are lerobot 0.6.1's (`lerobot/policies/rtc/modeling_rtc.py`, `RTCProcessor.denoise_step`), in our time
convention (t = 1 is noise, t = 0 actions; lerobot's tau = 1 - t):
- the leftover chunk is zero-padded to [horizon, action_dim]; the execution horizon is cut to its length;
- prefix weights per action row (`prefix_weights`): 1 for the first min(delay, horizon) rows, then per schedule;
- at every step x1 = x_t - t * v(x_t) predicts the final actions, err = (leftover - x1) * weights, and the velocity
  becomes v - w(t) * correction, with w(t) = min(max_guidance_weight, (t^2 + (1 - t)^2) / (t (1 - t)))
  (`guidance_weight`).
lerobot computes `correction` with autograd but evaluates v before x_t requires a gradient, so v is a constant of
that graph and the correction is err itself (checked in tests/test_rtc.py). That is the default here. With
`differentiate_velocity=True` the error is instead pulled back through the velocity network,
correction = err - t * (dv/dx_t)^T err, as in the RTC paper's guidance (Physical Intelligence's
real-time-chunking-kinetix); the reference takes that product with autograd, the TT tree with an on-device
backward pass (tt/velocity_vjp.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import SuffixConfig

SCHEDULES = ("ZEROS", "ONES", "LINEAR", "EXP")
DEFAULT_EXECUTION_HORIZON = 10  # lerobot's RTCConfig defaults
DEFAULT_MAX_GUIDANCE_WEIGHT = 10.0


def prefix_weights(schedule: str, inference_delay: int, execution_horizon: int, horizon: int) -> torch.Tensor:
    """float32 [horizon]: how strongly each row of the new chunk is pulled towards the leftover chunk.

    Rows before min(delay, execution_horizon) get 1 (they run before the new chunk arrives), rows from
    execution_horizon on get 0; in between ZEROS gives 0, ONES 1, LINEAR a ramp from 1 to 0 that excludes both
    ends, EXP that ramp r reshaped to r * (e^r - 1) / (e - 1).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"prefix_attention_schedule must be one of {SCHEDULES}, got {schedule!r}")
    if not 0 <= execution_horizon <= horizon:
        raise ValueError(f"execution_horizon must be in [0, {horizon}], got {execution_horizon}")
    start = min(inference_delay, execution_horizon)
    weights = torch.zeros(horizon, dtype=torch.float32)
    weights[:start] = 1.0
    if schedule == "ONES":
        weights[start:execution_horizon] = 1.0
    elif schedule in ("LINEAR", "EXP"):
        ramp = torch.linspace(1.0, 0.0, execution_horizon - start + 2)[1:-1]
        if schedule == "EXP":
            ramp = ramp * torch.expm1(ramp).div(torch.e - 1)
        weights[start:execution_horizon] = ramp
    return weights


def guidance_weight(time: float, max_guidance_weight: float) -> float:
    """The step size of the correction at flow time t, capped at max_guidance_weight.

    At t = 1 the uncapped weight is infinite, so the cap applies. At t = 0 lerobot's formula evaluates 0 * inf,
    which its nan_to_num turns into 0; the sampler never reaches t = 0, but the value is kept the same.
    """
    if time >= 1.0:
        return float(max_guidance_weight)
    if time <= 0.0:
        return 0.0
    return min(float(max_guidance_weight), (time * time + (1.0 - time) ** 2) / (time * (1.0 - time)))


@dataclass(frozen=True)
class ChunkGuidance:
    """One sample_actions call's guidance, checked against the model: what both samplers consume.

    target_BHA: the leftover chunk, float32 [B, horizon, action_dim], zero-padded. weights_H: float32 [horizon].
    """

    target_BHA: torch.Tensor
    weights_H: torch.Tensor
    max_guidance_weight: float
    differentiate_velocity: bool

    def weight_at(self, time: float) -> float:
        return guidance_weight(time, self.max_guidance_weight)


@dataclass(frozen=True)
class RealTimeChunking:
    """Per-call RTC settings, named as lerobot's `RTCConfig` and `predict_action_chunk` arguments.

    prev_chunk_left_over: [T, A] or [B, T, A] float, the not yet executed rows of the previous chunk in the model's
        (normalised) units, T <= horizon, A <= the model's action_dim (both zero-padded).
    inference_delay: rows of the new chunk that run before it is ready (held to the leftover with weight 1).
    execution_horizon: rows guided at all (cut to T). prefix_attention_schedule: ZEROS, ONES, LINEAR or EXP.
    max_guidance_weight: cap of the guidance step (> 0). differentiate_velocity: see the module docstring.
    """

    prev_chunk_left_over: torch.Tensor
    inference_delay: int
    execution_horizon: int = DEFAULT_EXECUTION_HORIZON
    prefix_attention_schedule: str = "LINEAR"
    max_guidance_weight: float = DEFAULT_MAX_GUIDANCE_WEIGHT
    differentiate_velocity: bool = False

    def __post_init__(self):
        # lerobot's RTCAttentionSchedule is a str enum: keep its plain value.
        object.__setattr__(self, "prefix_attention_schedule", str(getattr(self.prefix_attention_schedule, "value",
                                                                           self.prefix_attention_schedule)))
        for name in ("inference_delay", "execution_horizon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        if self.prefix_attention_schedule not in SCHEDULES:
            raise ValueError(f"prefix_attention_schedule must be one of {SCHEDULES}, "
                             f"got {self.prefix_attention_schedule!r}")
        if not self.max_guidance_weight > 0:
            raise ValueError(f"max_guidance_weight must be positive, got {self.max_guidance_weight!r}")
        chunk = self.prev_chunk_left_over
        if not isinstance(chunk, torch.Tensor) or not chunk.is_floating_point() or chunk.ndim not in (2, 3):
            raise ValueError("prev_chunk_left_over must be a float tensor [T, A] or [B, T, A], got "
                             f"{type(chunk).__name__} {tuple(getattr(chunk, 'shape', ()))}")
        if chunk.shape[-2] == 0:
            raise ValueError("prev_chunk_left_over is empty (T = 0): pass rtc=None when there is nothing left over")
        if not torch.isfinite(chunk).all():
            raise ValueError("prev_chunk_left_over contains NaN or infinite values")

    def guidance(self, batch: int, suffix: SuffixConfig) -> ChunkGuidance:
        """Check the leftover against the model and pad it (lerobot's padding and horizon cut)."""
        chunk = self.prev_chunk_left_over.detach().to(torch.float32, copy=True).cpu()
        chunk = chunk[None].expand(batch, -1, -1) if chunk.ndim == 2 else chunk
        rows, dims = chunk.shape[1:]
        if chunk.shape[0] != batch:
            raise ValueError(f"prev_chunk_left_over has batch {chunk.shape[0]}, the observation {batch}")
        if rows > suffix.horizon or dims > suffix.action_dim:
            raise ValueError(f"prev_chunk_left_over is [{rows}, {dims}], larger than the model's chunk "
                             f"[{suffix.horizon}, {suffix.action_dim}]")
        target = torch.zeros(batch, suffix.horizon, suffix.action_dim, dtype=torch.float32)
        target[:, :rows, :dims] = chunk
        horizon = min(self.execution_horizon, rows)
        weights = prefix_weights(self.prefix_attention_schedule, self.inference_delay, horizon, suffix.horizon)
        return ChunkGuidance(target, weights, float(self.max_guidance_weight), self.differentiate_velocity)
