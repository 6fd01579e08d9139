"""RoPE, masks and the prefix KV cache on TTNN. Twin of reference/attention.py.

Host staging (once per sample_actions call, before the first device op that uses them): the RoPE cos/sin tables
of the prefix and suffix positions and the additive attention masks are computed on the host from the pad flags
and uploaded; no host work happens inside a forward after that. The rotate-half matrix is a constant of the model,
uploaded with the weights (`upload_rotation`, held by each Decoder).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.prepare import rotate_half_matrix
from models.masks import additive_mask
from models.positional import rope_tables
from tt.common import upload, upload_weight
from tt.ops import ttnn


@dataclass
class Rope:
    """cos, sin [B, 1, S, head_dim] and the rotate-half matrix R [head_dim, head_dim], on the device."""

    cos: object
    sin: object
    rotate: object

    @classmethod
    def upload(cls, runtime, positions_BS: torch.Tensor, theta: float, rotate) -> "Rope":
        """The tables for these positions; `rotate` is the decoder's R (upload_rotation), which sets head_dim."""
        cos, sin = rope_tables(positions_BS, rotate.shape[-1], theta, torch.float32)
        return cls(upload(runtime, cos[:, None], ttnn.bfloat16), upload(runtime, sin[:, None], ttnn.bfloat16), rotate)

    def __call__(self, x_BHSD):
        """x * cos + rotate_half(x) * sin, with rotate_half as a matmul by R."""
        rotated = ttnn.matmul(x_BHSD, self.rotate)
        return ttnn.add(ttnn.multiply(x_BHSD, self.cos), ttnn.multiply(rotated, self.sin))


def upload_rotation(runtime, head_dim: int):
    """R [head_dim, head_dim] on the device, once per decoder."""
    return upload_weight(runtime, rotate_half_matrix(head_dim), ttnn.bfloat16)


def upload_mask(runtime, mask_BQK: torch.Tensor):
    """bool [B, Q, K] -> additive [B, 1, Q, K] bfloat16 on the device."""
    return upload(runtime, additive_mask(mask_BQK, torch.float32), ttnn.bfloat16)


@dataclass
class PrefixKVCache:
    """Per-layer prefix keys (rotated) and values, [B, num_kv_heads, P, head_dim] device tensors, filled once per
    sample_actions call and read by every denoising step. pad: bool [B, P] (host), False where nothing may attend."""

    keys: list
    values: list
    pad: torch.Tensor

    @property
    def length(self) -> int:
        return self.pad.shape[1]
