"""SigLIP vision tower on TTNN. Twin of reference/siglip.py.

Host staging before the first device op: the 14x14 patches are unfolded on the host ([B, N, 3 * 14 * 14]), so the
patch convolution is one ttnn.linear. head_dim 72 is zero-padded to 96 (models.prepare) so every head is a whole
number of tiles; the attention scale stays 72 ** -0.5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.config import SiglipConfig
from models.prepare import fused_qkv, linear_weight, output_projection, padded_head_dim
from tt.common import Linear, scoped, upload
from tt.ops import ttnn
from tt.precision import Precision
from tt.program_configs import sdpa_config


def unfold_patches(pixels_B3HW: torch.Tensor, patch: int) -> torch.Tensor:
    """[B, 3, H, W] -> [B, N, 3 * patch * patch] in the conv weight's (c, kh, kw) order."""
    return F.unfold(pixels_B3HW.float(), kernel_size=patch, stride=patch).transpose(1, 2)


class SiglipEncoderLayer:
    def __init__(self, runtime, cfg: SiglipConfig, w: dict, precision: Precision):
        self.cfg, self.precision, self.grid = cfg, precision, runtime.device.compute_with_storage_grid_size()
        h, d = cfg.num_heads, cfg.head_dim
        self.padded = padded_head_dim(d)
        attn = scoped(w, "self_attn.")
        self.qkv = Linear(runtime, fused_qkv(attn["q_proj.weight"], attn["k_proj.weight"], attn["v_proj.weight"],
                                             h, h, d, self.padded),
                          fused_qkv(attn["q_proj.bias"], attn["k_proj.bias"], attn["v_proj.bias"], h, h, d,
                                    self.padded), precision)
        self.out_proj = Linear(runtime, output_projection(attn["out_proj.weight"], h, d, self.padded),
                               attn["out_proj.bias"], precision)
        self.fc1 = Linear(runtime, linear_weight(w["mlp.fc1.weight"]), w["mlp.fc1.bias"], precision)
        self.fc2 = Linear(runtime, linear_weight(w["mlp.fc2.weight"]), w["mlp.fc2.bias"], precision)
        self.norms = [(upload(runtime, w[f"layer_norm{i}.weight"].reshape(1, -1), ttnn.bfloat16),
                       upload(runtime, w[f"layer_norm{i}.bias"].reshape(1, -1), ttnn.bfloat16)) for i in (1, 2)]

    def _norm(self, x, i):
        weight, bias = self.norms[i]
        return ttnn.layer_norm(x, epsilon=self.cfg.norm_eps, weight=weight, bias=bias,
                               compute_kernel_config=self.precision.norm_kernel)

    def __call__(self, x_B1ND):
        n = x_B1ND.shape[2]
        q, k, v = ttnn.experimental.nlp_create_qkv_heads(self.qkv(self._norm(x_B1ND, 0)), num_heads=self.cfg.num_heads,
                                                         num_kv_heads=self.cfg.num_heads, transpose_k_heads=False)
        attn = ttnn.transformer.scaled_dot_product_attention(
            q, k, v, is_causal=False, scale=self.cfg.head_dim ** -0.5, program_config=sdpa_config(n, n, self.grid),
            compute_kernel_config=self.precision.attention_kernel)
        x_B1ND = ttnn.add(x_B1ND, self.out_proj(ttnn.experimental.nlp_concat_heads(attn)))
        hidden = ttnn.gelu(self.fc1(self._norm(x_B1ND, 1)), variant=ttnn.GeluVariant.Tanh)
        return ttnn.add(x_B1ND, self.fc2(hidden))


class SiglipVisionTower:
    """pixels [B, 3, H, W] (torch, in [-1, 1]) -> tokens [B, 1, N, width] on the device."""

    def __init__(self, runtime, cfg: SiglipConfig, weights: dict, precision: Precision):
        self.runtime, self.cfg, self.precision = runtime, cfg, precision
        patch = weights["embeddings.patch_embedding.weight"]
        self.patch_embedding = Linear(runtime, linear_weight(patch.reshape(patch.shape[0], -1)),
                                      weights["embeddings.patch_embedding.bias"], precision,
                                      weight_dtype=ttnn.bfloat16)
        positions = self._positions(weights["embeddings.position_embedding.weight"])
        self.positions = upload(runtime, positions[None, None], ttnn.bfloat16)
        self.layers = [SiglipEncoderLayer(runtime, cfg, scoped(weights, f"encoder.layers.{i}."), precision)
                       for i in range(cfg.depth)]
        self.post_norm = (upload(runtime, weights["post_layernorm.weight"].reshape(1, -1), ttnn.bfloat16),
                          upload(runtime, weights["post_layernorm.bias"].reshape(1, -1), ttnn.bfloat16))

    def _positions(self, table: torch.Tensor) -> torch.Tensor:
        """Bicubic interpolation for other image sizes happens once, at load time."""
        trained = int(table.shape[0] ** 0.5)
        if self.cfg.grid == trained:
            return table.float()
        square = table.float().reshape(1, trained, trained, -1).permute(0, 3, 1, 2)
        resized = F.interpolate(square, size=(self.cfg.grid, self.cfg.grid), mode="bicubic", align_corners=False)
        return resized.permute(0, 2, 3, 1).reshape(self.cfg.num_tokens, -1)

    def __call__(self, pixels_B3HW: torch.Tensor):
        patches = unfold_patches(pixels_B3HW, self.cfg.patch_size)[:, None]
        x = ttnn.from_torch(patches, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=self.runtime.device,
                            memory_config=ttnn.DRAM_MEMORY_CONFIG)
        x = ttnn.add(self.patch_embedding(x), self.positions)
        for layer in self.layers:
            x = layer(x)
        weight, bias = self.post_norm
        return ttnn.layer_norm(x, epsilon=self.cfg.norm_eps, weight=weight, bias=bias,
                               compute_kernel_config=self.precision.norm_kernel)
