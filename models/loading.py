"""`load_policy`: a preset name (random weights) or a checkpoint directory, on a chosen backend."""

from __future__ import annotations

import gc
import numbers
import os
from contextlib import contextmanager
from pathlib import Path

import torch
from loguru import logger

from .checkpoint import LoadReport, preset_report, read_checkpoint
from .checks import described, require_directory_path
from .checkpoint.layout import COMPONENTS
from .checkpoint.report import module_component, random_source
from .config import PolicyConfig
from .hub_cache import HubCache, is_repo_id, repo_snapshot
from .presets import PRESETS, architecture_preset, get_preset

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
    with _collection_deferred():
        policy, report = _from_checkpoint(source, dtype, seed, base_preset)
    logger.info("loaded {}", report.summary())
    return policy, report


def _reference_policy(source: str, dtype: torch.dtype, seed: int, base_preset: str | None = None):
    return _reference_with_report(source, dtype, seed, base_preset)[0]


def resolve_checkpoint(name: str | Path, hub: HubCache | None = None) -> str:
    """A preset name as is, or the checkpoint directory `name` stands for: a directory, else a Hugging Face repo id
    ("lerobot/pi0") found in the local hub cache (models/hub_cache.py; never downloaded)."""
    source = str(name)
    if source in PRESETS or Path(source).is_dir():
        return source
    if is_repo_id(source):
        try:
            return str(repo_snapshot(source, cache=hub))
        except FileNotFoundError as err:
            raise ValueError(f"{source!r} is neither a preset ({', '.join(PRESETS)}), nor a checkpoint directory, "
                             f"nor in the local Hugging Face cache: {err}") from None
    raise ValueError(f"{source!r} is neither a preset ({', '.join(PRESETS)}), nor a checkpoint directory, nor a "
                     "Hugging Face repo id ('org/name')")




# The per-user cache directory of the XDG base-directory convention, at its default place; "~" is expanded when a
# policy is loaded. Library code reads no environment variables, so a different $XDG_CACHE_HOME is followed by
# passing tt_cache_dir (the demo CLI does).
TT_CACHE_SUBDIR = Path("vla-tt") / "tt-weights"
DEFAULT_TT_CACHE = Path("~/.cache") / TT_CACHE_SUBDIR


def _cache_dir(tt_cache_dir) -> Path | None:
    if tt_cache_dir is None:
        return None
    if not isinstance(tt_cache_dir, (str, os.PathLike)):
        raise ValueError(f"tt_cache_dir must be a directory path or None, found {described(tt_cache_dir)}")
    directory = Path(tt_cache_dir).expanduser()
    require_directory_path(directory, "tt_cache_dir")
    return directory


def load_policy(checkpoint_dir_or_preset: str | Path, backend: str = "reference",
                dtype: torch.dtype = torch.float32, seed: int = 0, precision: str = "bfp8",
                tt_cache_dir: str | Path | None = DEFAULT_TT_CACHE, *, base_preset: str | None = None,
                return_report: bool = False, numerics: str | None = None):
    """A ready policy. Presets get deterministic random weights from `seed`; a Hugging Face repo id ("lerobot/pi0")
    is read from the local hub cache ($HF_HUB_CACHE or $HF_HOME/hub; `resolve_checkpoint`), never downloaded.

    A checkpoint directory's layout is detected from its keys (models/checkpoint/__init__.py lists them); every
    problem is reported in one `models.checkpoint.CheckpointError` before any weight is loaded. Components a
    checkpoint lacks (a bare Qwen / Llama / Gemma decoder, a Prismatic VLM) get random weights from `seed`, sized by
    `base_preset` (default "pi0" for a Gemma VLM, else "pi0-qwen3"). With `return_report` (reference backend), returns
    (policy, `models.checkpoint.LoadReport`): layout, files and, per component, tensors, parameters, bytes, dtypes.

    backend "reference": PyTorch in `dtype`; float32 linears run through oneDNN (reference/onednn.py), so the
    returned module is for inference. backend "tt": TTNN on a Tenstorrent card when one is present, else on the
    host executor; `precision` is "bfp8" (bfloat8_b matrices), "bf16", "auto" (the stored precision plan of the
    preset whose architecture the policy has, tt/plans), a stored plan's name, a plan's .json path
    (`python -m tt.precision_plan` makes plans) or a tt.precision.Precision; `dtype` is not used. TT-ready weights
    are cached under `tt_cache_dir` (default ~/.cache/vla-tt/tt-weights; keyed by checkpoint content, precision and
    layout code; None disables it).

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
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, found {described(seed)}")
    cache_dir = _cache_dir(tt_cache_dir) if backend == "tt" else None
    source = resolve_checkpoint(checkpoint_dir_or_preset)
    if backend == "reference":
        from reference.onednn import use_onednn_linears_

        policy, report = _reference_with_report(source, dtype, seed, base_preset)
        policy = use_onednn_linears_(policy) if dtype == torch.float32 else policy
        return (policy, report) if return_report else policy

    from tt.dry_run import require_weights_fit
    from tt.host.device import spec_of
    from tt.host.numerics import check as check_numerics
    from tt.policy import Pi0Policy as TTPolicy
    from tt.precision import resolve
    from tt.runtime import active_runtime, open_runtime
    from tt.weight_cache import WeightCache, content_key

    # "auto" is matched on the architecture, known once the weights are read; anything else is checked first.
    settings = None if precision == "auto" else resolve(precision, None)
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
    settings = settings or resolve(precision, architecture_preset(weights.config))
    require_weights_fit(weights.config, settings, spec_of(runtime.device))
    cache = None
    if cache_dir is not None:
        cache = WeightCache(cache_dir, content_key(source, cache_dir, seed), settings.weight_key)
    logger.info("building the TT policy ({}, {} weights)", runtime.label, settings.name)
    return TTPolicy(runtime, weights.config, weights.state_dict(), settings, weight_cache=cache)
