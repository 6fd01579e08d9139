"""Full-size pi0 / pi05 / pi0-qwen3 (random seeded weights, bfloat8_b, one camera) against the float32 reference,
stage by stage, in exact and in device numerics (slow: ~10 GB of host memory and minutes per preset on 2 cores).

    .venv/bin/python -m pytest tests/tt/test_full_size_numerics.py -m slow -s

prints, per preset, the PCC of each stage (vision: the projected image tokens; prefix cache: every layer's keys and
values; velocity: one denoising step at t = 0.6 from each side's own cache; actions: sample_actions, 10 steps) under
both numerics, and gates the device figures. Nothing here ran on hardware: device figures are predicted.
"""

from __future__ import annotations

import gc

import pytest
import torch

from models import Observation, get_preset
from reference.random_init import random_policy
from tests.metrics import compare
from tests.tt.tensors import to_host
from tt.policy import Pi0Policy as TTPolicy
from tt.precision import Precision

pytestmark = pytest.mark.slow

PRESETS = ("pi0", "pi05", "pi0-qwen3")
STAGES = ("vision", "prefix cache", "velocity", "actions")
# Device-numerics gates: the lowest full-size PCC measured per stage, with 1 - PCC allowed to grow at least 4x,
# rounded down (all measurements are in the closing note of issue 13). Lowest: vision 0.999719 (pi0, pi0-qwen3),
# prefix cache 0.998804, velocity 0.997339, actions 0.999288 (all pi0-qwen3) -> x7.1, x4.2, x4.1, x4.2.
FULL_SIZE_PCC = {"vision": 0.998, "prefix cache": 0.995, "velocity": 0.989, "actions": 0.997}
SEED, TOKENS, STEP_TIME = 5, 32, 0.6


def _observation(config) -> Observation:
    gen = torch.Generator().manual_seed(SEED)
    camera = config.cameras[0]
    tokens = torch.randint(0, config.vlm.vocab_size, (1, TOKENS), generator=gen)
    state = torch.randn(1, 32, generator=gen) if config.suffix.has_state_token else None
    return Observation(images={camera: torch.rand(1, 3, 224, 224, generator=gen) * 2 - 1}, tokens=tokens,
                       token_masks=torch.arange(TOKENS)[None] < TOKENS - 5, state=state)


def _cache_values(cache, prefix_len: int, pad: torch.Tensor, head_dim: int, tt: bool) -> torch.Tensor:
    """Every layer's keys and values at the prefix's real tokens, flattened."""
    parts = []
    for tensor in [*cache.keys, *cache.values]:
        values = to_host(tensor)[:, :, :prefix_len, :head_dim] if tt else tensor.float()
        parts.append(values.permute(0, 2, 1, 3)[pad].reshape(-1))
    return torch.cat(parts)


@torch.no_grad()
def _stages(policy, obs: Observation, state: torch.Tensor | None, noise: torch.Tensor, tt: bool,
            prefix_len: int | None = None) -> dict:
    config = policy.config
    prefix = policy.embed_prefix(obs)
    p = prefix.pad.shape[1] if prefix_len is None else prefix_len
    pad = prefix.pad[:, :p]
    embs = to_host(prefix.embs)[:, 0, :p] if tt else prefix.embs.float()
    cache = policy.fill_prefix_cache(prefix)
    x_t = noise.clone()
    t = torch.full((1,), STEP_TIME)
    return {
        "vision": embs[:, :config.vision.num_tokens].reshape(-1),
        "prefix cache": _cache_values(cache, p, pad, config.vlm.head_dim, tt),
        "velocity": policy.velocity(x_t, t, cache, state),
        "actions": policy.sample_actions(obs, noise=noise),
        "prefix_len": p,
    }


@pytest.mark.parametrize("preset", PRESETS)
def test_full_size_stages_exact_and_device_numerics(runtime, preset):
    config = get_preset(preset)
    obs = _observation(config)
    noise = torch.randn(1, config.suffix.horizon, config.suffix.action_dim, generator=torch.Generator().manual_seed(1))
    weights = random_policy(config, seed=SEED, dtype=torch.bfloat16)
    tt = TTPolicy(runtime, config, weights.state_dict(), Precision("bfp8"))
    del weights
    gc.collect()
    reference = random_policy(config, seed=SEED)
    state = reference.padded_state(obs)  # the suffix's state input, as both policies take it
    expected = _stages(reference, obs, state, noise, tt=False)
    del reference
    gc.collect()
    measured = {}
    for numerics in ("exact", "device"):
        with runtime.using_numerics(numerics):
            actual = _stages(tt, obs, state, noise, tt=True, prefix_len=expected["prefix_len"])
        for stage in STAGES:
            measured[stage, numerics] = compare(f"[host/{numerics}] full {preset} {stage} bfp8", actual[stage],
                                                expected[stage])[1]
    print(f"\nfull-size {preset}, bfp8, 1 camera: stage | exact PCC | device PCC (predicted) | gate")
    for stage in STAGES:
        print(f"  {stage:13s} | {measured[stage, 'exact']:.6f} | {measured[stage, 'device']:.6f} | "
              f"{FULL_SIZE_PCC[stage]}")
    # Exact numerics are an upper bound on device numerics, so the gates hold for both.
    failed = [f"{stage} ({numerics}) {pcc:.6f} < {FULL_SIZE_PCC[stage]}" for (stage, numerics), pcc in measured.items()
              if pcc < FULL_SIZE_PCC[stage]]
    assert not failed, f"full {preset}: " + "; ".join(failed)
