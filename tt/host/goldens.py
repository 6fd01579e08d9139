"""Project goldens: torch semantics for ops whose shipped `golden_function` is missing or misses our call pattern.

Each follows the op's docstring in ttnn 0.81.1 (and, where the docstring is silent, the device op's validation in
tt-metal). Tensor arguments arrive as torch tensors (floats in float32), the rest as the caller passed them.
Shape rules that the device enforces and that decide the math (how heads are cut) raise ValueError here.
"""

from __future__ import annotations

import torch
import ttnn

from models.prepare import TILE


def _split_heads(x_B1SW: torch.Tensor, heads: int, head_dim: int) -> torch.Tensor:
    """[B, 1, S, heads * head_dim] -> [B, heads, S, head_dim]."""
    b, _, s, _ = x_B1SW.shape
    return x_B1SW.reshape(b, s, heads, head_dim).permute(0, 2, 1, 3).contiguous()


def nlp_create_qkv_heads(input, input_kv=None, *, num_heads, num_kv_heads=None, transpose_k_heads=True,
                         kv_tied=False, **_):
    """Docstring: [B, 1, S, (H + 2K) * hd] -> q [B, H, S, hd], k [B, K, hd, S] (transposed by default; [B, K, S, hd]
    with transpose_k_heads=False), v [B, K, S, hd]. With input_kv, q comes from input [B, 1, S, H * hd] and k, v from
    input_kv [B, 1, S, 2K * hd]. With kv_tied the input holds one K/V section and V reads K's columns.
    The device derives head_dim from the tile-padded width and moves heads as whole tiles."""
    kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    kv_sections = 1 if kv_tied else 2
    if input.ndim != 4 or input.shape[1] != 1:
        raise ValueError(f"nlp_create_qkv_heads: input must be [B, 1, S, W], got {list(input.shape)}")
    if input_kv is None:
        width, heads = input.shape[-1], num_heads + kv_sections * kv_heads
    else:
        width, heads = input.shape[-1], num_heads
    if width % heads:
        raise ValueError(f"nlp_create_qkv_heads: input width {width} is not divisible into {heads} heads")
    head_dim = width // heads
    if head_dim % TILE or width % TILE:
        raise ValueError(f"nlp_create_qkv_heads: head_dim {head_dim} must be a multiple of {TILE} (heads are moved as "
                         "whole tiles; pad the head dimension)")
    if input_kv is None:
        q_part, kv_part = input[..., : num_heads * head_dim], input[..., num_heads * head_dim:]
    else:
        if input_kv.shape[:3] != input.shape[:3] or input_kv.shape[-1] != kv_sections * kv_heads * head_dim:
            raise ValueError(f"nlp_create_qkv_heads: input_kv {list(input_kv.shape)} must be [B, 1, S, "
                             f"{kv_sections} * {kv_heads} * {head_dim}] beside input {list(input.shape)}")
        q_part, kv_part = input, input_kv
    q = _split_heads(q_part, num_heads, head_dim)
    k = _split_heads(kv_part[..., : kv_heads * head_dim], kv_heads, head_dim)
    v = k.clone() if kv_tied else _split_heads(kv_part[..., kv_heads * head_dim:], kv_heads, head_dim)
    if transpose_k_heads:
        k = k.transpose(-2, -1).contiguous()
    return q, k, v


def nlp_concat_heads(input_tensor, **_):
    """Docstring: [B, num_heads, S, head_dim] -> [B, 1, S, num_heads * head_dim]."""
    b, h, s, d = input_tensor.shape
    return input_tensor.permute(0, 2, 1, 3).reshape(b, 1, s, h * d)


def scaled_dot_product_attention(input_tensor_q, input_tensor_k, input_tensor_v, *, output_concat_heads=False,
                                 **kwargs):
    """The shipped golden ignores output_concat_heads, with which the heads come out side by side: [B, 1, S, H * D]
    (bit-identical to nlp_concat_heads of the plain output, tt-metal's test_sdpa_output_concat_heads)."""
    out = ttnn.transformer.scaled_dot_product_attention.golden_function(input_tensor_q, input_tensor_k,
                                                                         input_tensor_v, **kwargs)
    return nlp_concat_heads(out) if output_concat_heads else out


def layer_norm(input_tensor, *, weight=None, bias=None, **kwargs):
    """The shipped golden only squeezes gamma/beta; ROW_MAJOR gamma/beta come as [D / 32, 32] sticks."""
    weight = None if weight is None else weight.reshape(-1)[: input_tensor.shape[-1]]
    bias = None if bias is None else bias.reshape(-1)[: input_tensor.shape[-1]]
    return ttnn.layer_norm.golden_function(input_tensor, weight=weight, bias=bias, **kwargs)


def rotary_embedding(input_tensor, cos_cache, sin_cache, token_index=None, **_):
    """The shipped golden reads one cache row (token_index); the prefill form (None) rotates every row s of the
    input with cache row s: x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1) (the kernel's split-half)."""
    if token_index is not None:
        return ttnn.experimental.rotary_embedding.golden_function(input_tensor, cos_cache, sin_cache, token_index)
    rows = input_tensor.shape[-2]
    return input_tensor * cos_cache[..., :rows, :] + rotate_half(input_tensor) * sin_cache[..., :rows, :]


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


PROJECT_GOLDENS = {
    "ttnn.experimental.rotary_embedding": rotary_embedding,
    "ttnn.experimental.nlp_create_qkv_heads": nlp_create_qkv_heads,
    "ttnn.experimental.nlp_concat_heads": nlp_concat_heads,
    "ttnn.transformer.scaled_dot_product_attention": scaled_dot_product_attention,
    "ttnn.layer_norm": layer_norm,
}
