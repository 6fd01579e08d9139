"""Policy-level proof: lerobot 0.6.1's own PI0Policy / PI05Policy (reduced size, random weights), saved by
lerobot in its checkpoint format, loaded through `models.load_policy`; same observation, same noise."""

from __future__ import annotations

import pytest
import torch

from models import Observation
from tests.peers import lerobot_tiny
from tests.metrics import compare

MAX_ABS_ACTIONS = 1e-4
MAX_ABS_VELOCITY = 1e-4
BATCH = 2
TOKENS = 48
KINDS = lerobot_tiny.KINDS


@pytest.fixture(scope="module")
def pairs(lerobot_pairs):
    return lerobot_pairs


def _inputs(num_cameras: int, masked: dict[int, list[bool]], real_tokens: list[int]):
    gen = torch.Generator().manual_seed(100 + num_cameras)
    images = [torch.rand(BATCH, 3, 224, 224, generator=gen) * 2 - 1 for _ in range(num_cameras)]
    masks = [torch.tensor(masked.get(i, [True] * BATCH)) for i in range(num_cameras)]
    tokens = torch.randint(0, lerobot_tiny.VOCAB, (BATCH, TOKENS), generator=gen)
    token_masks = torch.arange(TOKENS)[None, :] < torch.tensor(real_tokens)[:, None]
    state = torch.randn(BATCH, 32, generator=gen)
    noise = torch.randn(BATCH, 50, 32, generator=gen)
    return images, masks, tokens, token_masks, state, noise


def _observation(kind, images, masks, tokens, token_masks, state) -> Observation:
    cameras = lerobot_tiny.CAMERAS[:len(images)]
    return Observation(images=dict(zip(cameras, images)), image_masks=dict(zip(cameras, masks)), tokens=tokens,
                       token_masks=token_masks, state=state if kind == "pi0" else None)


CASES = {
    "1cam": (1, {}, [48, 48]),
    "2cam-padded": (2, {}, [20, 33]),
    "3cam-one-masked-per-row": (3, {1: [True, False]}, [9, 48]),
    "3cam-one-masked-all-rows": (3, {2: [False, False]}, [31, 17]),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES)
def test_sample_actions_match_lerobot(pairs, kind, case):
    theirs, ours = pairs[kind]
    images, masks, tokens, token_masks, state, noise = _inputs(*CASES[case])
    expected = lerobot_tiny.sample_actions(theirs, kind, images, masks, tokens, token_masks, state, noise)
    actual = ours.sample_actions(_observation(kind, images, masks, tokens, token_masks, state), noise=noise)
    compare(f"{kind} {case} actions vs lerobot", actual, expected, max_abs=MAX_ABS_ACTIONS)


@pytest.mark.parametrize("kind", KINDS)
@torch.no_grad()
def test_one_denoising_step_matches_lerobot(pairs, kind):
    """The per-step velocity, with lerobot's own prefix cache and position ids, at an interior time."""
    from lerobot.policies.common.vla_utils import make_att_2d_masks, prepare_attention_masks_4d

    theirs, ours = pairs[kind]
    images, masks, tokens, token_masks, state, noise = _inputs(3, {1: [True, False]}, [12, 40])
    model = theirs.model
    embs, pad, ar = model.embed_prefix(images, masks, tokens, token_masks)
    _, cache = model.paligemma_with_expert.forward(
        attention_mask=prepare_attention_masks_4d(make_att_2d_masks(pad, ar)),
        position_ids=torch.cumsum(pad, dim=1) - 1, past_key_values=None, inputs_embeds=[embs, None], use_cache=True)
    t = torch.full((BATCH,), 0.3)
    step = dict(prefix_pad_masks=pad, past_key_values=cache, x_t=noise, timestep=t)
    expected = model.denoise_step(state=state, **step) if kind == "pi0" else model.denoise_step(**step)

    obs = _observation(kind, images, masks, tokens, token_masks, state)
    our_cache = ours.fill_prefix_cache(ours.embed_prefix(obs))
    actual = ours.velocity(noise, t, our_cache, ours.padded_state(obs))
    compare(f"{kind} velocity at t=0.3 vs lerobot", actual, expected, max_abs=MAX_ABS_VELOCITY)


def test_short_state_is_zero_padded_like_lerobot(pairs):
    kind = "pi0"  # pi0.5 carries its state in the prompt
    theirs, ours = pairs[kind]
    images, masks, tokens, token_masks, state, noise = _inputs(1, {}, [30, 48])
    short = state[:, :7]
    padded = torch.cat([short, torch.zeros(BATCH, 25)], dim=1)
    expected = lerobot_tiny.sample_actions(theirs, kind, images, masks, tokens, token_masks, padded, noise)
    actual = ours.sample_actions(_observation(kind, images, masks, tokens, token_masks, short), noise=noise)
    compare("pi0 7-dim state vs lerobot (zero padded)", actual, expected, max_abs=MAX_ABS_ACTIONS)
