"""Block-level TT twins against the float32 reference: SigLIP attention and MLP, Gemma / Qwen3 / Qwen2.5
attention, MLP and block, the suffix embeddings, and one shared-attention layer (prefix cache + expert)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from models import gemma_decoder, get_preset, qwen_decoder
from models.masks import additive_mask, attention_mask_2d, prefix_positions, suffix_ar_flags
from reference import dual_expert as ref_dual
from reference.attention import attend
from reference.decoder import Decoder as RefDecoder
from reference.random_init import init_random_, random_policy
from tests.metrics import compare
from tests.tt.tensors import BLOCK_PCC, to_host
from tt import decoder as tt_decoder
from tt import dual_expert as tt_dual
from tt.attention import ExpertKV, PrefixKVCache, Rope, Rotation, upload_mask
from tt.common import scoped, upload
from tt.decoder import DecoderLayer, attention_scales
from tt.ops import ttnn
from tt.policy import Pi0Policy as TTPolicy
from tt.precision import Precision
from tt.siglip import SiglipAttention, SiglipMLP

PRECISIONS = ("bf16", "bfp8")
BATCH, SEQ = 2, 37


def _decoders() -> dict[str, RefDecoder]:
    """The tiny presets' decoders, Qwen2.5, and head_dims that are not a tile multiple (padded on TT) with MQA and
    GQA, per-head q/k norms and QKV biases."""
    qwen2 = qwen_decoder(128, 2, 384, num_heads=16, num_kv_heads=8, head_dim=128, flavour="qwen2", vocab_size=64)
    decoders = {"gemma": get_preset("pi0-tiny").vlm, "qwen3": get_preset("pi0-qwen3-tiny").vlm, "qwen2.5": qwen2,
                "gemma-hd72-mqa": gemma_decoder(128, 2, 256, num_heads=4, num_kv_heads=1, head_dim=72, vocab_size=64),
                "qwen3-hd80-gqa": qwen_decoder(128, 2, 384, num_heads=4, num_kv_heads=2, head_dim=80, vocab_size=64),
                "qwen2.5-hd40-gqa": qwen_decoder(128, 2, 384, num_heads=6, num_kv_heads=2, head_dim=40,
                                                 flavour="qwen2", vocab_size=64)}
    built = {}
    for seed, (name, cfg) in enumerate(decoders.items()):
        built[name] = RefDecoder(cfg)
        init_random_(built[name], seed)
    return built


DECODERS = _decoders()


@pytest.fixture(scope="module")
def vision():
    return random_policy(get_preset("pi0-tiny"), seed=4).vision


@pytest.mark.parametrize("precision", PRECISIONS)
@torch.no_grad()
def test_siglip_attention_and_mlp(runtime, vision, precision):
    layer = vision.encoder.layers[0]
    weights = scoped(vision.state_dict(), "encoder.layers.0.")
    x = layer.layer_norm1(vision.embeddings(torch.rand(BATCH, 3, 224, 224) * 2 - 1))
    cfg = get_preset("pi0-tiny").vision
    attention = SiglipAttention(runtime, cfg, scoped(weights, "self_attn."), Precision(precision))
    x_dev = upload(runtime, x[:, None], ttnn.bfloat16)
    compare(f"[{runtime.label}] siglip attention {precision}", to_host(attention(x_dev))[:, 0], layer.self_attn(x),
            min_pcc=BLOCK_PCC[precision])
    mlp = SiglipMLP(runtime, scoped(weights, "mlp."), Precision(precision))
    compare(f"[{runtime.label}] siglip mlp {precision}", to_host(mlp(x_dev))[:, 0], layer.mlp(x),
            min_pcc=BLOCK_PCC[precision])


@pytest.mark.parametrize("family", DECODERS)
@pytest.mark.parametrize("precision", PRECISIONS)
@torch.no_grad()
def test_decoder_attention_mlp_and_block(runtime, family, precision):
    ref = DECODERS[family]
    cfg = ref.cfg
    pad = torch.ones(BATCH, SEQ, dtype=torch.bool)
    pad[0, 33:] = False
    mask, positions = attention_mask_2d(pad, torch.zeros_like(pad)), prefix_positions(pad)
    h = torch.randn(BATCH, SEQ, cfg.width)
    layer = ref.layers[0]
    cos, sin = ref.rope(positions, torch.float32)
    q, k, v, gate = layer.project(h, cos, sin)
    attn = attend(q, k, v, additive_mask(mask, torch.float32))
    expected_attention, expected_block = layer.self_attn.o_proj(attn), layer.finish(h, attn, gate)

    tt_layer = DecoderLayer(runtime, cfg, scoped(ref.state_dict(), "layers.0."), Precision(precision))
    rope = Rope.upload(runtime, positions, cfg.rope_theta, Rotation.upload(runtime, cfg.head_dim))
    h_dev = upload(runtime, h[:, None], ttnn.bfloat16)
    tq, tk, tv, tgate = tt_layer.project(h_dev, rope)
    tt_attn = tt_layer.attend(tq, tk, tv, upload_mask(runtime, mask))
    label = f"[{runtime.label}] {family} {precision}"
    compare(f"{label} attention", to_host(tt_layer.o_proj(tt_attn))[:, 0][pad], expected_attention[pad],
            min_pcc=BLOCK_PCC[precision])
    compare(f"{label} mlp", to_host(tt_layer.mlp(h_dev))[:, 0], layer.mlp(h), min_pcc=BLOCK_PCC[precision])
    compare(f"{label} block", to_host(tt_layer.finish(h_dev, tt_attn, tgate))[:, 0][pad], expected_block[pad],
            min_pcc=BLOCK_PCC[precision])


def test_the_attention_scale_is_folded_into_q_where_that_is_exact_or_q_has_a_norm():
    assert attention_scales(256, False) == (1.0, 1 / 16) and attention_scales(64, False) == (1.0, 1 / 8)
    assert attention_scales(128, False) == (128 ** -0.5, 1.0) and attention_scales(72, False) == (72 ** -0.5, 1.0)
    assert attention_scales(128, True) == (1.0, 128 ** -0.5) and attention_scales(64, True) == (1.0, 1 / 8)


EXACT = {"gemma q weights": get_preset("pi0-tiny").vlm,
         "qwen2.5 q weights and biases": qwen_decoder(128, 1, 384, num_heads=2, num_kv_heads=1, head_dim=64,
                                                      flavour="qwen2"),
         "qwen3 q norm": qwen_decoder(128, 1, 384, num_heads=2, num_kv_heads=1, head_dim=64)}
FOLDED = {**EXACT, "qwen3 q norm, head_dim 128": qwen_decoder(256, 1, 384, num_heads=2, num_kv_heads=1, head_dim=128)}


@pytest.mark.parametrize("where", FOLDED)
@torch.no_grad()
def test_a_folded_attention_scale_changes_no_bit_and_drops_the_mask_rescaling(runtime, monkeypatch, where):
    """The scale folded into q (tt.decoder.attention_scales) against the same layer giving it to SDPA: the same
    attention output, to the bit where the scale is a power of two, and no SDPA program rescaling the mask first."""
    cfg = FOLDED[where]
    ref = RefDecoder(cfg)
    init_random_(ref, 5)
    weights = scoped(ref.state_dict(), "layers.0.")
    pad = torch.ones(BATCH, SEQ, dtype=torch.bool)
    pad[1, 30:] = False
    mask, positions = attention_mask_2d(pad, torch.zeros_like(pad)), prefix_positions(pad)
    h = upload(runtime, torch.randn(BATCH, 1, SEQ, cfg.width), ttnn.bfloat16)
    rope = Rope.upload(runtime, positions, cfg.rope_theta, Rotation.upload(runtime, cfg.head_dim))

    def attention(layer):
        with runtime.recording() as log:
            q, k, v, _ = layer.project(h, rope)
            out = to_host(layer.attend(q, k, v, upload_mask(runtime, mask)))
        sdpa, = log.select(op="ttnn.transformer.scaled_dot_product_attention")
        return out, [program.name for program in sdpa.programs or ()]

    folded, folded_programs = attention(DecoderLayer(runtime, cfg, weights, Precision("bfp8")))
    monkeypatch.setattr(tt_decoder, "attention_scales", lambda head_dim, q_norm: (head_dim ** -0.5, 1.0))
    given, given_programs = attention(DecoderLayer(runtime, cfg, weights, Precision("bfp8")))
    if where in EXACT:
        compare(f"[{runtime.label}] {where}: scale folded vs given to SDPA", folded, given, max_abs=0.0)
    else:
        compare(f"[{runtime.label}] {where}: scale folded vs given to SDPA", folded, given, min_pcc=0.9999)
    if runtime.mode != "device":
        assert folded_programs == ["sdpa"] and given_programs == ["mask prescale", "sdpa"]


@pytest.mark.parametrize("preset", ["pi0-tiny", "pi05-tiny"])
@pytest.mark.parametrize("precision", PRECISIONS)
@torch.no_grad()
def test_suffix_embeddings(runtime, preset, precision):
    ref = random_policy(get_preset(preset), seed=8)
    tt = TTPolicy(runtime, ref.config, ref.state_dict(), Precision(precision))
    x_t, t = torch.randn(BATCH, 50, 32), torch.full((BATCH,), 0.7)
    state = torch.randn(BATCH, 32) if ref.config.suffix.has_state_token else None
    expected, cond = ref.suffix(x_t, t, state)
    plan = tt.suffix.prepare([0.7], state, BATCH)
    x = ttnn.typecast(tt.upload_actions(x_t), ttnn.bfloat16)
    actual = tt.suffix.layout.logical_rows(to_host(tt.suffix.embed(x, plan, 0))[:, 0])
    compare(f"[{runtime.label}] {preset} suffix embeddings {precision}", actual, expected,
            min_pcc=BLOCK_PCC[precision])
    if cond is not None:
        compare(f"[{runtime.label}] {preset} time condition {precision}",
                to_host(plan.step_conditions[0])[0, 0].expand_as(cond), cond, min_pcc=BLOCK_PCC[precision])


@pytest.mark.parametrize("preset", ["pi05-tiny", "pi0-qwen3-tiny"])
@pytest.mark.parametrize("precision", PRECISIONS)
@torch.no_grad()
def test_one_shared_attention_layer(runtime, preset, precision):
    """Depth-1 VLM fills the prefix cache; the depth-1 expert runs the suffix against it (adaRMS for pi0.5)."""
    cfg = get_preset(preset)
    cfg = replace(cfg, vlm=replace(cfg.vlm, depth=1), expert=replace(cfg.expert, depth=1))
    ref = random_policy(cfg, seed=9)
    tt = TTPolicy(runtime, cfg, ref.state_dict(), Precision(precision))
    prefix_len = 64  # a tile multiple, as TT prefixes always are
    pad = torch.ones(BATCH, prefix_len, dtype=torch.bool)
    pad[1, 40:] = False
    prefix = torch.randn(BATCH, prefix_len, cfg.vlm.width)
    x_t, t = torch.randn(BATCH, 50, 32), torch.full((BATCH,), 0.4)
    state = torch.randn(BATCH, 32) if cfg.suffix.has_state_token else None
    suffix, cond = ref.suffix(x_t, t, state)
    ar = suffix_ar_flags(cfg.suffix.horizon, cfg.suffix.has_state_token)
    expected = ref_dual.run_suffix(ref.expert, suffix, ref_dual.fill_prefix_cache(ref.vlm, prefix, pad), ar, cond)

    rope = Rope.upload(runtime, prefix_positions(pad), cfg.vlm.rope_theta, tt.vlm.rotation)
    cache = tt_dual.fill_prefix_cache(tt.vlm, upload(runtime, prefix[:, None], ttnn.bfloat16), rope,
                                      upload_mask(runtime, attention_mask_2d(pad, torch.zeros_like(pad))))
    assert isinstance(cache, PrefixKVCache) and len(cache.keys) == 1
    suffix_rope, suffix_mask = tt.suffix_attention(pad)
    plan, modulations = tt.plan_denoising([0.4], state, BATCH)
    tt_suffix = tt.suffix.embed(ttnn.typecast(tt.upload_actions(x_t), ttnn.bfloat16), plan, 0)
    hidden = tt_dual.run_suffix(tt.expert, tt_suffix, ExpertKV(cache), suffix_rope, suffix_mask,
                                modulations[0] if modulations else None)
    compare(f"[{runtime.label}] {preset} shared-attention layer {precision}",
            tt.suffix.layout.logical_rows(to_host(hidden)[:, 0]), expected, min_pcc=BLOCK_PCC[precision])
