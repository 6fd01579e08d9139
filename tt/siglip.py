"""SigLIP vision tower on TTNN. Twin of reference/siglip.py.

Host staging before the first device op: the 14x14 patches are unfolded on the host ([B, N, 3 * 14 * 14]), so the
patch convolution is one ttnn.linear. head_dim 72 is zero-padded to 96 (models.prepare) so every head is a whole
number of tiles; the attention scale stays 72 ** -0.5. A token count that is not a tile multiple (27 x 27 = 729 at
378 / 384 px) is padded with zero patches to whole tiles, which an attention mask hides from every token; the prefix
marks those rows invisible too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.config import SiglipConfig
from models.masks import additive_mask
from models.positional import interpolate_positions
from models.prepare import fused_qkv, linear_weight, output_projection, tile_padded
from tt.common import Linear, scoped, upload, upload_weight
from tt.ops import ttnn
from tt.precision import Precision
from tt.attention import attention
from tt.host.device import spec_of


def unfold_patches(pixels_B3HW: torch.Tensor, patch: int) -> torch.Tensor:
    """[B, 3, H, W] -> [B, N, 3 * patch * patch] in the conv weight's (c, kh, kw) order."""
    return F.unfold(pixels_B3HW.float(), kernel_size=patch, stride=patch).transpose(1, 2)


class SiglipAttention:
    def __init__(self, runtime, cfg: SiglipConfig, w: dict, precision: Precision):
        self.cfg, self.precision, self.grid = cfg, precision, runtime.device.compute_with_storage_grid_size()
        self.spec = spec_of(runtime.device)
        h, d = cfg.num_heads, cfg.head_dim
        padded = tile_padded(d)
        self.qkv = Linear(runtime, lambda: fused_qkv(w["q_proj.weight"], w["k_proj.weight"], w["v_proj.weight"],
                                                     h, h, d, padded),
                          lambda: fused_qkv(w["q_proj.bias"], w["k_proj.bias"], w["v_proj.bias"], h, h, d, padded),
                          precision.matmuls("vision"))
        self.out_proj = Linear(runtime, lambda: output_projection(w["out_proj.weight"], h, d, padded),
                               w["out_proj.bias"], precision.matmuls("vision"))

    def __call__(self, x_B1ND, mask=None):
        q, k, v = ttnn.experimental.nlp_create_qkv_heads(self.qkv(x_B1ND), num_heads=self.cfg.num_heads,
                                                         num_kv_heads=self.cfg.num_heads, transpose_k_heads=False)
        return self.out_proj(attention(q, k, v, mask, self.cfg.head_dim ** -0.5, self.precision.attention_kernel,
                                       self.grid, self.spec))


class SiglipMLP:
    def __init__(self, runtime, w: dict, precision: Precision):
        self.fc1 = Linear(runtime, linear_weight(w["fc1.weight"]), w["fc1.bias"], precision.matmuls("vision"),
                          activation=ttnn.UnaryOpType.GELU_TANH)
        self.fc2 = Linear(runtime, linear_weight(w["fc2.weight"]), w["fc2.bias"], precision.matmuls("vision"))

    def __call__(self, x_B1ND):
        return self.fc2(self.fc1(x_B1ND))


class LayerNorm:
    def __init__(self, runtime, w: dict, eps: float, precision: Precision):
        self.eps, self.precision = eps, precision
        self.weight = upload_weight(runtime, w["weight"].reshape(1, -1), ttnn.bfloat16)
        self.bias = upload_weight(runtime, w["bias"].reshape(1, -1), ttnn.bfloat16)

    def __call__(self, x):
        return ttnn.layer_norm(x, epsilon=self.eps, weight=self.weight, bias=self.bias,
                               compute_kernel_config=self.precision.norm_kernel)


class SiglipEncoderLayer:
    def __init__(self, runtime, cfg: SiglipConfig, w: dict, precision: Precision):
        self.layer_norm1 = LayerNorm(runtime, scoped(w, "layer_norm1."), cfg.norm_eps, precision)
        self.self_attn = SiglipAttention(runtime, cfg, scoped(w, "self_attn."), precision)
        self.layer_norm2 = LayerNorm(runtime, scoped(w, "layer_norm2."), cfg.norm_eps, precision)
        self.mlp = SiglipMLP(runtime, scoped(w, "mlp."), precision)

    def __call__(self, x_B1ND, mask=None):
        x_B1ND = ttnn.add(x_B1ND, self.self_attn(self.layer_norm1(x_B1ND), mask))
        return ttnn.add(x_B1ND, self.mlp(self.layer_norm2(x_B1ND)))


class SiglipVisionTower:
    """pixels [B, 3, H, W] (torch, in [-1, 1]) -> tokens [B, 1, rows, width] on the device: the first num_tokens rows
    are the image tokens, the rest (up to a tile multiple) padding."""

    def __init__(self, runtime, cfg: SiglipConfig, weights: dict, precision: Precision):
        self.runtime, self.cfg, self.precision = runtime, cfg, precision
        self.rows = tile_padded(cfg.num_tokens)
        patch = weights["embeddings.patch_embedding.weight"]
        self.patch_embedding = Linear(runtime, linear_weight(patch.reshape(patch.shape[0], -1)),
                                      weights["embeddings.patch_embedding.bias"],
                                      precision.matmuls("vision"),
                                      weight_dtype=ttnn.bfloat16)
        self.positions = upload_weight(runtime, lambda: self._padded(interpolate_positions(
            weights["embeddings.position_embedding.weight"].float(), cfg.grid))[None, None], ttnn.bfloat16)
        self.layers = [SiglipEncoderLayer(runtime, cfg, scoped(weights, f"encoder.layers.{i}."), precision)
                       for i in range(cfg.depth)]
        self.post_layernorm = LayerNorm(runtime, scoped(weights, "post_layernorm."), cfg.norm_eps, precision)
        self.mask = None
        if self.rows != cfg.num_tokens:
            real = torch.arange(self.rows) < cfg.num_tokens
            self.mask = upload_weight(runtime, additive_mask((real[None, :] & real[:, None])[None], torch.float32),
                                      ttnn.bfloat16)

    def _padded(self, tokens_ND: torch.Tensor) -> torch.Tensor:
        return F.pad(tokens_ND, (0, 0, 0, self.rows - tokens_ND.shape[-2]))

    def patches(self, pixels_B3HW: torch.Tensor) -> torch.Tensor:
        """Host staging: [B, 3, H, W] -> the tower's input [B, 1, rows, 3 * patch * patch], padding rows zero."""
        return self._padded(unfold_patches(pixels_B3HW, self.cfg.patch_size))[:, None]

    def forward(self, patches_B1RP):
        """Patches on the device -> tokens [B, 1, rows, width]."""
        x = ttnn.add(self.patch_embedding(patches_B1RP), self.positions)
        for layer in self.layers:
            x = layer(x, self.mask)
        return self.post_layernorm(x)

    def __call__(self, pixels_B3HW: torch.Tensor):
        return self.forward(upload(self.runtime, self.patches(pixels_B3HW), ttnn.bfloat16))
