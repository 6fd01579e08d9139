"""The op log is bounded: nothing is recorded outside a recording, so a policy called in a robot loop keeps a constant
log and constant memory; inside one, every op and transfer is recorded with its section and call site."""

import tracemalloc
from dataclasses import replace

import torch

from models import Observation, get_preset
from reference.random_init import random_policy
from tt.policy import Pi0Policy
from tt.precision import Precision

CALLS = 50
GROWTH_LIMIT = 256 * 1024  # bytes of Python heap that 40 further calls may add (caches settle in the first calls)


def _observation() -> Observation:
    gen = torch.Generator().manual_seed(0)
    return Observation(images={"base_0_rgb": torch.rand(1, 3, 224, 224, generator=gen) * 2 - 1},
                       tokens=torch.randint(0, 1024, (1, 8), generator=gen),
                       token_masks=torch.ones(1, 8, dtype=torch.bool), state=torch.randn(1, 32, generator=gen))


@torch.no_grad()
def test_fifty_calls_keep_log_and_memory_constant(runtime):
    cfg = get_preset("pi0-tiny")
    cfg = replace(cfg, vision=replace(cfg.vision, depth=1), vlm=replace(cfg.vlm, depth=1),
                  expert=replace(cfg.expert, depth=1))
    policy = Pi0Policy(runtime, cfg, random_policy(cfg, seed=3).state_dict(), Precision("bfp8"))
    obs, noise = _observation(), torch.zeros(1, 50, 32)
    with runtime.recording() as log:
        policy.sample_actions(obs, noise=noise, num_steps=1)
    ops_per_call = len(log)
    tracemalloc.start()
    try:
        for call in range(CALLS):
            policy.sample_actions(obs, noise=noise, num_steps=1)
            if call == 9:
                settled = tracemalloc.get_traced_memory()[0]
        growth = tracemalloc.get_traced_memory()[0] - settled
    finally:
        tracemalloc.stop()
    print(f"[{runtime.label}] {ops_per_call} records per call when recording; {CALLS} calls unrecorded: "
          f"{growth} B of Python heap added over the last {CALLS - 10}")
    assert ops_per_call > 50 and len(log) == ops_per_call, "the finished recording holds one call, and only it"
    assert not runtime.recording_active
    assert growth < GROWTH_LIMIT
