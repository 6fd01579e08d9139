"""Deterministic random weights for presets (tests, benchmarks, the demo's generated checkpoint)."""

from __future__ import annotations

import torch
from torch import nn

from models.config import PolicyConfig

from .gemma import GemmaRMSNorm
from .policy import Pi0Policy

_CHUNK_ELEMENTS = 1 << 24  # bounds the float32 scratch so that initialisation adds little to peak memory
_NORM_SUFFIXES = ("norm.weight", "layernorm.weight", "layer_norm1.weight", "layer_norm2.weight")


def _mean_std(name: str, param: torch.Tensor, gemma_norm: bool) -> tuple[float, float]:
    if name.endswith(_NORM_SUFFIXES):
        return (0.0 if gemma_norm else 1.0), 0.1  # Gemma stores w of (1 + w); other norms store the scale
    if param.ndim == 1:
        return 0.0, 0.02
    if "embed" in name:
        return 0.0, param.shape[-1] ** -0.5
    return 0.0, param[0].numel() ** -0.5  # fan-in scaling keeps activations O(1) at any width


@torch.no_grad()
def init_random_(module: nn.Module, seed: int, gemma_norm_types: tuple[type, ...] = (GemmaRMSNorm,)) -> None:
    """Fill every parameter in place, in parameter order, from one seeded generator.

    Norms of `gemma_norm_types` store w of x * (1 + w), so their weights are drawn around 0, all others around 1.
    """
    gen = torch.Generator().manual_seed(seed)
    gemma_norms = {id(m.weight) for m in module.modules()
                   if isinstance(m, gemma_norm_types) and getattr(m, "weight", None) is not None}
    for name, param in module.named_parameters():
        mean, std = _mean_std(name, param, id(param) in gemma_norms)
        flat = param.view(-1)
        for start in range(0, flat.numel(), _CHUNK_ELEMENTS):
            chunk = flat[start:start + _CHUNK_ELEMENTS]
            chunk.copy_(torch.empty(chunk.shape, dtype=torch.float32).normal_(mean, std, generator=gen))


def random_policy(config: PolicyConfig, seed: int = 0, dtype: torch.dtype = torch.float32) -> Pi0Policy:
    """Build without a second copy of the weights: lay out on the meta device, then allocate once in dtype."""
    with torch.device("meta"):
        policy = Pi0Policy(config).to(dtype)
    policy = policy.to_empty(device="cpu")
    init_random_(policy, seed)
    return policy.eval()
