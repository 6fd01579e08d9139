"""Real-time chunking's pieces against lerobot 0.6.1's RTCProcessor: prefix weights, the guided step, and what
lerobot's autograd product really is; the settings' validation; the reference's network pullback."""

from __future__ import annotations

import pytest
import torch

from models import RealTimeChunking, SuffixConfig, load_policy
from models.rtc import SCHEDULES, guidance_weight, prefix_weights
from reference.rtc import guided_velocity, velocity_and_pullback
from tests.checkpoint_files import observation

GUIDED_STEP_MAX_ABS = 1e-5
PULLBACK_REL = 2e-2  # float32 central differences with step FD_STEP
FD_STEP = 1e-2
SUFFIX = SuffixConfig(horizon=12, action_dim=4)


def _processor(schedule: str, max_guidance_weight: float = 10.0, execution_horizon: int = 10):
    from lerobot.configs import RTCAttentionSchedule
    from lerobot.policies.rtc.configuration_rtc import RTCConfig
    from lerobot.policies.rtc.modeling_rtc import RTCProcessor

    return RTCProcessor(RTCConfig(prefix_attention_schedule=RTCAttentionSchedule(schedule),
                                  max_guidance_weight=max_guidance_weight, execution_horizon=execution_horizon))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_prefix_weights_equal_lerobot(schedule):
    processor = _processor(schedule)
    for total, points in ((1, range(3)), (7, range(9)), (50, (0, 1, 2, 9, 10, 25, 49, 50, 51))):
        for horizon in (p for p in points if p <= total):
            for delay in points:
                expected = processor.get_prefix_weights(delay, horizon, total)
                actual = prefix_weights(schedule, delay, horizon, total)
                assert torch.equal(actual, expected), (schedule, delay, horizon, total, actual, expected)


def _toy_velocity():
    """A nonlinear stand-in for the velocity network: v(x) = 2 tanh(x W) + x."""
    w = torch.randn(SUFFIX.action_dim, SUFFIX.action_dim, generator=torch.Generator().manual_seed(5))
    return lambda x: 2 * torch.tanh(x @ w) + x


@pytest.mark.parametrize("time", [1.0, 0.9, 0.5, 0.1, 0.0])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_guided_step_equals_lerobot(schedule, time):
    gen = torch.Generator().manual_seed(int(time * 10))
    x = torch.randn(2, SUFFIX.horizon, SUFFIX.action_dim, generator=gen)
    leftover = torch.randn(2, 9, 3, generator=gen)
    velocity = _toy_velocity()
    rtc = RealTimeChunking(leftover, inference_delay=2, execution_horizon=6, prefix_attention_schedule=schedule,
                           max_guidance_weight=4.0)
    with torch.no_grad():
        expected = _processor(schedule, 4.0, 6).denoise_step(x, leftover, 2, time, velocity, execution_horizon=6)
    actual = guided_velocity(velocity, x, time, rtc.guidance(2, SUFFIX))
    assert (actual - expected).abs().max() <= GUIDED_STEP_MAX_ABS


