"""`load_policy`: a preset name (random weights) or a checkpoint directory, on a chosen backend."""

from __future__ import annotations

from pathlib import Path

import torch
from loguru import logger

from .checkpoint import CheckpointError, read_checkpoint
from .presets import PRESETS, get_preset

BACKENDS = ("reference", "tt")


def _reference_policy(source: str, dtype: torch.dtype, seed: int):
    from reference.policy import Pi0Policy
    from reference.random_init import random_policy

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


DEFAULT_TT_CACHE = Path.home() / ".cache" / "vla-tt" / "tt-weights"


def load_policy(checkpoint_dir_or_preset: str | Path, backend: str = "reference",
                dtype: torch.dtype = torch.float32, seed: int = 0, precision: str = "bfp8",
                tt_cache_dir: str | Path | None = DEFAULT_TT_CACHE):
    """A ready policy. Presets get deterministic random weights from `seed`.

    backend "reference": PyTorch in `dtype`; float32 linears run through oneDNN (reference/onednn.py), so the
    returned module is for inference. backend "tt": TTNN on a Tenstorrent card when one is present, else on the
    host executor; `precision` is "bfp8" (bfloat8_b matrices) or "bf16", and `dtype` is not used. TT-ready weights
    are cached under `tt_cache_dir` (keyed by checkpoint content, precision and layout code; None disables it).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    if dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f"dtype must be torch.float32 or torch.bfloat16, got {dtype}")
    source = str(checkpoint_dir_or_preset)
    if backend == "reference":
        from reference.onednn import use_onednn_linears_

        policy = _reference_policy(source, dtype, seed)
        return use_onednn_linears_(policy) if dtype == torch.float32 else policy

    from tt.policy import Pi0Policy as TTPolicy
    from tt.precision import Precision
    from tt.runtime import active_runtime, open_runtime
    from tt.weight_cache import WeightCache, content_key

    settings = Precision(precision)
    # bfloat16 source weights are exact for both TT precisions and halve the host memory of the build.
    weights = _reference_policy(source, torch.bfloat16, seed)
    runtime = active_runtime() or open_runtime()
    cache = None
    if tt_cache_dir is not None:
        cache = WeightCache(tt_cache_dir, content_key(source, Path(tt_cache_dir), seed), settings.name)
    logger.info("building the TT policy ({} mode, {} weights)", runtime.mode, settings.name)
    return TTPolicy(runtime, weights.config, weights.state_dict(), settings, weight_cache=cache)
