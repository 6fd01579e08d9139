"""make_observation / postprocess_actions end to end, against lerobot 0.6.1's own pi0 / pi0.5 pre- and
post-processor pipelines (built offline with the test SentencePiece model) and the files they save."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.inputs import make_observation, postprocess_actions
from models.normalization import load_stats
from models.presets import get_preset
from models.tokenizer import ByteTokenizer, SentencePieceTokenizer, load_tokenizer
from tests.test_tokenizer import hf_gemma_tokenizer, lerobot_preprocessor, random_stats, train_sentencepiece

STATE_DIM, ACTION_DIM = 7, 6
CAMERA = "base_0_rgb"
LONG_PROMPT = "émigré 東京 " * 30  # byte-fallback pieces: well over 200 tokens


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory):
    return train_sentencepiece(tmp_path_factory.mktemp("spm"))


@pytest.fixture(scope="module")
def tokenizer(sp_model):
    return SentencePieceTokenizer(sp_model)


def camera_batch(batch: int = 2) -> torch.Tensor:
    return torch.randint(0, 256, (batch, 240, 320, 3), dtype=torch.uint8)


@pytest.mark.parametrize("kind", ["pi0", "pi05"])
def test_matches_lerobot_pipelines_and_their_saved_stats(kind, sp_model, tokenizer, tmp_path):
    config = get_preset(f"{kind}-tiny")
    stats = random_stats(STATE_DIM, ACTION_DIM, seed=7)
    preprocessor, postprocessor = lerobot_preprocessor(kind, hf_gemma_tokenizer(sp_model), stats, STATE_DIM,
                                                       ACTION_DIM)
    preprocessor.save_pretrained(tmp_path)
    postprocessor.save_pretrained(tmp_path)
    loaded = load_stats(tmp_path, kind)

    state = torch.randn(2, STATE_DIM)
    prompts = ["pick up the red cube", "open_the drawer\n"]
    expected = preprocessor({f"observation.images.{CAMERA}": torch.rand(2, 3, 224, 224),
                             "observation.state": state.clone(), "task": list(prompts)})
    observation = make_observation(config, {CAMERA: camera_batch()}, prompts, state.numpy(), tokenizer, loaded)

    assert torch.equal(observation.tokens, expected["observation.language.tokens"])
    assert torch.equal(observation.token_masks, expected["observation.language.attention_mask"])
    if kind == "pi0":
        from lerobot.policies.common.vla_utils import pad_vector

        padded = pad_vector(expected["observation.state"], config.suffix.state_dim)
        assert observation.state.shape == (2, config.suffix.state_dim)
        assert (observation.state - padded).abs().max() <= 1e-6
    else:
        assert observation.state is None

    actions = torch.randn(2, config.suffix.horizon, config.suffix.action_dim)
    # lerobot cuts the model's 32 dims to the dataset's action dims before its postprocessor.
    expected_actions = postprocessor(actions[..., :ACTION_DIM])
    ours = postprocess_actions(actions, loaded, ACTION_DIM)
    assert ours.shape == (2, config.suffix.horizon, ACTION_DIM)
    assert (ours - expected_actions).abs().max() <= 1e-6


def test_missing_cameras_are_masked_slots(tokenizer):
    config = get_preset("pi0-tiny")
    observation = make_observation(config, {"left_wrist_0_rgb": camera_batch(1)[0]}, "pick", np.zeros(7, np.float32),
                                   tokenizer)
    assert list(observation.images) == list(config.cameras)
    assert observation.image_masks == {"base_0_rgb": torch.tensor([False]), "left_wrist_0_rgb": torch.tensor([True]),
                                       "right_wrist_0_rgb": torch.tensor([False])}
    assert (observation.images["base_0_rgb"] == -1).all() and (observation.images["right_wrist_0_rgb"] == -1).all()
    assert observation.images["left_wrist_0_rgb"].shape == (1, 3, 224, 224)
    assert observation.state.shape == (1, 32) and (observation.state == 0).all()


def test_state_is_padded_with_zeros_and_broadcast(tokenizer):
    config = get_preset("pi0-tiny")
    observation = make_observation(config, {CAMERA: camera_batch(3)}, "pick", [1.0, 2.0, 3.0], tokenizer)
    assert observation.state.shape == (3, 32)
    assert observation.state[:, :3].tolist() == [[1.0, 2.0, 3.0]] * 3 and (observation.state[:, 3:] == 0).all()


def test_qwen_preset_with_byte_fallback():
    config = get_preset("pi0-qwen3-tiny")
    observation = make_observation(config, {CAMERA: camera_batch(1)}, "pick", torch.zeros(1, 5),
                                   load_tokenizer(None, config.vlm.vocab_size))
    expected = [ByteTokenizer.BOS] + [ByteTokenizer.BYTE_OFFSET + b for b in b"pick\n"]
    assert observation.tokens[0, :6].tolist() == expected


@pytest.mark.parametrize("images, prompt, state, message", [
    ({"top": np.zeros((8, 8, 3), np.uint8)}, "x", [0.0],
     r"unknown cameras \['top'\]; this policy's cameras are \['base_0_rgb', 'left_wrist_0_rgb', 'right_wrist_0_rgb'\]"),
    ({}, "x", [0.0], r"no camera images given"),
    ({CAMERA: np.zeros((8, 8, 2), np.uint8)}, "x", [0.0], r"camera 'base_0_rgb': expected 3 colour channels"),
    ({CAMERA: np.zeros((2, 8, 8, 3), np.uint8), "left_wrist_0_rgb": np.zeros((8, 8, 3), np.uint8)}, "x", [0.0],
     r"cameras have different batch sizes"),
    ({CAMERA: np.zeros((8, 8, 3), np.uint8)}, "x", None, r"needs the robot state"),
    ({CAMERA: np.zeros((8, 8, 3), np.uint8)}, "x", np.zeros(33),
     r"state has 33 dims, more than the model's state_dim 32"),
    ({CAMERA: np.zeros((8, 8, 3), np.uint8)}, "x", [0.0, float("nan")], r"state contains NaN or infinite values"),
    ({CAMERA: np.zeros((8, 8, 3), np.uint8)}, "x", ["a"], r"state must be real numbers"),
    ({CAMERA: np.zeros((8, 8, 3), np.uint8)}, "x", np.zeros((2, 3)), r"state must be \[S\] or \[1, S\]"),
    ({CAMERA: np.zeros((8, 8, 3), np.uint8)}, ["a", "b"], [0.0], r"prompt must be a string or 1 strings"),
    ({CAMERA: np.zeros((8, 8, 3), np.uint8)}, LONG_PROMPT, [0.0], r"has \d+ tokens, more than the limit of (48|200)"),
])
@pytest.mark.parametrize("kind", ["pi0", "pi05"])
def test_bad_inputs(kind, images, prompt, state, message, tokenizer):
    with pytest.raises(ValueError, match=message):
        make_observation(get_preset(f"{kind}-tiny"), images, prompt, state, tokenizer)


def test_long_prompt_can_be_truncated_explicitly(tokenizer):
    observation = make_observation(get_preset("pi0-tiny"), {CAMERA: camera_batch(1)}, LONG_PROMPT, [0.0],
                                   tokenizer, truncate=True)
    assert observation.token_masks.all()


def test_postprocess_actions_without_stats_only_cuts(tokenizer):
    actions = torch.randn(1, 50, 32)
    assert torch.equal(postprocess_actions(actions, None, 6), actions[..., :6])
    with pytest.raises(ValueError, match=r"action_dim must be in \[1, 32\], got 40"):
        postprocess_actions(actions, None, 40)
    with pytest.raises(ValueError, match=r"actions must be \[B, H, A\]"):
        postprocess_actions(actions[0], None, 6)
