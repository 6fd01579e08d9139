"""The lerobot-layout reader: architecture from shapes, tied embeddings, and errors that name the problem."""

import json

import pytest
import torch
from loguru import logger
from safetensors.torch import load_file, save_file

from models import get_preset, load_policy
from models.checkpoint import CheckpointError, checkpoint_key, write_checkpoint
from reference.random_init import random_policy
from tests.checkpoint_files import META, observation
from tests.metrics import compare

ROUND_TRIP_MAX_ABS = 1e-5
META_WITH_STEPS = {**META, "num_inference_steps": 10}


@pytest.mark.parametrize("preset", ["pi0-tiny", "pi05-tiny", "pi0-qwen3-tiny"])
def test_round_trip_infers_the_architecture_from_shapes(preset, tmp_path):
    original = random_policy(get_preset(preset), seed=11)
    write_checkpoint(original.state_dict(), tmp_path,
                     {**META_WITH_STEPS, "rope_theta": get_preset(preset).vlm.rope_theta})
    loaded = load_policy(tmp_path)
    expected = get_preset(preset)
    assert loaded.config.vision == expected.vision and loaded.config.suffix == expected.suffix
    assert loaded.config.vlm == expected.vlm and loaded.config.expert == expected.expert
    kind = expected.suffix.kind
    noise = torch.randn(1, 50, 32)
    # Same values; only BLAS paths may differ with the memory-mapped tensors' alignment.
    compare(f"{preset} reloaded vs original actions", loaded.sample_actions(observation(kind == "pi0"), noise=noise),
            original.sample_actions(observation(kind == "pi0"), noise=noise), max_abs=ROUND_TRIP_MAX_ABS)


@pytest.fixture
def checkpoint(tmp_path):
    write_checkpoint(random_policy(get_preset("pi0-tiny"), seed=2).state_dict(), tmp_path, META_WITH_STEPS)
    return tmp_path


def _edit_tensors(directory, edit):
    path = directory / "model.safetensors"
    tensors = load_file(str(path))
    edit(tensors)
    save_file(tensors, str(path))


def test_embedding_tied_to_lm_head_is_used_when_missing(checkpoint):
    reference = load_policy(checkpoint)
    embed = checkpoint_key("vlm.embed_tokens.weight")
    head = "model.paligemma_with_expert.paligemma.lm_head.weight"
    _edit_tensors(checkpoint, lambda t: t.update({head: t.pop(embed)}))
    tied = load_policy(checkpoint)
    assert torch.equal(tied.vlm.embed_tokens.weight, reference.vlm.embed_tokens.weight)


def test_shapes_win_over_variant_names(checkpoint):
    (checkpoint / "config.json").write_text(json.dumps({**META_WITH_STEPS, "paligemma_variant": "gemma_2b"}))
    messages = []
    sink = logger.add(messages.append, level="WARNING")
    try:
        policy = load_policy(checkpoint)
    finally:
        logger.remove(sink)
    assert policy.config.vlm.width == 128
    assert any("paligemma_variant" in m and "using the tensors" in m for m in messages)


def test_missing_weights_file_names_the_directory(tmp_path):
    with pytest.raises(CheckpointError, match=f"{tmp_path}: no model.safetensors"):
        load_policy(tmp_path)


def test_corrupt_file_names_the_file(checkpoint):
    path = checkpoint / "model.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match="model.safetensors: not a readable safetensors file"):
        load_policy(checkpoint)


def test_invalid_config_json_names_the_file(checkpoint):
    (checkpoint / "config.json").write_text("{")
    with pytest.raises(CheckpointError, match="config.json: invalid JSON"):
        load_policy(checkpoint)


def test_missing_unexpected_and_misshapen_tensors_are_all_listed(checkpoint):
    def edit(tensors):
        del tensors[checkpoint_key("vlm.layers.1.mlp.up_proj.weight")]
        tensors["model.extra_head.weight"] = torch.zeros(2)
        tensors[checkpoint_key("expert.layers.1.self_attn.o_proj.weight")] = torch.zeros(64, 7)
    _edit_tensors(checkpoint, edit)
    with pytest.raises(CheckpointError) as err:
        load_policy(checkpoint)
    text = str(err.value)
    assert "missing vlm.layers.1.mlp.up_proj.weight" in text
    assert "unexpected suffix.extra_head.weight" in text
    assert "shape expert.layers.1.self_attn.o_proj.weight: expected (64, 2048), found (64, 7)" in text


def test_foreign_key_is_named(checkpoint):
    _edit_tensors(checkpoint, lambda t: t.update({"vision_backbone.weight": torch.zeros(1)}))
    with pytest.raises(CheckpointError, match="unexpected tensor 'vision_backbone.weight'"):
        load_policy(checkpoint)
