"""The prefix KV cache path equals the uncached joint formulation, and the prefix never sees the suffix."""

import pytest
import torch

from models import get_preset
from models.masks import suffix_ar_flags
from reference.dual_expert import fill_prefix_cache, joint_forward, run_suffix
from reference.random_init import random_policy
from tests.metrics import compare

MAX_ABS = 1e-5


@pytest.mark.parametrize("preset", ["pi0-tiny", "pi05-tiny", "pi0-qwen3-tiny"])
@torch.no_grad()
def test_cached_suffix_equals_joint_forward(preset):
    cfg = get_preset(preset)
    policy = random_policy(cfg, seed=3)
    gen = torch.Generator().manual_seed(5)
    b, p = 2, 37
    prefix = torch.randn(b, p, cfg.vlm.width, generator=gen)
    pad = torch.ones(b, p, dtype=torch.bool)
    pad[0, 30:] = False
    pad[1, 5:10] = False
    t = torch.tensor([0.9, 0.4])
    suffix, cond = policy.suffix(torch.randn(b, cfg.suffix.horizon, 32, generator=gen), t,
                                 torch.randn(b, 32, generator=gen))
    suffix_ar = suffix_ar_flags(cfg.suffix.horizon, cfg.suffix.has_state_token)

    cached = run_suffix(policy.expert, suffix, fill_prefix_cache(policy.vlm, prefix, pad), suffix_ar, cond)
    joint_pad = torch.cat([pad, torch.ones(b, suffix.shape[1], dtype=torch.bool)], dim=1)
    joint_ar = torch.cat([torch.zeros(b, p, dtype=torch.bool), suffix_ar[None].expand(b, -1)], dim=1)
    prefix_out, suffix_out = joint_forward(policy.vlm, policy.expert, prefix, suffix, joint_pad, joint_ar, cond)
    compare(f"{preset} cached vs joint suffix", cached, suffix_out, max_abs=MAX_ABS)

    prefix_again = joint_forward(policy.vlm, policy.expert, prefix, suffix + 1.0, joint_pad, joint_ar, cond)[0]
    assert torch.equal(prefix_again[pad], prefix_out[pad]), "prefix tokens must not attend to the suffix"
