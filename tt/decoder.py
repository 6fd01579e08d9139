"""A Gemma- or Qwen-family decoder stack on TTNN. Twin of reference/decoder.py: layers expose `project`
(norm, fused QKV, q/k norm, RoPE) and `finish` (o_proj, gated residual, norm, MLP, gated residual).

pi0.5's adaptive RMSNorm: ttnn.rms_norm with (1 + scale) as its weight and shift as its bias (one op: the norm
kernel applies both); the residual branch is multiplied by gate and added (ttnn.addcmul). scale, shift and gate
depend only on the flow time, so `modulations` computes them for every denoising step before the loop starts.
"""

from __future__ import annotations

import math

import torch

from models.config import DecoderConfig
from models.prepare import fused_qkv, linear_weight, norm_weight, output_projection, padded_head_norm, tile_padded
from tt.attention import Rotation, attention
from tt.common import Linear, scoped, upload, upload_weight
from tt.host.device import spec_of
from tt.gemma import GemmaMLP
from tt.ops import ttnn
from tt.precision import Precision
from tt.qwen import QwenMLP

_MLP = {"gemma": GemmaMLP, "qwen": QwenMLP}


class Norm:
    """Plain (weighted) RMSNorm, or the adaptive one when the decoder is conditioned."""

    def __init__(self, runtime, cfg: DecoderConfig, w: dict, precision: Precision, role: str):
        self.cfg, self.precision = cfg, precision
        if cfg.adarms:
            self.dense = Linear(runtime, linear_weight(w["dense.weight"]), w["dense.bias"],
                                precision.matmuls(f"{role}_mlp"))
            self.weight = None
        else:
            self.weight = upload_weight(runtime, lambda: norm_weight(cfg.family, w["weight"]).reshape(1, -1),
                                        ttnn.bfloat16)

    def modulation(self, cond_B11C):
        """(1 + scale, shift, gate), each [B, 1, 1, W], for one conditioning vector."""
        scale, shift, gate = ttnn.split(self.dense(cond_B11C), self.cfg.width, dim=3)
        return ttnn.add(scale, 1.0), shift, gate

    def __call__(self, x, modulation=None):
        """Returns (normed, residual gate or None)."""
        if modulation is None:
            return ttnn.rms_norm(x, epsilon=self.cfg.norm_eps, weight=self.weight,
                                 compute_kernel_config=self.precision.norm_kernel), None
        one_plus_scale, shift, gate = modulation
        return ttnn.rms_norm(x, epsilon=self.cfg.norm_eps, weight=one_plus_scale, bias=shift,
                             compute_kernel_config=self.precision.norm_kernel), gate


def attention_scales(head_dim: int, q_norm: bool) -> tuple[float, float]:
    """(the scale SDPA applies, the scale folded into q's weights). ttnn's SDPA given a mask and a scale other than
    1 first multiplies the mask by 1 / scale in a program of its own (tt.host.resources.attention); 1 / sqrt(head_dim)
    is folded into q instead when it is a power of two, which scales every weight format exactly, or when q has a norm
    of its own: that norm's bfloat16 weight takes it with one rounding (relative 2^-9), as small as the rounding of
    q's own bfloat16 output."""
    scale = head_dim ** -0.5
    return (1.0, scale) if q_norm or math.log2(scale).is_integer() else (scale, 1.0)


def _gated_residual(x, y, gate):
    """x + y * gate in one ternary op (ttnn.addcmul) where gate is one row per batch entry of y; a gate shared by
    several batch entries would take ttnn's composite addcmul, so there it is a multiply and an add."""
    if gate is None:
        return ttnn.add(x, y)
    if gate.shape[0] == y.shape[0]:
        return ttnn.addcmul(x, y, gate)
    return ttnn.add(x, ttnn.multiply(y, gate))


