"""Block-level proof against Hugging Face transformers (the version pinned for tests): our SigLIP tower, projector
and Gemma / Qwen3 / Qwen2.5 decoder stacks compute what transformers computes from the same weights.

Each test builds a tiny float32 transformers model, randomises every one of its parameters with `init_random_`
(Gemma's (1 + w) norm weights drawn around 0), and loads its state dict into ours with `strict=True` after removing
a key prefix only, so our parameter names are transformers' names. Decoders see a causal mask, one case with left
padding. The deliberate-bug tests show that the comparisons would catch a wrong RoPE theta, a Gemma norm without its
(1 + w), or an ignored padding mask.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import (GemmaConfig, GemmaModel, PaliGemmaConfig, PaliGemmaForConditionalGeneration, Qwen2Config,
                          Qwen2Model, Qwen3Config, Qwen3Model, SiglipVisionConfig, SiglipVisionModel)
from transformers.models.gemma.modeling_gemma import GemmaRMSNorm as HFGemmaRMSNorm

from models.config import ProjectorConfig, SiglipConfig, gemma_decoder, qwen_decoder
from reference.decoder import Decoder
from reference.gemma import GemmaRMSNorm
from reference.projector import Projector
from reference.qwen import QwenRMSNorm
from reference.random_init import init_random_
from reference.siglip import SiglipVisionTower
from tests.metrics import compare

MAX_ABS = 1e-4
MIN_PCC = 0.99999
MIN_DETECTED_DIFF = 1e-3  # a deliberately wrong model must miss by at least this much

BATCH = 2
SEQ = 37  # not a multiple of 32
LEFT_PAD = 12
VOCAB = 1024
QWEN_THETA = 1_000_000.0

SIGLIP_HF = dict(hidden_size=144, num_hidden_layers=2, num_attention_heads=2, intermediate_size=288, patch_size=14,
                 image_size=224, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6, vision_use_head=False)
GEMMA_HF = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=1, head_dim=256,
                intermediate_size=256, vocab_size=VOCAB, hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6,
                rope_parameters={"rope_type": "default", "rope_theta": 10_000.0})
QWEN_HF = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=16, num_key_value_heads=8, head_dim=128,
               intermediate_size=384, vocab_size=VOCAB, rms_norm_eps=1e-6, tie_word_embeddings=True,
               rope_parameters={"rope_type": "default", "rope_theta": QWEN_THETA})


def _randomised(model: nn.Module, seed: int) -> nn.Module:
    init_random_(model, seed, gemma_norm_types=(HFGemmaRMSNorm,))
    return model.eval()


def _load(ours: nn.Module, theirs: nn.Module, prefix: str = "") -> nn.Module:
    """Load the transformers weights under `prefix` into ours, prefix removed, strictly."""
    state = {k[len(prefix):]: v for k, v in theirs.state_dict().items() if k.startswith(prefix)}
    ours.load_state_dict(state, strict=True)
    return ours.eval()


def _pixels(image_size: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(BATCH, 3, image_size, image_size, generator=gen) * 2 - 1


def _tokens(seed: int) -> torch.Tensor:
    return torch.randint(0, VOCAB, (BATCH, SEQ), generator=torch.Generator().manual_seed(seed))


def _real_tokens(padded: bool) -> torch.Tensor:
    """bool [B, L]; padded: the second row starts with LEFT_PAD padding tokens (with a causal mask, trailing
    padding would never be attended to by a real token, so only leading padding tests the key mask)."""
    real = torch.ones(BATCH, SEQ, dtype=torch.bool)
    if padded:
        real[1, :LEFT_PAD] = False
    return real


def _our_decoder_output(dec: Decoder, ids: torch.Tensor, real_BL: torch.Tensor) -> torch.Tensor:
    """Causal attention restricted to real keys, positions 0..L-1 (transformers' defaults)."""
    causal = torch.ones(SEQ, SEQ, dtype=torch.bool).tril()
    mask = causal[None] & real_BL[:, None, :]
    positions = torch.arange(SEQ).expand(BATCH, SEQ)
    return dec(dec.embed(ids), mask, positions)


def _gemma_hf() -> GemmaModel:
    return _randomised(GemmaModel(GemmaConfig(**GEMMA_HF)), seed=4)


def _gemma_ours() -> Decoder:
    return Decoder(gemma_decoder(128, 2, 256, vocab_size=VOCAB))


def _hf_qwen3() -> Qwen3Model:
    theirs = _randomised(Qwen3Model(Qwen3Config(**QWEN_HF)), seed=3)
    head_dim = QWEN_HF["head_dim"]
    expected = 1.0 / QWEN_THETA ** (torch.arange(0, head_dim, 2).float() / head_dim)
    # A theta silently ignored by the config would make the Qwen comparisons meaningless.
    torch.testing.assert_close(theirs.rotary_emb.inv_freq, expected, rtol=1e-6, atol=0)
    return theirs


def _qwen_ours(flavour: str, **overrides) -> Decoder:
    return Decoder(qwen_decoder(128, 2, 384, num_heads=16, num_kv_heads=8, head_dim=128, flavour=flavour,
                                vocab_size=VOCAB, **overrides))


@pytest.mark.parametrize("image_size,interpolate", [(224, False), (378, True), (384, True)],
                         ids=["224", "378-interpolated", "384-interpolated"])
@torch.no_grad()
def test_siglip_tower_matches_transformers(image_size, interpolate):
    theirs = _randomised(SiglipVisionModel(SiglipVisionConfig(**SIGLIP_HF)), seed=1)
    ours = _load(SiglipVisionTower(SiglipConfig(width=144, depth=2, num_heads=2, mlp_dim=288, image_size=image_size,
                                                pretrained_grid=16)), theirs, "vision_model.")
    pixels = _pixels(image_size, seed=10)
    expected = theirs(pixel_values=pixels, interpolate_pos_encoding=interpolate).last_hidden_state
    compare(f"siglip {image_size}px", ours(pixels), expected, max_abs=MAX_ABS, min_pcc=MIN_PCC)


@torch.no_grad()
def test_projected_image_features_match_paligemma():
    config = PaliGemmaConfig(vision_config=SIGLIP_HF, text_config={"model_type": "gemma", **GEMMA_HF},
                             projection_dim=128, vocab_size=VOCAB, image_token_index=VOCAB - 1)
    theirs = _randomised(PaliGemmaForConditionalGeneration(config), seed=2)
    tower = _load(SiglipVisionTower(SiglipConfig(width=144, depth=2, num_heads=2, mlp_dim=288)), theirs,
                  "model.vision_tower.vision_model.")
    projector = _load(Projector(ProjectorConfig(144, 128)), theirs, "model.multi_modal_projector.")
    pixels = _pixels(224, seed=11)
    expected = theirs.get_image_features(pixel_values=pixels).pooler_output
    compare("paligemma image features", projector(tower(pixels)), expected, max_abs=MAX_ABS, min_pcc=MIN_PCC)


@pytest.mark.parametrize("padded", [False, True], ids=["full", "left-padded"])
@torch.no_grad()
def test_gemma_stack_matches_transformers(padded):
    theirs = _gemma_hf()
    ours = _load(_gemma_ours(), theirs)
    ids, real = _tokens(seed=12), _real_tokens(padded)
    expected = theirs(input_ids=ids, attention_mask=real.long()).last_hidden_state
    actual = _our_decoder_output(ours, ids, real)
    compare(f"gemma {'left-padded' if padded else 'full'}", actual[real], expected[real], max_abs=MAX_ABS,
            min_pcc=MIN_PCC)


@torch.no_grad()
def test_qwen3_stack_matches_transformers():
    theirs = _hf_qwen3()
    ours = _load(_qwen_ours("qwen3"), theirs)
    ids = _tokens(seed=13)
    expected = theirs(input_ids=ids).last_hidden_state
    actual = _our_decoder_output(ours, ids, _real_tokens(padded=False))
    compare("qwen3", actual, expected, max_abs=MAX_ABS, min_pcc=MIN_PCC)


@torch.no_grad()
def test_qwen2_stack_matches_transformers():
    theirs = _randomised(Qwen2Model(Qwen2Config(**QWEN_HF)), seed=5)
    assert theirs.layers[0].self_attn.q_proj.bias is not None, "Qwen2.5 has QKV biases"
    ours = _load(_qwen_ours("qwen2"), theirs)
    ids = _tokens(seed=14)
    expected = theirs(input_ids=ids).last_hidden_state
    actual = _our_decoder_output(ours, ids, _real_tokens(padded=False))
    compare("qwen2", actual, expected, max_abs=MAX_ABS, min_pcc=MIN_PCC)


def _without_one_plus_w(dec: Decoder) -> Decoder:
    """Swap every Gemma norm for x * w with the same stored w: the classic missing-(1 + w) bug."""
    for module in list(dec.modules()):
        for name, child in module.named_children():
            if isinstance(child, GemmaRMSNorm):
                broken = QwenRMSNorm(child.weight.shape[0], child.eps)
                broken.weight.data.copy_(child.weight.data)
                setattr(module, name, broken)
    return dec


def _wrong_rope_theta(ids: torch.Tensor):
    theirs = _hf_qwen3()
    ours = _load(_qwen_ours("qwen3", rope_theta=10_000.0), theirs)
    return _our_decoder_output(ours, ids, _real_tokens(padded=False)), theirs(input_ids=ids).last_hidden_state


def _missing_one_plus_w(ids: torch.Tensor):
    theirs = _gemma_hf()
    ours = _without_one_plus_w(_load(_gemma_ours(), theirs))
    return _our_decoder_output(ours, ids, _real_tokens(padded=False)), theirs(input_ids=ids).last_hidden_state


def _padding_ignored(ids: torch.Tensor):
    """Transformers is told about left padding; ours attends to every key."""
    theirs = _gemma_hf()
    ours = _load(_gemma_ours(), theirs)
    real = _real_tokens(padded=True)
    expected = theirs(input_ids=ids, attention_mask=real.long()).last_hidden_state
    return _our_decoder_output(ours, ids, _real_tokens(padded=False))[real], expected[real]


BUGS = {"qwen3 rope theta 1e4 not 1e6": _wrong_rope_theta, "gemma norm without (1 + w)": _missing_one_plus_w,
        "gemma left padding ignored": _padding_ignored}


@pytest.mark.parametrize("bug", BUGS)
@torch.no_grad()
def test_comparisons_detect_a_deliberate_bug(bug):
    actual, expected = BUGS[bug](_tokens(seed=15))
    diff, _ = compare(f"{bug} (must differ)", actual, expected)
    assert diff > MIN_DETECTED_DIFF, f"{bug}: went unnoticed (max abs diff {diff:.3e})"
