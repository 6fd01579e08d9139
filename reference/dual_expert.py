"""Shared attention between the VLM (prefix) and the action expert (suffix).

Per layer each expert projects its own tokens with its own q/k/v; keys and values of prefix and suffix are
concatenated along the sequence and one attention runs over the joint sequence; each expert then applies its
own o_proj, residual, norm and MLP. At inference the prefix runs once and its per-layer K/V are cached
(`fill_prefix_cache`); each denoising step runs only the suffix through the expert (`run_suffix`).
`joint_forward` is the uncached formulation over the whole sequence, kept to prove the cached one equal to it.
"""

from __future__ import annotations

import torch

from models.masks import (additive_mask, attention_mask_2d, prefix_positions, suffix_attention_mask,
                          suffix_positions)

from .attention import PrefixKVCache, attend
from .decoder import Decoder


def fill_prefix_cache(vlm: Decoder, prefix_BPD: torch.Tensor, pad_BP: torch.Tensor) -> PrefixKVCache:
    bias = additive_mask(attention_mask_2d(pad_BP, torch.zeros_like(pad_BP)), prefix_BPD.dtype)
    cos, sin = vlm.rope(prefix_positions(pad_BP), prefix_BPD.dtype)
    keys, values, h = [], [], prefix_BPD
    last = len(vlm.layers) - 1
    for i, layer in enumerate(vlm.layers):
        q, k, v, gate = layer.project(h, cos, sin)
        keys.append(k)
        values.append(v)
        if i < last:  # the last layer's output is never read: only its K/V are
            h = layer.finish(h, attend(q, k, v, bias), gate)
    return PrefixKVCache(keys, values, pad_BP)


def run_suffix(expert: Decoder, suffix_BSD: torch.Tensor, cache: PrefixKVCache, suffix_ar_S: torch.Tensor,
               cond_BC: torch.Tensor | None = None) -> torch.Tensor:
    """Suffix hidden states after the expert's final norm, [B, S, W], attending to the cached prefix."""
    s = suffix_BSD.shape[1]
    bias = additive_mask(suffix_attention_mask(cache.pad, suffix_ar_S), suffix_BSD.dtype)
    cos, sin = expert.rope(suffix_positions(cache.pad, s), suffix_BSD.dtype)
    h = suffix_BSD
    for layer, k_prefix, v_prefix in zip(expert.layers, cache.keys, cache.values, strict=True):
        q, k, v, gate = layer.project(h, cos, sin, cond_BC)
        k = torch.cat([k_prefix.to(k.dtype), k], dim=2)
        v = torch.cat([v_prefix.to(v.dtype), v], dim=2)
        h = layer.finish(h, attend(q, k, v, bias), gate, cond_BC)
    return expert.final_norm(h, cond_BC)


def joint_forward(vlm: Decoder, expert: Decoder, prefix_BPD: torch.Tensor, suffix_BSD: torch.Tensor,
                  pad_BN: torch.Tensor, ar_BN: torch.Tensor, cond_BC: torch.Tensor | None = None):
    """Both streams through all layers with the joint mask over N = P + S tokens; returns both final-normed."""
    p = prefix_BPD.shape[1]
    bias = additive_mask(attention_mask_2d(pad_BN, ar_BN), prefix_BPD.dtype)
    cos, sin = vlm.rope(prefix_positions(pad_BN), prefix_BPD.dtype)
    streams = [prefix_BPD, suffix_BSD]
    conds = [None, cond_BC]
    spans = [slice(0, p), slice(p, None)]
    for layers in zip(vlm.layers, expert.layers, strict=True):
        projected = [layer.project(h, cos[:, span], sin[:, span], c)
                     for layer, h, span, c in zip(layers, streams, spans, conds)]
        q, k, v = (torch.cat([pr[i] for pr in projected], dim=2) for i in range(3))
        attn = attend(q, k, v, bias)
        streams = [layer.finish(h, attn[:, span], pr[3], c)
                   for layer, h, span, pr, c in zip(layers, streams, spans, projected, conds)]
    return vlm.final_norm(streams[0]), expert.final_norm(streams[1], cond_BC)
