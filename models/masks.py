"""Attention masks and position ids, exactly as openpi's `make_att_2d_masks` and lerobot's pi0 define them.

Every token carries a pad flag (True = real token) and an autoregressive flag ar. Token i may attend to token j
iff both are real and cumsum(ar)[j] <= cumsum(ar)[i]. Prefix tokens have ar = 0 (bidirectional prefix); the
pi0 suffix has ar = 1 on the state token and on the first action token, 0 on the rest.
"""

from __future__ import annotations

import torch

# openpi's additive mask value. It is finite so that fully masked rows (padding queries) give a uniform softmax
# instead of NaN, which would otherwise leak into real tokens through 0 * NaN.
MASKED_SCORE = -2.3819763e38



def attention_mask_2d(pad_BN: torch.Tensor, ar_BN: torch.Tensor) -> torch.Tensor:
    """bool [B, N, N]: mask[b, i, j] is True where query i may attend to key j."""
    if pad_BN.ndim != 2 or ar_BN.shape != pad_BN.shape:
        raise ValueError(f"pad and ar flags must both be [B, N], got {tuple(pad_BN.shape)} and {tuple(ar_BN.shape)}")
    cumsum = torch.cumsum(ar_BN.to(torch.int64), dim=1)
    causal = cumsum[:, None, :] <= cumsum[:, :, None]
    both_real = pad_BN[:, None, :] & pad_BN[:, :, None]
    return causal & both_real


def prefix_positions(prefix_pad_BP: torch.Tensor) -> torch.Tensor:
    """int64 [B, P]: cumsum(pad) - 1, so padding does not advance the position."""
    return torch.cumsum(prefix_pad_BP.to(torch.int64), dim=1) - 1


def suffix_ar_flags(horizon: int, has_state_token: bool) -> torch.Tensor:
    """bool [S]: ar flags of the suffix (state token, then `horizon` action tokens)."""
    action = [True] + [False] * (horizon - 1)
    return torch.tensor(([True] if has_state_token else []) + action)


def suffix_attention_mask(prefix_pad_BP: torch.Tensor, suffix_ar_S: torch.Tensor) -> torch.Tensor:
    """bool [B, S, P + S]: suffix queries over [cached prefix keys, suffix keys].

    The suffix's cumulative ar is >= 1 everywhere while the prefix's is 0, so every suffix token sees every real
    prefix token; within the suffix (all real tokens) the ar flags apply.
    """
    b, s = prefix_pad_BP.shape[0], suffix_ar_S.shape[0]
    device = prefix_pad_BP.device
    to_prefix = prefix_pad_BP[:, None, :].expand(b, s, prefix_pad_BP.shape[1])
    suffix_pad = torch.ones(b, s, dtype=torch.bool, device=device)
    within = attention_mask_2d(suffix_pad, suffix_ar_S.to(device)[None].expand(b, s))
    return torch.cat([to_prefix, within], dim=2)


def suffix_positions(prefix_pad_BP: torch.Tensor, suffix_len: int) -> torch.Tensor:
    """int64 [B, S]: suffix positions continue after the number of real prefix tokens."""
    valid = prefix_pad_BP.to(torch.int64).sum(dim=1, keepdim=True)
    return valid + torch.arange(suffix_len, device=prefix_pad_BP.device)[None, :]


def additive_mask(mask_BQK: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, 1, Q, K] with 0 where attention is allowed and MASKED_SCORE (clamped to dtype) elsewhere."""
    masked = max(MASKED_SCORE, torch.finfo(dtype).min)
    return torch.where(mask_BQK[:, None], 0.0, masked).to(dtype)
