"""What the server tests share: a tiny pi0 checkpoint in lerobot's format with normalisation statistics (8-dim
state, 7-dim actions, as a libero robot), its reference policy, a libero server on 127.0.0.1, and the in-process
answer a request must equal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from demo.checkpoint import ROBOT_ACTION_DIM, ROBOT_STATE_DIM, ensure_demo_checkpoint
from models import load_policy
from models.inputs import make_observation, postprocess_actions
from models.noise import initial_noise
from models.normalization import load_stats
from models.tokenizer import load_tokenizer
from reference.attention import PrefixKVCache
from reference.sampler import euler_sample
from serve.app import make_server
from serve.server import running_in_thread

MAX_REQUESTS = 1000  # every server a test starts stops itself after this many answers at most


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    return ensure_demo_checkpoint("pi0", tmp_path_factory.mktemp("serve-weights"))


@pytest.fixture(scope="session")
def served_parts(checkpoint):
    """(reference policy, stats, tokenizer) of the checkpoint; the byte tokenizer fits the tiny vocabulary."""
    policy = load_policy(checkpoint)
    return policy, load_stats(checkpoint, "pi0"), load_tokenizer(None, policy.config.vlm.vocab_size)


@pytest.fixture(scope="module")
def libero_server(served_parts):
    policy, stats, tokenizer = served_parts
    server = make_server(policy, tokenizer, stats, profile="libero", port=0, max_batch=4,
                         max_requests=MAX_REQUESTS)
    with running_in_thread(server):
        yield server


def libero_observation(seed: int, prompt: str = "put the cube in the bowl") -> dict:
    """A libero-profile observation dict as an openpi client sends it (HWC uint8 images of another size)."""
    rng = np.random.default_rng(seed)
    return {"observation/image": rng.integers(0, 256, (256, 320, 3), dtype=np.uint8),
            "observation/wrist_image": rng.integers(0, 256, (224, 224, 3), dtype=np.uint8),
            "observation/state": rng.normal(size=ROBOT_STATE_DIM).astype(np.float32), "prompt": prompt}


def native_observation(seed: int, prompt: str) -> dict:
    """A native-profile observation with one camera (the cheapest prefix)."""
    libero = libero_observation(seed, prompt)
    return {"images": {"base_0_rgb": libero["observation/image"]}, "state": libero["observation/state"],
            "prompt": prompt}


def _model_observation(parts, observation: dict):
    """The Observation make_observation builds from a libero- or native-profile dict."""
    policy, stats, tokenizer = parts
    if "images" in observation:
        images, state = observation["images"], observation["state"]
    else:
        images = {"base_0_rgb": observation["observation/image"],
                  "left_wrist_0_rgb": observation["observation/wrist_image"]}
        state = observation["observation/state"]
    return make_observation(policy.config, images=images, prompt=observation["prompt"], state=state,
                            tokenizer=tokenizer, stats=stats)


def _noise(parts, seeds: list[int]) -> torch.Tensor:
    suffix = parts[0].config.suffix
    return torch.cat([initial_noise(1, suffix, generator=torch.Generator().manual_seed(s)) for s in seeds])


def in_process_actions(parts, observation: dict, seed: int, rtc=None, num_steps: int | None = None) -> np.ndarray:
    """What sample_actions gives in process for this observation dict and noise seed: [50, 7]."""
    policy, stats, _ = parts
    actions = policy.sample_actions(_model_observation(parts, observation), noise=_noise(parts, [seed]), rtc=rtc,
                                    num_steps=num_steps)
    return postprocess_actions(actions, stats, ROBOT_ACTION_DIM)[0].numpy()


@torch.no_grad()
def in_process_actions_per_seed(parts, observation: dict, seeds: list[int], num_steps: int) -> np.ndarray:
    """[len(seeds), 50, 7]: sample_actions' computation for one observation under many noise seeds, with the
    prefix (the same for every seed) computed once and shared."""
    policy, stats, _ = parts
    obs = _model_observation(parts, observation)
    cache = policy.fill_prefix_cache(policy.embed_prefix(obs))
    n = len(seeds)
    shared = PrefixKVCache([k.expand(n, -1, -1, -1) for k in cache.keys],
                           [v.expand(n, -1, -1, -1) for v in cache.values], cache.pad.expand(n, -1))
    state = policy.padded_state(obs).expand(n, -1)
    actions = euler_sample(lambda x, t: policy.velocity(x, t, shared, state), _noise(parts, seeds), num_steps)
    return postprocess_actions(actions, stats, ROBOT_ACTION_DIM).numpy()
