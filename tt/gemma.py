"""Gemma-family blocks on TTNN. Twin of reference/gemma.py: the (1 + w) norm is ttnn.rms_norm with the folded
weight (models.prepare.norm_weight, applied by tt.decoder); the MLP is gelu_tanh(gate) * up, the tanh gelu fused into
the gate projection."""

from __future__ import annotations

from tt.common import GatedMLP
from tt.ops import ttnn


class GemmaMLP(GatedMLP):
    activation = ttnn.UnaryOpType.GELU_TANH

    def activate(self, gate):
        return ttnn.gelu(gate, variant=ttnn.GeluVariant.Tanh)
