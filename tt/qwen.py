"""Qwen-family blocks on TTNN. Twin of reference/qwen.py: the norm is ttnn.rms_norm with the plain weight
(models.prepare.norm_weight, applied by tt.decoder); the MLP is silu(gate) * up, the silu fused into the gate
projection."""

from __future__ import annotations

from tt.common import GatedMLP
from tt.ops import ttnn


class QwenMLP(GatedMLP):
    activation = ttnn.UnaryOpType.SILU

    def activate(self, gate):
        return ttnn.silu(gate)
