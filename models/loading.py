"""`load_policy`: a preset name (random weights) or a checkpoint directory, on a chosen backend."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from pathlib import Path

import torch
from loguru import logger

from .checkpoint import LoadReport, preset_report, read_checkpoint
from .checkpoint.layout import COMPONENTS
from .checkpoint.report import module_component, random_source
from .config import PolicyConfig
from .presets import PRESETS, get_preset

BACKENDS = ("reference", "tt")


@contextmanager
def _collection_deferred():
    """Reading a checkpoint makes tens of thousands of small objects (header entries, modules, parameters), which
    would set off full collections of the caller's whole heap: ~0.1 s each once torch is imported, a third of a
    full-size load. Any cyclic garbage made meanwhile is collected afterwards instead."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _from_checkpoint(directory: str, dtype: torch.dtype, seed: int, base_preset: str | None):
    """Validate everything, then assign the (memory-mapped) tensors into a meta-device policy."""
    from reference.policy import Pi0Policy
    from reference.random_init import init_random_

    layouts = {}

    def parameter_shapes(config: PolicyConfig) -> dict[str, tuple[int, ...]]:
        with torch.device("meta"):  # shapes only: no weight is allocated before validation passes
            layouts[config] = Pi0Policy(config)
        return {name: tuple(p.shape) for name, p in layouts[config].state_dict().items()}

    checkpoint = read_checkpoint(directory, parameter_shapes, base_preset)
    policy = layouts[checkpoint.config].to(dtype)
    random_parts = {}
    for name in checkpoint.random_components:
        part = getattr(policy, name).to_empty(device="cpu")
        part_seed = seed * len(COMPONENTS) + COMPONENTS.index(name)  # distinct per component and per seed
        init_random_(part, part_seed)
        random_parts[name] = module_component(name, part, random_source(part_seed))
    result = policy.load_state_dict(dict(checkpoint.tensors(dtype)), assign=True, strict=False)
    unfilled = [name for name, p in policy.named_parameters() if p.is_meta]
    if result.unexpected_keys or unfilled:  # validation rules both out; never run on unset weights
        raise RuntimeError(f"internal: unexpected {result.unexpected_keys}, unfilled {unfilled}")
    report = checkpoint.report(dtype, random_parts)
    if random_parts:
        logger.warning("{}: {} not in the checkpoint: RANDOM weights (from seed {}), sized from preset {}",
                       directory, ", ".join(random_parts), seed, checkpoint.base_preset)
    return policy.eval(), report


def _reference_with_report(source: str, dtype: torch.dtype, seed: int,
                           base_preset: str | None = None) -> tuple[object, LoadReport]:
    from reference.random_init import random_policy

    if source in PRESETS:
        policy = random_policy(get_preset(source), seed=seed, dtype=dtype)
        return policy, preset_report(source, policy, seed)
    if not Path(source).is_dir():
        raise ValueError(f"{source!r} is neither a preset ({', '.join(PRESETS)}) nor a checkpoint directory")
    with _collection_deferred():
        policy, report = _from_checkpoint(source, dtype, seed, base_preset)
    logger.info("loaded {}", report.summary())
    return policy, report


def _reference_policy(source: str, dtype: torch.dtype, seed: int, base_preset: str | None = None):
    return _reference_with_report(source, dtype, seed, base_preset)[0]


DEFAULT_TT_CACHE = Path.home() / ".cache" / "vla-tt" / "tt-weights"


def load_policy(checkpoint_dir_or_preset: str | Path, backend: str = "reference",
                dtype: torch.dtype = torch.float32, seed: int = 0, precision: str = "bfp8",
                tt_cache_dir: str | Path | None = DEFAULT_TT_CACHE, *, base_preset: str | None = None,
                return_report: bool = False, numerics: str | None = None):
    """A ready policy. Presets get deterministic random weights from `seed`.

    A checkpoint directory's layout is detected from its keys (models/checkpoint/__init__.py lists them); every
    problem is reported in one `models.checkpoint.CheckpointError` before any weight is loaded. Components a
    checkpoint lacks (a bare Qwen / Llama / Gemma decoder, a Prismatic VLM) get random weights from `seed`, sized by
    `base_preset` (default "pi0" for a Gemma VLM, else "pi0-qwen3"). With `return_report` (reference backend), returns
    (policy, `models.checkpoint.LoadReport`): layout, files and, per component, tensors, parameters, bytes, dtypes.

    backend "reference": PyTorch in `dtype`; float32 linears run through oneDNN (reference/onednn.py), so the
    returned module is for inference. backend "tt": TTNN on a Tenstorrent card when one is present, else on the
    host executor; `precision` is "bfp8" (bfloat8_b matrices) or "bf16", and `dtype` is not used. TT-ready weights
    are cached under `tt_cache_dir` (keyed by checkpoint content, precision and layout code; None disables it).

    `numerics` (backend "tt") is how the host path computes, tt.host.numerics: "exact" (each op's golden in
    float32) or "device" (what the Tensix hardware computes). It belongs to the TTNN runtime: with none open, one is
    opened with `numerics` (default "exact"); an open host runtime is used as it is, and a `numerics` that differs
    from its own is refused (close it, or open one with the numerics you want). On a card it has no effect.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    if dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f"dtype must be torch.float32 or torch.bfloat16, got {dtype}")
    if backend != "reference" and (return_report or base_preset is not None):
        raise ValueError("return_report and base_preset need backend='reference'")
    if backend == "reference" and numerics is not None:
        raise ValueError(f"numerics={numerics!r} selects how the TTNN host path computes; backend='reference' "
                         "computes in PyTorch and takes no numerics (use backend='tt')")
    source = str(checkpoint_dir_or_preset)
    if backend == "reference":
        from reference.onednn import use_onednn_linears_

        policy, report = _reference_with_report(source, dtype, seed, base_preset)
        policy = use_onednn_linears_(policy) if dtype == torch.float32 else policy
        return (policy, report) if return_report else policy

    from tt.host.numerics import check as check_numerics
    from tt.policy import Pi0Policy as TTPolicy
    from tt.precision import Precision
    from tt.runtime import active_runtime, open_runtime
    from tt.weight_cache import WeightCache, content_key

    settings = Precision(precision)
    if numerics is not None:
        check_numerics(numerics)
    runtime = active_runtime()
    if runtime is None:
        runtime = open_runtime(numerics=numerics or "exact")
    elif runtime.mode == "host" and numerics is not None and numerics != runtime.numerics:
        raise ValueError(f"load_policy(numerics={numerics!r}): the open host runtime computes with "
                         f"{runtime.numerics!r} numerics; close_runtime() it and open_runtime('host', "
                         f"numerics={numerics!r}), or leave numerics unset to use the open runtime's")
    # bfloat16 source weights are exact for both TT precisions and halve the host memory of the build.
    weights = _reference_policy(source, torch.bfloat16, seed)
    cache = None
    if tt_cache_dir is not None:
        cache = WeightCache(tt_cache_dir, content_key(source, Path(tt_cache_dir), seed), settings.name)
    logger.info("building the TT policy ({}, {} weights)", runtime.label, settings.name)
    return TTPolicy(runtime, weights.config, weights.state_dict(), settings, weight_cache=cache)
