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
    pad = torch.zeros(num_heads, padded - head_dim, *rest, dtype=t.dtype, device=t.device)
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


def norm_weight(family: str, weight: torch.Tensor) -> torch.Tensor:
    """The plain RMSNorm weight that ttnn.rms_norm applies: Gemma's (1 + w) folded, Qwen's w as it is."""
    return folded_gemma_norm(weight) if family == "gemma" else weight.float()


def split_action_time_mlp_in(weight_OI: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """pi0's action_time_mlp_in acts on concat(action_emb, time_emb): W @ [a; t] = W_a @ a + W_t @ t.
    Returns ([in, out] weights) for the action half and the time half, so the time half can be computed once
    per denoising step outside the loop."""
    return linear_weight(weight_OI[:, :width]), linear_weight(weight_OI[:, width:])


def rotate_half_matrix(head_dim: int, padded: int | None = None) -> torch.Tensor:
    """R [padded, padded] with x @ R == rotate_half(x) = cat(-x[half:], x[:half]) over the first head_dim lanes, so
    RoPE is x * cos + (x @ R) * sin; padding lanes (a head zero-padded to a tile multiple) map to 0."""
    half, padded = head_dim // 2, padded or head_dim
    r = torch.zeros(padded, padded)
    r[half:head_dim, :half] = -torch.eye(half)
    r[:half, half:head_dim] = torch.eye(half)
    return r


def padded_head_norm(weight: torch.Tensor, padded: int) -> torch.Tensor:
    """A per-head RMSNorm weight [head_dim] for heads zero-padded to `padded` lanes, where the norm's mean runs over
    all `padded` lanes: mean_padded(x^2) = (head_dim / padded) * mean(x^2), so with epsilon * head_dim / padded the
    normalised value is sqrt(padded / head_dim) times too large, which the weight scaled by sqrt(head_dim / padded)
    undoes. Padding lanes get weight 0."""
    head_dim = weight.shape[0]
    scaled = weight.float() * (head_dim / padded) ** 0.5
    return torch.cat([scaled, scaled.new_zeros(padded - head_dim)])
