"""`load_policy`: a preset name (random weights) or a checkpoint directory, on a chosen backend."""

from __future__ import annotations

from pathlib import Path

import torch
from loguru import logger

from .checkpoint import CheckpointError, read_checkpoint
from .presets import PRESETS, get_preset

BACKENDS = ("reference",)


def load_policy(checkpoint_dir_or_preset: str | Path, backend: str = "reference",
                dtype: torch.dtype = torch.float32, seed: int = 0):
    """A ready policy in eval mode. Presets get deterministic random weights from `seed`."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    if dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f"dtype must be torch.float32 or torch.bfloat16, got {dtype}")
    from reference.policy import Pi0Policy
    from reference.random_init import random_policy

    source = str(checkpoint_dir_or_preset)
    if source in PRESETS:
        return random_policy(get_preset(source), seed=seed, dtype=dtype)
    if not Path(source).is_dir():
        raise ValueError(f"{source!r} is neither a preset ({', '.join(PRESETS)}) nor a checkpoint directory")
    config, state = read_checkpoint(source)
    with torch.device("meta"):
        policy = Pi0Policy(config)
    expected = dict(policy.state_dict())
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k}: expected {tuple(expected[k].shape)}, found {tuple(state[k].shape)}"
             for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(f"{source}: checkpoint does not match the inferred architecture:"
                              + "".join(f"\n  missing {k}" for k in missing)
                              + "".join(f"\n  unexpected {k}" for k in unexpected)
                              + "".join(f"\n  shape {w}" for w in wrong))
    policy.load_state_dict({k: v.to(dtype) for k, v in state.items()}, assign=True)
    logger.info("loaded {} ({} tensors, {} policy)", source, len(state), config.suffix.kind)
    return policy.eval()
