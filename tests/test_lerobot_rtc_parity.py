"""Real-time chunking, policy level: our reference's sample_actions(rtc=...) against lerobot 0.6.1's own
sample_actions with an rtc_config, on the checkpoint lerobot saved (pi0 and pi0.5), for every prefix schedule at
several delays, execution horizons and leftover shapes (shorter and narrower than the chunk: zero-padded)."""

from __future__ import annotations

import pytest
import torch

from models import Observation, RealTimeChunking
from tests.metrics import compare
from tests.peers import lerobot_tiny

MAX_ABS_ACTIONS = 1e-4
MIN_EFFECT = 0.1  # guidance must visibly move the chunk, or the comparison proves nothing
BATCH, TOKENS = 2, 48

# (schedule, inference_delay, execution_horizon, leftover rows, leftover dims, max_guidance_weight)
CASES = {
    "zeros-d3": ("ZEROS", 3, 10, 40, 32, 10.0),
    "ones-d0-short": ("ONES", 0, 8, 20, 7, 10.0),
    "linear-d5": ("LINEAR", 5, 25, 45, 7, 5.0),
    "exp-d2-cut-horizon": ("EXP", 2, 30, 12, 32, 10.0),
}


GEN = torch.Generator().manual_seed(11)
IMAGES = [torch.rand(BATCH, 3, 224, 224, generator=GEN) * 2 - 1]
MASKS = [torch.ones(BATCH, dtype=torch.bool)]
TOKEN_IDS = torch.randint(0, lerobot_tiny.VOCAB, (BATCH, TOKENS), generator=GEN)
TOKEN_MASKS = torch.arange(TOKENS)[None, :] < torch.tensor([[TOKENS], [17]])
STATE = torch.randn(BATCH, 32, generator=GEN)
NOISE = torch.randn(BATCH, 50, 32, generator=GEN)


def _observation(kind: str) -> Observation:
    return Observation(images={lerobot_tiny.CAMERAS[0]: IMAGES[0]}, tokens=TOKEN_IDS, token_masks=TOKEN_MASKS,
                       state=STATE if kind == "pi0" else None)


@pytest.fixture(scope="module")
def unguided(lerobot_pairs):
    return {kind: ours.sample_actions(_observation(kind), noise=NOISE) for kind, (_, ours) in lerobot_pairs.items()}


@pytest.mark.parametrize("kind", lerobot_tiny.KINDS)
@pytest.mark.parametrize("case", CASES)
def test_rtc_sample_actions_match_lerobot(lerobot_pairs, unguided, kind, case):
    schedule, delay, horizon, rows, dims, max_weight = CASES[case]
    theirs, ours = lerobot_pairs[kind]
    leftover = torch.randn(BATCH, rows, dims, generator=torch.Generator().manual_seed(len(case)))
    with lerobot_tiny.rtc_enabled(theirs, schedule, max_weight, horizon):
        expected = lerobot_tiny.sample_actions(theirs, kind, IMAGES, MASKS, TOKEN_IDS, TOKEN_MASKS, STATE, NOISE,
                                               inference_delay=delay, prev_chunk_left_over=leftover,
                                               execution_horizon=horizon)
    rtc = RealTimeChunking(leftover, inference_delay=delay, execution_horizon=horizon,
                           prefix_attention_schedule=schedule, max_guidance_weight=max_weight)
    actual = ours.sample_actions(_observation(kind), noise=NOISE, rtc=rtc)
    compare(f"{kind} RTC {case} actions vs lerobot", actual, expected, max_abs=MAX_ABS_ACTIONS)
    assert (unguided[kind] - expected).abs().max() > MIN_EFFECT, "the guidance did not change the chunk"
