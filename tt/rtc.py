"""Real-time chunking guidance inside the on-device denoising loop. Twin of reference/rtc.py; models/rtc.py states
the semantics.

The leftover chunk and the prefix weights are uploaded once per sample_actions call, before the loop; each step's
flow time and guidance weight are Python numbers fixed before the loop starts. x, v, the error and the correction
are float32 device tensors, so no transfer happens inside the loop. With differentiate_velocity the error is pulled
back through the expert on the device as well (tt/velocity_vjp.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from models.rtc import ChunkGuidance
from tt.common import upload
from tt.ops import ttnn


@dataclass
class DeviceGuidance:
    """target and weights: float32 [B, 1, rows, action_dim] on the device, in the suffix's device rows
    (tt.suffix.SuffixLayout: the actions first, 0 on every other row); the weights are repeated over the actions'
    dims, so every product is elementwise."""

    target: object
    weights: object
    plan: ChunkGuidance

    @staticmethod
    def inputs(guidance: ChunkGuidance, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Host staging: target and weights [B, 1, rows, A] (uploaded as float32)."""
        target = guidance.target_BHA
        b, horizon, dims = target.shape
        padded_target, padded_weights = torch.zeros(b, 1, rows, dims), torch.zeros(b, 1, rows, dims)
        padded_target[:, 0, :horizon] = target
        padded_weights[:, 0, :horizon] = guidance.weights_H[:, None]
        return padded_target, padded_weights

    @classmethod
    def upload(cls, runtime, guidance: ChunkGuidance, rows: int) -> "DeviceGuidance":
        target, weights = cls.inputs(guidance, rows)
        return cls(upload(runtime, target, ttnn.float32), upload(runtime, weights, ttnn.float32), guidance)


Evaluation = tuple[object, Callable[[object], object] | None]


def guided_velocity(evaluate: Callable[[object], Evaluation], x_B1HA, time: float, guidance: DeviceGuidance):
    """v(x_t) - w(t) * correction, float32 [B, 1, rows, action_dim].

    evaluate(x) returns the velocity and, when the guidance differentiates it, the pullback e -> (dv/dx)^T e
    (float32), else None.
    """
    v, pullback = evaluate(x_B1HA)
    v = ttnn.typecast(v, ttnn.float32)
    x1 = ttnn.subtract(x_B1HA, ttnn.multiply(v, time))
    err = ttnn.multiply(ttnn.subtract(guidance.target, x1), guidance.weights)
    # d(x_t - t v)/dx_t pulled back: err itself when v is held constant (lerobot), else err - t J^T err.
    correction = err if pullback is None else ttnn.subtract(err, ttnn.multiply(pullback(err), time))
    return ttnn.subtract(v, ttnn.multiply(correction, guidance.plan.weight_at(time)))
