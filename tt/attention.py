"""RoPE, masks and the prefix KV cache on TTNN. Twin of reference/attention.py.

Host staging (once per sample_actions call, before the first device op that uses them): the RoPE cos/sin tables
of the prefix and suffix positions and the additive attention masks are computed on the host from the pad flags
and uploaded; no host work happens inside a forward after that. The rotate-half matrix is a constant of the model,
uploaded with the weights (`Rotation`, held by each Decoder). A head_dim that is not a tile multiple is zero-padded
(models.prepare): padding lanes of q and k stay 0 through RoPE and add nothing to the scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from models.prepare import TILE, rotate_half_matrix, tile_padded
from models.masks import additive_mask
from models.positional import rope_tables
from tt.common import rows, upload, upload_weight
from tt.host.device import DeviceSpec, spec_of
from tt.host.memory import tiled_bytes
from tt.host.pricing import Pricing
from tt.host.resources.attention import SdpaShape
from tt.host.resources.matmul import MatmulOperands
from tt.ops import ttnn
from tt.precision import ROPE_KERNEL, ROTATION_KERNEL
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

    @property
    def fusable(self) -> bool:
        """Whether ttnn's fused rotary embedding (split-half over the whole head) applies: no padding lanes, and a
        head of one tile or of a multiple of two tiles (its 0.81.1 validation)."""
        return self.head_dim == self.padded and (self.padded == TILE or self.padded % (2 * TILE) == 0)


@dataclass
class Rope:
    """cos, sin [B, 1, S, D] (zero on padding lanes) and the decoder's Rotation, on the device. When every batch
    row has the same positions the tables are [1, 1, S, D], and a fusable rotation runs as ttnn's one fused rotary
    embedding op; otherwise as a rotate-half matmul, two multiplies and an add."""

    cos: object
    sin: object
    rotation: Rotation
    grid: object
    spec: DeviceSpec
    _fused: dict = field(default_factory=dict, init=False, repr=False)  # by x's shape and dtype: the form chosen

    @classmethod
    def tables(cls, positions_BS: torch.Tensor, theta: float, rotation: Rotation) -> tuple[torch.Tensor, torch.Tensor]:
        """Host staging: cos, sin [B, 1, S, D] for these positions, zero on padding lanes; [1, 1, S, D] when every
        batch row has the same positions."""
        if bool((positions_BS == positions_BS[:1]).all()):
            positions_BS = positions_BS[:1]
        cos, sin = rope_tables(positions_BS, rotation.head_dim, theta, torch.float32)
        pad = (0, rotation.padded - rotation.head_dim)
        return torch.nn.functional.pad(cos, pad)[:, None], torch.nn.functional.pad(sin, pad)[:, None]

    @classmethod
    def on_device(cls, runtime, cos, sin, rotation: Rotation) -> "Rope":
        """From tables already on the device (uploaded from `tables`)."""
        return cls(cos, sin, rotation, runtime.device.compute_with_storage_grid_size(), spec_of(runtime.device))

    @classmethod
    def upload(cls, runtime, positions_BS: torch.Tensor, theta: float, rotation: Rotation) -> "Rope":
        cos, sin = cls.tables(positions_BS, theta, rotation)
        return cls.on_device(runtime, upload(runtime, cos, ttnn.bfloat16), upload(runtime, sin, ttnn.bfloat16),
                             rotation)

    def __call__(self, x_BHSD):
        """x * cos + rotate_half(x) * sin: fused where the device-time model predicts it faster, else with
        rotate_half as a matmul by R (exact at ROTATION_KERNEL's fidelity)."""
        config = self._rotation_config(x_BHSD)
        if self.rotation.fusable and self.cos.shape[0] == 1 and self._fused_is_faster(x_BHSD, config):
            return ttnn.experimental.rotary_embedding(x_BHSD, self.cos, self.sin, compute_kernel_config=ROPE_KERNEL)
        rotated = ttnn.matmul(x_BHSD, self.rotation.matrix, program_config=config,
                              compute_kernel_config=ROTATION_KERNEL)
        return ttnn.add(ttnn.multiply(x_BHSD, self.cos), ttnn.multiply(rotated, self.sin))

    def _operands(self, x_BHSD) -> MatmulOperands:
        return MatmulOperands(x_BHSD.dtype, self.rotation.matrix.dtype, x_BHSD.dtype,
                              ROTATION_KERNEL.fp32_dest_acc_en, ROTATION_KERNEL.packer_l1_acc)

    def _rotation_config(self, x_BHSD):
        d = self.rotation.padded
        return matmul_config(rows(x_BHSD), d, d, self.grid, self.spec, self._operands(x_BHSD),
                             ROTATION_KERNEL.math_fidelity.name)

    def _fused_is_faster(self, x_BHSD, config) -> bool:
        """The fused op deals out whole head rows (one core per 32 rows of a head), the unfused ops single tiles
        over the grid: with few rows the fused op leaves most cores idle (both forms priced by the device-time
        model, each op with the op-to-op gap of a traced call). Decided once per shape: every layer asks again."""
        key = (tuple(x_BHSD.shape), x_BHSD.dtype)
        if key not in self._fused:
            self._fused[key] = self._fused_quoted_faster(x_BHSD, config)
        return self._fused[key]

    def _fused_quoted_faster(self, x_BHSD, config) -> bool:
        quote = Pricing.of(self.spec)
        x, cos, sin, matrix = (quote.like(t) for t in (x_BHSD, self.cos, self.sin, self.rotation.matrix))
        fused = quote.ns("ttnn.experimental.rotary_embedding", x, cos, sin, compute_kernel_config=ROPE_KERNEL)
        unfused = (quote.ns("ttnn.matmul", x, matrix, program_config=config, compute_kernel_config=ROTATION_KERNEL)
                   + 2 * quote.ns("ttnn.multiply", x, cos) + quote.ns("ttnn.add", x, x))
        return fused < unfused


def attention(q_BHSD, k_BKSD, v_BKSD, mask, scale: float, kernel, grid, spec):
    """Non-causal SDPA under an additive mask (or None), the heads written side by side, [B, 1, S, H * D]
    (output_concat_heads, which 0.81.1's SDPA writer supports: no nlp_concat_heads after it)."""
    return ttnn.transformer.scaled_dot_product_attention(
        q_BHSD, k_BKSD, v_BKSD, attn_mask=mask, is_causal=False, scale=scale,
        program_config=sdpa_program(q_BHSD, k_BKSD, mask, kernel, grid, spec), compute_kernel_config=kernel,
        output_concat_heads=True)


def sdpa_program(q_BHSD, k_BKSD, mask, kernel, grid, spec):
    """The SDPA program config for these operands: the chunks that fit the device's L1 budget and run fastest
    (tt.program_configs)."""
    b, heads, q_len, dh = q_BHSD.padded_shape
    kv_heads = k_BKSD.padded_shape[1]
    shape = SdpaShape(0, 0, 0, 0, dh // TILE, q_BHSD.dtype, k_BKSD.dtype, None if mask is None else mask.dtype,
                      kernel.fp32_dest_acc_en, False)
    kv_bytes = 2 * tiled_bytes(k_BKSD.padded_shape, k_BKSD.dtype)
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


class ExpertKV:
    """Per expert layer, the keys and values a denoising step attends over, [B, K, P + S, D]: the prefix cache's, then
    the suffix's own. The first step of a sample_actions call concatenates the two. With one batch row, where the
    device-time model predicts it faster, every later step overwrites the suffix rows of that tensor in place
    (ttnn.fill_cache at the prefix length, a tile multiple by tt.prefix's staging) instead of concatenating again.
    fill_cache writes one batch row per call (its device validation), so with more rows every step concatenates."""

    def __init__(self, cache: PrefixKVCache):
        self.cache = cache
        self._buffers: dict[int, tuple] = {}  # by layer: the tensors later steps fill in place
        self._fill: bool | None = None  # whether filling in place is quoted faster (every layer has the same shapes)

    def extended(self, layer: int, k_BKSD, v_BKSD) -> tuple:
        """([prefix | k], [prefix | v]) of expert layer `layer`."""
        buffers = self._buffers.get(layer)
        if buffers is not None:
            for buffer, rows in zip(buffers, (k_BKSD, v_BKSD), strict=True):
                ttnn.fill_cache(buffer, rows, 0, update_idx=self.cache.length)
            return buffers
        buffers = (ttnn.concat([self.cache.keys[layer], k_BKSD], dim=2),
                   ttnn.concat([self.cache.values[layer], v_BKSD], dim=2))
        if k_BKSD.shape[0] == 1:
            if self._fill is None:
                self._fill = self._fill_is_faster(k_BKSD)
            if self._fill:
                self._buffers[layer] = buffers
        return buffers

    def _fill_is_faster(self, rows_1KSD) -> bool:
        """fill_cache deals out rows of tiles (32 rows of one head, its width in tiles each), concat single tiles:
        with few heads the fill leaves most cores idle (both priced by the device-time model)."""
        quote = Pricing.of(spec_of(rows_1KSD.device()))
        rows, prefix = quote.like(rows_1KSD), quote.like(self.cache.keys[0])
        batch, heads, length, width = rows_1KSD.shape
        extended = quote.like(rows_1KSD, (batch, heads, self.cache.length + length, width))
        fill = quote.ns("ttnn.fill_cache", extended, rows, 0, update_idx=self.cache.length)
        return fill < quote.ns("ttnn.concat", [prefix, rows], dim=2)
