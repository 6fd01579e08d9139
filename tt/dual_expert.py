"""Shared attention between the VLM and the action expert on TTNN. Twin of reference/dual_expert.py.

The prefix runs once (`fill_prefix_cache`); every denoising step runs the suffix through the expert
(`run_suffix`), attending over each layer's cached prefix K/V followed by the suffix's own (tt.attention.ExpertKV).
"""

from __future__ import annotations

from tt.attention import ExpertKV, PrefixKVCache, Rope
from tt.decoder import Decoder


def fill_prefix_cache(vlm: Decoder, prefix_B1PD, rope: Rope, mask) -> PrefixKVCache:
    keys, values, h = [], [], prefix_B1PD
    last = len(vlm.layers) - 1
    for i, layer in enumerate(vlm.layers):
        q, k, v, gate = layer.project(h, rope)
        keys.append(k)
        values.append(v)
        if i < last:  # the last layer's output is never read: only its K/V are
            h = layer.finish(h, layer.attend(q, k, v, mask), gate)
    return PrefixKVCache(keys, values)


def run_suffix(expert: Decoder, suffix_B1SD, kv: ExpertKV, rope: Rope, mask, modulations=None):
    """Suffix hidden states after the expert's final norm, [B, 1, S, W]. modulations: per layer (input, post)
    adaptive-norm modulations plus one for the final norm, or None without adaptive norms."""
    if len(kv.cache.keys) != len(expert.layers):
        raise ValueError(f"the prefix cache holds {len(kv.cache.keys)} layers, the expert has {len(expert.layers)}")
    h = suffix_B1SD
    for i, layer in enumerate(expert.layers):
        mods = modulations[i] if modulations else (None, None)
        q, k, v, gate = layer.project(h, rope, mods)
        k, v = kv.extended(i, k, v)
        h = layer.finish(h, layer.attend(q, k, v, mask), gate, mods)
    return expert.norm(h, modulations[-1] if modulations else None)[0]