def test_lerobot_holds_the_velocity_constant_in_its_autograd_product():
    """lerobot evaluates v before x_t requires a gradient: its correction is the weighted error, not a product
    through the network. differentiate_velocity=True is the network product, and differs."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, SUFFIX.horizon, SUFFIX.action_dim, generator=gen)
    leftover = torch.randn(1, SUFFIX.horizon, SUFFIX.action_dim, generator=gen)
    velocity, time = _toy_velocity(), 0.6
    with torch.no_grad():
        theirs = _processor("ONES", 10.0, SUFFIX.horizon).denoise_step(x, leftover, 0, time, velocity,
                                                                      execution_horizon=SUFFIX.horizon)
    v = velocity(x)
    held = v - guidance_weight(time, 10.0) * (leftover - (x - time * v))
    assert (theirs - held).abs().max() <= GUIDED_STEP_MAX_ABS
    rtc = RealTimeChunking(leftover, 0, SUFFIX.horizon, "ONES", differentiate_velocity=True)
    through_network = guided_velocity(velocity, x, time, rtc.guidance(1, SUFFIX))
    assert (through_network - held).abs().max() > 1.0


def test_pullback_is_the_transpose_of_the_directional_derivative():
    gen = torch.Generator().manual_seed(1)
    x, e, d = (torch.randn(2, SUFFIX.horizon, SUFFIX.action_dim, generator=gen) for _ in range(3))
    velocity = _toy_velocity()
    _, pullback = velocity_and_pullback(velocity, x)
    jvp = (velocity(x + FD_STEP * d) - velocity(x - FD_STEP * d)) / (2 * FD_STEP)
    left, right = float((pullback(e) * d).sum()), float((e * jvp).sum())
    assert abs(left - right) <= PULLBACK_REL * abs(right), (left, right)


@pytest.mark.parametrize("preset", ["pi0-tiny", "pi05-tiny"])
def test_pullback_through_the_policy_is_the_transpose_of_its_directional_derivative(preset):
    """Through the loaded policy (oneDNN linears, which differentiate through a dense copy of their weights)."""
    policy = load_policy(preset)
    obs = observation(with_state=preset == "pi0-tiny")
    with torch.no_grad():
        cache = policy.fill_prefix_cache(policy.embed_prefix(obs))
    t, state = torch.full((1,), 0.4), policy.padded_state(obs)

    def velocity(x):
        return policy.velocity(x, t, cache, state)

    gen = torch.Generator().manual_seed(2)
    x, e, d = (torch.randn(1, 50, 32, generator=gen) for _ in range(3))
    _, pullback = velocity_and_pullback(velocity, x)
    with torch.no_grad():
        jvp = (velocity(x + FD_STEP * d) - velocity(x - FD_STEP * d)) / (2 * FD_STEP)
    left, right = float((pullback(e) * d).sum()), float((e * jvp).sum())
    assert abs(left - right) <= PULLBACK_REL * abs(right), (left, right)


@pytest.mark.parametrize("kwargs, message", [
    (dict(inference_delay=-1), "inference_delay"),
    (dict(inference_delay=1.5), "inference_delay"),
    (dict(execution_horizon=-2), "execution_horizon"),
    (dict(prefix_attention_schedule="COSINE"), "prefix_attention_schedule"),
    (dict(max_guidance_weight=0.0), "max_guidance_weight"),
    (dict(prev_chunk_left_over=torch.zeros(5, dtype=torch.int64)), "prev_chunk_left_over"),
    (dict(prev_chunk_left_over=torch.zeros(0, 4)), "prev_chunk_left_over is empty"),
    (dict(prev_chunk_left_over=torch.full((3, 4), float("nan"))), "NaN"),
])
def test_bad_settings_are_named(kwargs, message):
    settings = dict(prev_chunk_left_over=torch.zeros(3, 4), inference_delay=1) | kwargs
    with pytest.raises(ValueError, match=message):
        RealTimeChunking(**settings)


@pytest.mark.parametrize("shape, message", [
    ((SUFFIX.horizon + 1, 4), "larger than the model's chunk"),
    ((3, SUFFIX.action_dim + 1), "larger than the model's chunk"),
    ((3, 3, 4), "batch 3, the observation 2"),
])
def test_leftover_that_does_not_fit_the_model_is_named(shape, message):
    with pytest.raises(ValueError, match=message):
        RealTimeChunking(torch.zeros(shape), inference_delay=1).guidance(2, SUFFIX)


def test_lerobot_schedule_enum_is_accepted():
    from lerobot.configs import RTCAttentionSchedule

    rtc = RealTimeChunking(torch.zeros(3, 4), 1, prefix_attention_schedule=RTCAttentionSchedule.EXP)
    assert rtc.prefix_attention_schedule == "EXP"
