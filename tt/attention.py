"""RoPE, masks and the prefix KV cache on TTNN. Twin of reference/attention.py.

Host staging (once per sample_actions call, before the first device op that uses them): the RoPE cos/sin tables
of the prefix and suffix positions and the additive attention masks are computed on the host from the pad flags
and uploaded; no host work happens inside a forward after that. The rotate-half matrix is a constant of the model,
uploaded with the weights (`Rotation`, held by each Decoder). A head_dim that is not a tile multiple is zero-padded
(models.prepare): padding lanes of q and k stay 0 through RoPE and add nothing to the scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from models.prepare import TILE, rotate_half_matrix, tile_padded
from models.masks import additive_mask
from models.positional import rope_tables
from tt.common import rows, upload, upload_weight
from tt.host.device import spec_of
from tt.host.memory import TILE_BYTES
from tt.host.resources.attention import SdpaShape
from tt.host.resources.matmul import MatmulOperands
from tt.ops import ttnn
from tt.precision import ROTATION_KERNEL
from tt.program_configs import SdpaCall, matmul_config, sdpa_config


@dataclass
class Rotation:
    """The rotate-half matrix R [D, D] on the device, once per decoder; the first `head_dim` lanes of a head rotate,
    the rest (padding up to a tile multiple D) stay 0."""

    matrix: object
    head_dim: int

    @classmethod
    def upload(cls, runtime, head_dim: int) -> "Rotation":
        return cls(upload_weight(runtime, rotate_half_matrix(head_dim, tile_padded(head_dim)), ttnn.bfloat16),
                   head_dim)

    @property
    def padded(self) -> int:
        return self.matrix.shape[-1]


@dataclass
class Rope:
    """cos, sin [B, 1, S, D] (zero on padding lanes) and the decoder's Rotation, on the device."""

    cos: object
    sin: object
    rotation: Rotation
    grid: object
    l1_budget: int

    @classmethod
    def tables(cls, positions_BS: torch.Tensor, theta: float, rotation: Rotation) -> tuple[torch.Tensor, torch.Tensor]:
        """Host staging: cos, sin [B, 1, S, D] for these positions, zero on padding lanes."""
        cos, sin = rope_tables(positions_BS, rotation.head_dim, theta, torch.float32)
        pad = (0, rotation.padded - rotation.head_dim)
        return torch.nn.functional.pad(cos, pad)[:, None], torch.nn.functional.pad(sin, pad)[:, None]

    @classmethod
    def on_device(cls, runtime, cos, sin, rotation: Rotation) -> "Rope":
        """From tables already on the device (uploaded from `tables`)."""
        return cls(cos, sin, rotation, runtime.device.compute_with_storage_grid_size(),
                   spec_of(runtime.device).l1_budget)

    @classmethod
    def upload(cls, runtime, positions_BS: torch.Tensor, theta: float, rotation: Rotation) -> "Rope":
        cos, sin = cls.tables(positions_BS, theta, rotation)
        return cls.on_device(runtime, upload(runtime, cos, ttnn.bfloat16), upload(runtime, sin, ttnn.bfloat16),
                             rotation)

    def __call__(self, x_BHSD):
        """x * cos + rotate_half(x) * sin, with rotate_half as a matmul by R (exact at ROTATION_KERNEL's fidelity)."""
        d = self.rotation.padded
        operands = MatmulOperands(x_BHSD.dtype, self.rotation.matrix.dtype, x_BHSD.dtype,
                                  ROTATION_KERNEL.fp32_dest_acc_en, ROTATION_KERNEL.packer_l1_acc)
        config = matmul_config(rows(x_BHSD), d, d, self.grid, self.l1_budget, operands)
        rotated = ttnn.matmul(x_BHSD, self.rotation.matrix, program_config=config,
                              compute_kernel_config=ROTATION_KERNEL)
        return ttnn.add(ttnn.multiply(x_BHSD, self.cos), ttnn.multiply(rotated, self.sin))


def sdpa_program(q_BHSD, k_BKSD, mask, kernel, grid, spec):
    """The SDPA program config for these operands: the chunks that fit the device's L1 budget and run fastest
    (tt.program_configs)."""
    b, heads, q_len, dh = q_BHSD.padded_shape
    kv_heads = k_BKSD.padded_shape[1]
    shape = SdpaShape(0, 0, 0, 0, dh // TILE, q_BHSD.dtype, k_BKSD.dtype, None if mask is None else mask.dtype,
                      kernel.fp32_dest_acc_en, False)
    kv_bytes = 2 * math.prod(k_BKSD.padded_shape) // (TILE * TILE) * TILE_BYTES[k_BKSD.dtype]
    call = SdpaCall(b * heads, heads // kv_heads, kv_bytes, kernel.math_fidelity.name)
    return sdpa_config(q_BHSD.shape[2], k_BKSD.shape[2], call, grid, spec, shape)


def mask_input(mask_BQK: torch.Tensor) -> torch.Tensor:
    """Host staging: bool [B, Q, K] -> the additive [B, 1, Q, K] mask SDPA takes (uploaded as bfloat16)."""
    return additive_mask(mask_BQK, torch.float32)


def upload_mask(runtime, mask_BQK: torch.Tensor):
    """bool [B, Q, K] -> additive [B, 1, Q, K] bfloat16 on the device."""
    return upload(runtime, mask_input(mask_BQK), ttnn.bfloat16)


@dataclass
class PrefixKVCache:
    """Per-layer prefix keys (rotated) and values, [B, num_kv_heads, P, head_dim] device tensors, filled once per
    sample_actions call and read by every denoising step; pad: bool [B, P] on the host (False where nothing may
    attend), kept for the per-step API (Pi0Policy.velocity), which stages the suffix's mask from it."""

    keys: list
    values: list
    pad: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return self.keys[0].shape[2]
