"""Real-time chunking on TTNN against the reference: the on-device pullback through the expert against
torch.autograd, one step at a time, on Gemma (MQA, pi0 and pi0.5's adaptive norms) and Qwen3 (GQA, q/k norms)
experts; and sample_actions(rtc=...) end to end, with the guidance inside the on-device loop (no transfer there).

The TT side runs on a Wormhole when one is present, otherwise on the host executor; each test prints which mode ran.
"""

from __future__ import annotations

import pytest
import torch

from models import RealTimeChunking, get_preset
from models.metrics import pcc
from reference.random_init import random_policy
from reference.rtc import velocity_and_pullback
from tests.metrics import compare
from tests.tt.test_tt_parity import BATCH, END_TO_END_PCC, PRESETS, STEP_PCC, _observation
from tt.policy import Pi0Policy as TTPolicy
from tt.precision import Precision

VJP_PCC = 0.998
NOT_THE_COTANGENT_PCC = 0.9  # the pullback must differ from its input, or the check would prove little
MIN_EFFECT = 0.5  # the guidance must move the reference chunk this much
PRECISION = "bfp8"


@pytest.fixture(scope="module")
def pairs(runtime):
    built = {}
    for name in PRESETS:
        ref = random_policy(get_preset(name), seed=21).eval()
        built[name] = ref, TTPolicy(runtime, ref.config, ref.state_dict(), Precision(PRECISION))
    return built


@pytest.mark.parametrize("preset", PRESETS)
@torch.no_grad()
def test_pullback_through_the_expert_matches_autograd(runtime, pairs, preset):
    ref, tt = pairs[preset]
    cfg = ref.config
    obs = _observation(cfg)
    gen = torch.Generator().manual_seed(4)
    shape = (BATCH, cfg.suffix.horizon, cfg.suffix.action_dim)
    x_t, cotangent = torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)
    t = torch.full((BATCH,), 0.7)
    state = ref.padded_state(obs)
    ref_cache = ref.fill_prefix_cache(ref.embed_prefix(obs))
    expected_v, expected_pullback = velocity_and_pullback(lambda x: ref.velocity(x, t, ref_cache, state), x_t)
    expected = expected_pullback(cotangent)
    actual_v, actual_pullback = tt.velocity_and_pullback(x_t, t, tt.fill_prefix_cache(tt.embed_prefix(obs)), state)
    compare(f"[{runtime.label}] {preset} taped velocity {PRECISION}", actual_v, expected_v, min_pcc=STEP_PCC)
    compare(f"[{runtime.label}] {preset} (dv/dx)^T e {PRECISION}", actual_pullback(cotangent), expected,
            min_pcc=VJP_PCC)
    assert pcc(expected, cotangent) < NOT_THE_COTANGENT_PCC


STEPS = 4  # t = 1 (the capped guidance weight), 0.75, 0.5, 0.25: every branch of the step, at less host time
CASES = {  # preset: (schedule, delay, execution horizon, differentiate_velocity)
    "pi0-tiny": ("LINEAR", 3, 20, False),
    "pi05-tiny": ("EXP", 5, 30, True),
    "pi0-qwen3-tiny": ("ONES", 2, 25, True),
}


@pytest.mark.parametrize("preset", CASES)
@torch.no_grad()
def test_rtc_sample_actions_end_to_end(runtime, pairs, preset):
    schedule, delay, horizon, differentiate = CASES[preset]
    ref, tt = pairs[preset]
    cfg = ref.config
    obs = _observation(cfg, seed=1)
    gen = torch.Generator().manual_seed(6)
    noise = torch.randn(BATCH, cfg.suffix.horizon, cfg.suffix.action_dim, generator=gen)
    rtc = RealTimeChunking(torch.randn(BATCH, 35, 7, generator=gen), inference_delay=delay, execution_horizon=horizon,
                           prefix_attention_schedule=schedule, max_guidance_weight=5.0,
                           differentiate_velocity=differentiate)
    expected = ref.sample_actions(obs, noise=noise, num_steps=STEPS, rtc=rtc)
    assert (expected - ref.sample_actions(obs, noise=noise, num_steps=STEPS)).abs().max() > MIN_EFFECT
    with runtime.recording() as log:
        actual = tt.sample_actions(obs, noise=noise, num_steps=STEPS, rtc=rtc)
    mode = "through the network" if differentiate else "velocity held"
    compare(f"[{runtime.label}] {preset} RTC {schedule} ({mode}) sample_actions {PRECISION}", actual, expected,
            min_pcc=END_TO_END_PCC[PRECISION])
    transfers = log.count(kind="to_device", section="denoise") + log.count(kind="from_device", section="denoise")
    print(f"[{runtime.label}] {preset} RTC: {log.count(kind='op', section='denoise')} device ops in the "
          f"denoising loop, {transfers} transfers")
    assert transfers == 0, "host<->device transfers inside the denoising loop"
