"""Named architecture presets. The *-tiny presets keep the real structure (head_dims, MQA/GQA, 256 image
tokens per camera, horizon 50, 32-dim state/action) at small widths and depths, for tests."""

from __future__ import annotations

from dataclasses import replace

from .config import (PolicyConfig, SiglipConfig, SuffixConfig, gemma_decoder, qwen_decoder)

GEMMA_VOCAB = 257_152
QWEN_VOCAB = 151_936
TINY_VOCAB = 1_024

SO400M = SiglipConfig()
SIGLIP_TINY = SiglipConfig(width=144, depth=2, num_heads=2, mlp_dim=288)  # head_dim 72 as so400m


def _pi0(suffix_kind: str, vision: SiglipConfig, vlm_size: tuple, expert_size: tuple, vocab: int,
         max_token_len: int) -> PolicyConfig:
    adarms = expert_size[0] if suffix_kind == "pi05" else 0
    return PolicyConfig(
        vision=vision,
        vlm=gemma_decoder(*vlm_size, vocab_size=vocab),
        expert=gemma_decoder(*expert_size, adarms_cond_dim=adarms),
        suffix=SuffixConfig(kind=suffix_kind),
        max_token_len=max_token_len,
    )


def _pi0_qwen3(vision: SiglipConfig, vlm_size: tuple, expert_size: tuple, vocab: int) -> PolicyConfig:
    heads = dict(num_heads=16, num_kv_heads=8, head_dim=128)
    return PolicyConfig(
        vision=vision,
        vlm=qwen_decoder(*vlm_size, vocab_size=vocab, **heads),
        expert=qwen_decoder(*expert_size, **heads),
    )


# (width, depth, mlp_dim)
PRESETS: dict[str, PolicyConfig] = {
    "pi0": _pi0("pi0", SO400M, (2048, 18, 16_384), (1024, 18, 4096), GEMMA_VOCAB, 48),
    "pi05": _pi0("pi05", SO400M, (2048, 18, 16_384), (1024, 18, 4096), GEMMA_VOCAB, 200),
    "pi0-qwen3": _pi0_qwen3(SO400M, (2048, 28, 6144), (1024, 28, 3072), QWEN_VOCAB),
    "pi0-tiny": _pi0("pi0", SIGLIP_TINY, (128, 2, 256), (64, 2, 128), TINY_VOCAB, 48),
    "pi05-tiny": _pi0("pi05", SIGLIP_TINY, (128, 2, 256), (64, 2, 128), TINY_VOCAB, 200),
    "pi0-qwen3-tiny": _pi0_qwen3(SIGLIP_TINY, (128, 2, 384), (64, 2, 192), TINY_VOCAB),
}


def get_preset(name: str) -> PolicyConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None


def architecture_preset(config: PolicyConfig) -> str | None:
    """The preset with this policy's architecture (vision tower at any image size, both decoders, suffix kind), or
    None: what a checkpoint's config is matched on to find the preset's stored settings."""
    def key(c: PolicyConfig):
        return replace(c.vision, image_size=c.vision.patch_size), c.vlm, c.expert, c.suffix.kind

    return next((name for name, preset in PRESETS.items() if key(preset) == key(config)), None)
