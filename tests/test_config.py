"""Configs validate on construction; presets have the published shapes; bad observations get clear errors."""

import pytest
import torch

from models import PRESETS, Observation, get_preset, load_policy
from models.config import DecoderConfig, PolicyConfig, SiglipConfig, gemma_decoder, qwen_decoder


def test_presets_have_published_shapes():
    pi0 = get_preset("pi0")
    assert (pi0.vision.width, pi0.vision.depth, pi0.vision.num_heads, pi0.vision.head_dim) == (1152, 27, 16, 72)
    assert (pi0.vision.mlp_dim, pi0.vision.num_tokens) == (4304, 256)
    assert (pi0.vlm.width, pi0.vlm.depth, pi0.vlm.mlp_dim, pi0.vlm.vocab_size) == (2048, 18, 16384, 257152)
    assert (pi0.vlm.num_heads, pi0.vlm.num_kv_heads, pi0.vlm.head_dim, pi0.vlm.scale_embeddings) == (8, 1, 256, True)
    assert (pi0.expert.width, pi0.expert.mlp_dim, pi0.expert.adarms) == (1024, 4096, False)
    assert (pi0.suffix.horizon, pi0.max_token_len) == (50, 48)
    pi05 = get_preset("pi05")
    assert pi05.suffix.kind == "pi05" and pi05.expert.adarms_cond_dim == 1024 and pi05.max_token_len == 200
    qwen = get_preset("pi0-qwen3")
    assert (qwen.vlm.width, qwen.vlm.depth, qwen.vlm.num_heads, qwen.vlm.num_kv_heads) == (2048, 28, 16, 8)
    assert (qwen.vlm.head_dim, qwen.vlm.mlp_dim, qwen.vlm.rope_theta, qwen.vlm.vocab_size) == (128, 6144, 1e6, 151936)
    assert qwen.vlm.qk_norm and not qwen.vlm.qkv_bias and not qwen.vlm.scale_embeddings
    assert (qwen.expert.width, qwen.expert.mlp_dim, qwen.expert.depth) == (1024, 3072, 28)


@pytest.mark.parametrize("name", [n for n in PRESETS if n.endswith("-tiny")])
def test_tiny_presets_keep_real_structure(name):
    tiny, full = get_preset(name), get_preset(name.removesuffix("-tiny"))
    for part in ("vlm", "expert"):
        a, b = getattr(tiny, part), getattr(full, part)
        assert (a.head_dim, a.num_heads, a.num_kv_heads, a.family, a.qk_norm) == \
            (b.head_dim, b.num_heads, b.num_kv_heads, b.family, b.qk_norm)
    assert tiny.vision.head_dim == full.vision.head_dim and tiny.vision.num_tokens == 256
    assert tiny.suffix == full.suffix


def test_qwen_flavours():
    q2 = qwen_decoder(64, 1, 128, num_heads=4, num_kv_heads=2, head_dim=16, flavour="qwen2")
    assert q2.qkv_bias and not q2.qk_norm
    with pytest.raises(ValueError, match="flavour"):
        qwen_decoder(64, 1, 128, num_heads=4, num_kv_heads=2, head_dim=16, flavour="qwen4")


@pytest.mark.parametrize("make, message", [
    (lambda: SiglipConfig(width=100, num_heads=16), "not divisible"),
    (lambda: SiglipConfig(image_size=10), "smaller than the patch size 14"),
    (lambda: DecoderConfig("gemma", 64, 1, 64, num_heads=6, num_kv_heads=4, head_dim=16), "num_kv_heads"),
    (lambda: DecoderConfig("llama", 64, 1, 64, 4, 1, 16), "unknown decoder family"),
    (lambda: PolicyConfig(vision=SiglipConfig(), vlm=gemma_decoder(64, 2, 64, vocab_size=10),
                          expert=gemma_decoder(32, 3, 64)), "share depth"),
    (lambda: PolicyConfig(vision=SiglipConfig(), vlm=gemma_decoder(64, 2, 64),
                          expert=gemma_decoder(32, 2, 64)), "token embedding"),
    (lambda: PolicyConfig(vision=SiglipConfig(), vlm=gemma_decoder(64, 2, 64, vocab_size=10),
                          expert=gemma_decoder(32, 2, 64, adarms_cond_dim=32)), "adaptive RMSNorm"),
])
def test_invalid_configs_are_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_unknown_preset_backend_and_dtype_are_named():
    with pytest.raises(ValueError, match="neither a preset"):
        load_policy("pi7")
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        load_policy("pi0-tiny", backend="cuda")
    with pytest.raises(ValueError, match="float16"):
        load_policy("pi0-tiny", dtype=torch.float16)


@pytest.fixture(scope="module")
def tiny():
    return load_policy("pi0-tiny")


def _obs(**changes) -> Observation:
    fields = dict(images={"base_0_rgb": torch.zeros(1, 3, 224, 224)}, tokens=torch.zeros(1, 5, dtype=torch.long),
                  token_masks=torch.ones(1, 5, dtype=torch.bool), state=torch.zeros(1, 8))
    fields.update(changes)
    return Observation(**fields)


@pytest.mark.parametrize("changes, message", [
    (dict(tokens=torch.full((1, 5), 5000)), r"token ids must be in \[0, 1024\)"),
    (dict(tokens=torch.zeros(1, 49, dtype=torch.long), token_masks=torch.ones(1, 49, dtype=torch.bool)),
     "at most 48"),
    (dict(token_masks=torch.ones(1, 4, dtype=torch.bool)), "token_masks must have the shape of tokens"),
    (dict(images={"base_0_rgb": torch.zeros(1, 3, 200, 224)}), r"image 'base_0_rgb' must be \[1, 3, 224, 224\]"),
    (dict(images={"top": torch.zeros(1, 3, 224, 224)}), "unknown cameras"),
    (dict(images={}), "no camera images"),
    (dict(state=None), "needs observation.state"),
    (dict(state=torch.zeros(1, 40)), "state must be"),
    (dict(state=torch.tensor([[float("nan")] * 8])), "NaN"),
    (dict(image_masks={"base_0_rgb": torch.tensor([2])}), "image_masks"),
])
def test_bad_observations_are_named(tiny, changes, message):
    with pytest.raises(ValueError, match=message):
        tiny.sample_actions(_obs(**changes), num_steps=1)


def test_every_camera_masked_is_an_error(tiny):
    with pytest.raises(ValueError, match="image_masks hide every camera"):
        tiny.sample_actions(_obs(image_masks={"base_0_rgb": torch.tensor([False])}), num_steps=1)


def test_noise_shape_is_checked(tiny):
    with pytest.raises(ValueError, match="noise must have shape"):
        tiny.sample_actions(_obs(), noise=torch.zeros(1, 10, 32))
