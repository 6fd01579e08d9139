"""Gemma-family blocks on TTNN. Twin of reference/gemma.py: the (1 + w) norm is ttnn.rms_norm with the folded
weight (models.prepare.folded_gemma_norm); the MLP is gelu_tanh(gate) * up."""

from __future__ import annotations

import torch

from models.prepare import folded_gemma_norm
from tt.common import GatedMLP, upload_weight
from tt.ops import ttnn


def gemma_norm_weight(runtime, weight: torch.Tensor):
    return upload_weight(runtime, folded_gemma_norm(weight).reshape(1, -1), ttnn.bfloat16)


class GemmaMLP(GatedMLP):
    def activate(self, gate):
        return ttnn.gelu(gate, variant=ttnn.GeluVariant.Tanh)