class DecoderLayer:
    """Heads are zero-padded to a tile multiple of lanes (models.prepare) when head_dim is not one; the per-head
    q/k norms then average over the padded lanes, which their folded weights and epsilon make up for."""

    def __init__(self, runtime, cfg: DecoderConfig, w: dict, precision: Precision, role: str = "vlm"):
        """role: "vlm" or "expert", whose op families of `precision` this layer's matmuls take."""
        self.cfg, self.precision, self.grid = cfg, precision, runtime.device.compute_with_storage_grid_size()
        self.spec = spec_of(runtime.device)
        attn = scoped(w, "self_attn.")
        h, k, d = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        padded = tile_padded(d)
        self.attention_scale, q_scale = attention_scales(d, cfg.qk_norm)
        projection_scale = 1.0 if cfg.qk_norm else q_scale  # a q norm would undo a scale applied before it
        bias = (lambda: fused_qkv(attn["q_proj.bias"] * projection_scale, attn["k_proj.bias"], attn["v_proj.bias"],
                                  h, k, d, padded)) if cfg.qkv_bias else None
        self.qkv = Linear(runtime, lambda: fused_qkv(attn["q_proj.weight"] * projection_scale, attn["k_proj.weight"],
                                                     attn["v_proj.weight"], h, k, d, padded), bias,
                          precision.matmuls(f"{role}_qkvo"))
        self.o_proj = Linear(runtime, lambda: output_projection(attn["o_proj.weight"], h, d, padded), None,
                             precision.matmuls(f"{role}_qkvo"))
        self.qk_norm_eps = cfg.norm_eps * d / padded
        self.qk_norms = tuple(upload_weight(runtime, lambda name=name, scale=scale: padded_head_norm(
            norm_weight(cfg.family, attn[f"{name}.weight"]) * scale, padded).reshape(1, -1), ttnn.bfloat16)
            for name, scale in (("q_norm", q_scale), ("k_norm", 1.0))) if cfg.qk_norm else None
        self.input_layernorm = Norm(runtime, cfg, scoped(w, "input_layernorm."), precision, role)
        self.post_attention_layernorm = Norm(runtime, cfg, scoped(w, "post_attention_layernorm."), precision, role)
        self.mlp = _MLP[cfg.family](runtime, scoped(w, "mlp."), precision.matmuls(f"{role}_mlp"))

    def modulations(self, cond_B11C):
        return self.input_layernorm.modulation(cond_B11C), self.post_attention_layernorm.modulation(cond_B11C)

    def project(self, h, rope, modulations=(None, None)):
        normed, gate = self.input_layernorm(h, modulations[0])
        q, k, v = ttnn.experimental.nlp_create_qkv_heads(self.qkv(normed), num_heads=self.cfg.num_heads,
                                                         num_kv_heads=self.cfg.num_kv_heads, transpose_k_heads=False)
        if self.qk_norms is not None:
            q = ttnn.rms_norm(q, epsilon=self.qk_norm_eps, weight=self.qk_norms[0],
                              compute_kernel_config=self.precision.norm_kernel)
            k = ttnn.rms_norm(k, epsilon=self.qk_norm_eps, weight=self.qk_norms[1],
                              compute_kernel_config=self.precision.norm_kernel)
        return rope(q), rope(k), v, gate

    def attend(self, q, k, v, mask):
        """[B, 1, S, H * D], the heads side by side (tt.attention.attention)."""
        return attention(q, k, v, mask, self.attention_scale, self.precision.attention_kernel, self.grid, self.spec)

    def finish(self, h, attn, gate, modulations=(None, None)):
        h = _gated_residual(h, self.o_proj(attn), gate)
        normed, gate = self.post_attention_layernorm(h, modulations[1])
        return _gated_residual(h, self.mlp(normed), gate)


def _embedding_table(cfg: DecoderConfig, table: torch.Tensor) -> torch.Tensor:
    table = table.float()
    if cfg.scale_embeddings:  # fold sqrt(width), rounded to bfloat16 as transformers does
        table = table * torch.tensor(cfg.width ** 0.5, dtype=torch.bfloat16).float()
    return table


def token_ids(tokens_BL: torch.Tensor):
    """(tensor, dtype, layout) of token ids as ttnn.embedding takes them."""
    return tokens_BL.to(torch.int32), ttnn.uint32, ttnn.ROW_MAJOR_LAYOUT


class Decoder:
    def __init__(self, runtime, cfg: DecoderConfig, weights: dict, precision: Precision, role: str = "vlm"):
        self.runtime, self.cfg = runtime, cfg
        self.embed_tokens = None
        if cfg.vocab_size:
            self.embed_tokens = upload_weight(runtime, lambda: _embedding_table(cfg, weights["embed_tokens.weight"]),
                                              ttnn.bfloat16, layout=ttnn.ROW_MAJOR_LAYOUT)
        self.layers = [DecoderLayer(runtime, cfg, scoped(weights, f"layers.{i}."), precision, role)
                       for i in range(cfg.depth)]
        self.norm = Norm(runtime, cfg, scoped(weights, "norm."), precision, role)
        self.rotation = Rotation.upload(runtime, cfg.head_dim)

    def embed(self, tokens_BL: torch.Tensor):
        """Token ids (host) -> [B, 1, L, width] embeddings on the device."""
        return self.embed_ids(upload(self.runtime, *token_ids(tokens_BL)))

    def embed_ids(self, ids_BL):
        """Token ids on the device (token_ids) -> [B, 1, L, width] embeddings."""
        emb = ttnn.embedding(ids_BL, self.embed_tokens, layout=ttnn.TILE_LAYOUT, dtype=ttnn.bfloat16)
        return ttnn.unsqueeze(emb, 1)

    def __call__(self, h_B1SD, rope, mask):
        """Plain self-attention over one stream; returns final-normed hidden states (twin of the reference's
        Decoder.forward, used to check the stack on its own)."""
        for layer in self.layers:
            q, k, v, gate = layer.project(h_B1SD, rope)
            h_B1SD = layer.finish(h_B1SD, layer.attend(q, k, v, mask), gate)
        return self.norm(h_B1SD)[0]
