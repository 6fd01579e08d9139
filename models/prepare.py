"""Weights laid out for the TTNN tree, in pure torch (shared, unit-tested without hardware).

- Linear weights are transposed to [in, out] (ttnn.linear computes x @ w).
- q/k/v are fused into one [in, (H + 2K) * head_dim] matrix in the [Q | K | V] order that
  ttnn.experimental.nlp_create_qkv_heads splits; biases likewise.
- Heads can be zero-padded to a tile multiple (SigLIP's head_dim 72 -> 96): padded q/k lanes add 0 to every score
  and padded v lanes give 0 outputs, which the zero rows added to o_proj drop.
- Gemma's x * (1 + w) norms are folded to plain weights (1 + w) so ttnn.rms_norm applies them directly.

Results may be views (a transpose is not copied here): the upload makes them contiguous when it converts them.
"""

from __future__ import annotations

import torch

TILE = 32


def tile_padded(size: int) -> int:
    """`size` rounded up to a whole number of tiles (a head dim, a sequence length)."""
    return -(-size // TILE) * TILE


def linear_weight(weight_OI: torch.Tensor) -> torch.Tensor:
    return weight_OI.t()


def _pad_heads(t: torch.Tensor, num_heads: int, head_dim: int, padded: int) -> torch.Tensor:
    """Pad the head axis of an output-major tensor [H * head_dim, ...] to [H * padded, ...]."""
    if padded == head_dim:
        return t
    rest = t.shape[1:]
    per_head = t.reshape(num_heads, head_dim, *rest)
    pad = torch.zeros(num_heads, padded - head_dim, *rest, dtype=t.dtype)
    return torch.cat([per_head, pad], dim=1).reshape(num_heads * padded, *rest)


def fused_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int, num_kv_heads: int,
              head_dim: int, padded: int | None = None) -> torch.Tensor:
    """Weights [out, in] (or biases [out]) of q, k, v -> [in, (H + 2K) * padded] (biases: [(H + 2K) * padded])."""
    padded = padded or head_dim
    parts = [_pad_heads(q, num_heads, head_dim, padded), _pad_heads(k, num_kv_heads, head_dim, padded),
             _pad_heads(v, num_kv_heads, head_dim, padded)]
    fused = torch.cat(parts, dim=0)
    return fused if fused.ndim == 1 else fused.t()


def output_projection(o_weight: torch.Tensor, num_heads: int, head_dim: int, padded: int | None = None):
    """o_proj [out, H * head_dim] -> [H * padded, out] with zero rows for padded lanes."""
    padded = padded or head_dim
    return _pad_heads(o_weight.t(), num_heads, head_dim, padded)


def folded_gemma_norm(weight: torch.Tensor) -> torch.Tensor:
    return 1.0 + weight.float()


def split_action_time_mlp_in(weight_OI: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """pi0's action_time_mlp_in acts on concat(action_emb, time_emb): W @ [a; t] = W_a @ a + W_t @ t.
    Returns ([in, out] weights) for the action half and the time half, so the time half can be computed once
    per denoising step outside the loop."""
    return linear_weight(weight_OI[:, :width]), linear_weight(weight_OI[:, width:])


def rotate_half_matrix(head_dim: int) -> torch.Tensor:
    """R with x @ R == rotate_half(x) = cat(-x[half:], x[:half]), so RoPE is x * cos + (x @ R) * sin."""
    half = head_dim // 2
    r = torch.zeros(head_dim, head_dim)
    r[half:, :half] = -torch.eye(half)
    r[:half, half:] = torch.eye(half)
    return r
