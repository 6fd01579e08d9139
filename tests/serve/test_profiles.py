"""openpi's observation layouts mapped onto the policy's cameras and state, as openpi's libero / aloha input
transforms map them, and the action dims a response keeps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from openpi_client.websocket_client_policy import WebsocketClientPolicy

from models import load_policy
from models.inputs import make_observation, postprocess_actions
from models.noise import initial_noise
from models.normalization import FeatureNorm, NormMode, NormStats
from models.config import DEFAULT_CAMERAS
from models.tokenizer import load_tokenizer
from serve.app import make_server, response_action_dim
from serve.profiles import make_profile
from serve.requests import Expectations, Limits, RequestError, parse_request
from serve.runner import cut_action_stats
from serve.server import running_in_thread
from tests.serve.conftest import MAX_REQUESTS

EXPECT = Expectations(image_size=224, state_dim=32, stats_state_dim=None, horizon=50, action_dim=14,
                      execution_horizon=10)
MAX_ABS_ALONE = 1e-6


def _aloha(cameras=("cam_high", "cam_left_wrist"), seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    images = {c: rng.integers(0, 256, (3, 240, 320), dtype=np.uint8) for c in cameras}  # openpi sends [3, H, W]
    return {"images": images, "state": rng.normal(size=14).astype(np.float32), "prompt": "fold the towel"}


def _parse(message: dict, profile: str):
    return parse_request(message, make_profile(profile, DEFAULT_CAMERAS), EXPECT, Limits())


def test_aloha_cameras_map_like_openpi():
    message = _aloha(("cam_high", "cam_right_wrist", "cam_low"))
    request = _parse(message, "aloha")
    assert set(request.images) == {"base_0_rgb", "right_wrist_0_rgb"}  # cam_low accepted, not fed (as openpi)
    assert request.images["right_wrist_0_rgb"] is message["images"]["cam_right_wrist"]


@pytest.mark.parametrize("message, error", [
    ({**_aloha(), "images": {**_aloha()["images"], "cam_front": np.zeros((3, 8, 8), np.uint8)}},
     r"images: unknown cameras \['cam_front'\]"),
    (_aloha(("cam_left_wrist",)), "images/cam_high: missing"),
    ({**_aloha(), "images": [1, 2]}, "images: expected a map"),
    ({"state": np.zeros(14), "prompt": "x"}, "images: expected a map of camera name -> image, found nothing"),
])
def test_aloha_errors_name_the_field(message, error):
    with pytest.raises(RequestError, match=error):
        _parse(message, "aloha")


def test_native_needs_some_camera():
    with pytest.raises(RequestError, match="no camera image"):
        _parse({"images": {}, "state": np.zeros(3), "prompt": "x"}, "native")


def test_profiles_are_checked_against_the_policy_cameras():
    with pytest.raises(ValueError, match="unknown profile 'droid'"):
        make_profile("droid", DEFAULT_CAMERAS)
    with pytest.raises(ValueError, match=r"cameras \['left_wrist_0_rgb'\]"):
        make_profile("libero", ("base_0_rgb", "top"))


def _action_stats(dim: int) -> NormStats:
    stats = {"mean": torch.zeros(dim), "std": torch.ones(dim)}
    return NormStats(action=FeatureNorm("action", NormMode.MEAN_STD, stats))


def test_response_action_dims():
    assert response_action_dim(32, None, None, None, None) == 32
    assert response_action_dim(32, 14, None, 9, None) == 14
    assert response_action_dim(32, None, 5, None, _action_stats(5)) == 5
    assert response_action_dim(32, None, None, None, _action_stats(6)) == 6
    assert response_action_dim(32, 7, None, None, _action_stats(32)) == 7  # libero on 32-dim statistics
    with pytest.raises(ValueError, match="action statistics cover only 7"):
        response_action_dim(32, 14, None, None, _action_stats(7))
    with pytest.raises(ValueError, match=r"\[1, 32\]"):
        response_action_dim(32, None, 40, None, None)


def test_aloha_server_answers_like_in_process():
    """Three cameras (channels first, another size), a 14-dim state and 14 action dims, through the real client."""
    policy = load_policy("pi0-tiny")
    tokenizer = load_tokenizer(None, policy.config.vlm.vocab_size)
    message = _aloha(("cam_high", "cam_left_wrist", "cam_right_wrist"), seed=3)
    server = make_server(policy, tokenizer, None, profile="aloha", port=0, max_requests=MAX_REQUESTS)
    with running_in_thread(server):
        actions = WebsocketClientPolicy("127.0.0.1", server.port).infer({**message, "noise_seed": 4})["actions"]
    images = {"base_0_rgb": message["images"]["cam_high"], "left_wrist_0_rgb": message["images"]["cam_left_wrist"],
              "right_wrist_0_rgb": message["images"]["cam_right_wrist"]}
    observation = make_observation(policy.config, images=images, prompt=message["prompt"], state=message["state"],
                                   tokenizer=tokenizer)
    noise = initial_noise(1, policy.config.suffix, generator=torch.Generator().manual_seed(4))
    expected = postprocess_actions(policy.sample_actions(observation, noise=noise), None, 14)[0].numpy()
    assert actions.shape == (50, 14)
    assert np.abs(actions - expected).max() <= MAX_ABS_ALONE


def test_statistics_wider_than_the_response_are_cut_per_dim():
    stats = NormStats(action=FeatureNorm("action", NormMode.QUANTILES, {"q01": torch.arange(10.0) - 20,
                                                                        "q99": torch.arange(10.0) + 20}))
    cut = cut_action_stats(stats, 4)
    x = torch.rand(2, 50, 10) * 2 - 1
    assert cut.action.dim == 4
    assert torch.equal(cut.action.unnormalize(x[..., :4]), stats.action.unnormalize(x)[..., :4])
    assert cut_action_stats(stats, 10) is stats
