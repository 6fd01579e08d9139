"""Qwen-family blocks on TTNN. Twin of reference/qwen.py: the norm is ttnn.rms_norm with the plain weight; the MLP
is silu(gate) * up."""

from __future__ import annotations

import torch

from tt.common import GatedMLP, upload_weight
from tt.ops import ttnn


def qwen_norm_weight(runtime, weight: torch.Tensor):
    return upload_weight(runtime, weight.float().reshape(1, -1), ttnn.bfloat16)


class QwenMLP(GatedMLP):
    def activate(self, gate):
        return ttnn.silu(gate)
