"""Multi-modal projector on TTNN. Twin of reference/projector.py."""

from __future__ import annotations

from models.prepare import linear_weight
from tt.common import Linear


class Projector:
    def __init__(self, runtime, weights: dict, precision):
        self.linear = Linear(runtime, linear_weight(weights["linear.weight"]), weights["linear.bias"],
                             precision.matmuls("vision"))

    def __call__(self, image_tokens_B1ND):
        return self.linear(image_tokens_B1ND)
