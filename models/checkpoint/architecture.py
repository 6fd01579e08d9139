"""The policy architecture a checkpoint describes, from its tensor shapes plus config.json.

Shapes decide every size they carry; config.json adds what no shape says (horizon, prompt length, cameras, steps,
RoPE theta, heads where no q_norm gives head_dim). Where config.json states a size the shapes also give and the two
disagree, the shapes win and a warning says so.

A checkpoint without the action expert (a bare decoder, a Prismatic VLM) is completed from a base preset:
`base_preset`, else "pi0" for a Gemma VLM and "pi0-qwen3" otherwise. Its vision tower (when absent), projector
sizes, suffix, sampler, prompt length and cameras are the preset's; the expert shares the loaded VLM's family, depth,
heads, head_dim and RoPE (shared attention needs them equal) with the preset expert's width and MLP size.
"""

from __future__ import annotations

import math

from ..config import DEFAULT_CAMERAS, PolicyConfig, SamplerConfig, SiglipConfig, SuffixConfig
from ..presets import get_preset
from .decoders import HF_FAMILIES, expert_like, hf_decoder, pi0_decoder
from .errors import CheckpointError
from .layout import KeyMapping
from .shapes import Shapes, config_int, reconcile

SIGLIP_HEAD_DIM = 72  # so400m/14; no SigLIP tensor carries the head count
_VARIANT_WIDTHS = {"gemma_2b": 2048, "gemma_300m": 1024}
# Prismatic llm_backbone_id prefix -> Hugging Face model_type
_PRISMATIC_LLMS = (("gemma", "gemma"), ("llama", "llama"), ("vicuna", "llama"), ("mistral", "mistral"),
                   ("qwen25", "qwen2"), ("qwen3", "qwen3"))


def vision_from_shapes(shapes: Shapes, resolution: int | None) -> SiglipConfig:
    width, _, _, patch = shapes.get("vision.embeddings.patch_embedding.weight", 4)
    positions = shapes.get("vision.embeddings.position_embedding.weight", 2)[0]
    grid = math.isqrt(positions)
    if grid * grid != positions:
        raise CheckpointError(f"cannot infer the architecture: "
                              f"{shapes.describe('vision.embeddings.position_embedding.weight')} has {positions} rows, "
                              "not a square grid")
    if width % SIGLIP_HEAD_DIM:
        raise CheckpointError(f"cannot infer the architecture: SigLIP width {width} is not a multiple of head_dim "
                              f"{SIGLIP_HEAD_DIM} (so400m); other SigLIP sizes are not supported")
    try:
        return SiglipConfig(width=width, depth=shapes.depth("vision.encoder.layers."),
                            num_heads=width // SIGLIP_HEAD_DIM,
                            mlp_dim=shapes.get("vision.encoder.layers.0.mlp.fc1.weight", 2)[0], patch_size=patch,
                            image_size=resolution or grid * patch, pretrained_grid=grid)
    except ValueError as err:
        patches = shapes.describe("vision.embeddings.patch_embedding.weight")
        raise CheckpointError(f"the vision sizes read from the tensors are inconsistent: {err} ({patches} "
                              f"{[width, 3, patch, patch]}, {positions} positions)") from None


def _policy(make, shapes: Shapes):
    try:
        return make()
    except ValueError as err:
        raise CheckpointError(f"the architecture read from the tensors is inconsistent: {err} "
                              f"({shapes.evidence()})") from None


def _pi0_from_shapes(shapes: Shapes, meta: dict, notes: list[str]) -> PolicyConfig:
    """A full pi0 / pi0.5 tree (lerobot, openpi); config.json is lerobot's PI0Config / PI05Config."""
    resolution = meta.get("image_resolution")
    resolution = int(resolution[0]) if isinstance(resolution, list) and resolution and \
        isinstance(resolution[0], int) and resolution[0] > 0 else None
    vision = vision_from_shapes(shapes, resolution)
    vlm = pi0_decoder(shapes, "vlm.", meta, notes, vocab_size=shapes.get("vlm.embed_tokens.weight", 2)[0])
    adaptive = "expert.layers.0.input_layernorm.dense.weight"
    expert = pi0_decoder(shapes, "expert.", meta, notes,
                         adarms_cond_dim=shapes.get(adaptive, 2)[1] if shapes.has(adaptive) else 0)
    for key, decoder in (("paligemma_variant", vlm), ("action_expert_variant", expert)):
        variant = meta.get(key)
        if isinstance(variant, str) and variant in _VARIANT_WIDTHS:
            reconcile(notes, f"config.json {key}={variant!r}, i.e. width", _VARIANT_WIDTHS[variant], decoder.width)
    kind = "pi05" if shapes.has("suffix.time_mlp_in.weight") else "pi0"
    reconcile(notes, "config.json type", meta.get("type") if meta.get("type") in ("pi0", "pi05") else None, kind)
    action_dim = shapes.get("suffix.action_in_proj.weight", 2)[1]
    reconcile(notes, "config.json max_action_dim", config_int(meta, "max_action_dim", notes), action_dim)
    stated_state = config_int(meta, "max_state_dim", notes)
    if kind == "pi0":
        state_dim = shapes.get("suffix.state_proj.weight", 2)[1]
        reconcile(notes, "config.json max_state_dim", stated_state, state_dim)
    else:
        state_dim = stated_state or 32
    periods = [meta.get(k, d) for k, d in (("min_period", 4e-3), ("max_period", 4.0))]
    if not all(isinstance(p, (int, float)) and not isinstance(p, bool) and 0 < p < math.inf for p in periods):
        raise CheckpointError(f"config.json min_period / max_period must be positive numbers, found {periods}")
    suffix = _policy(lambda: SuffixConfig(kind=kind, state_dim=state_dim, action_dim=action_dim,
                                          horizon=config_int(meta, "chunk_size", notes) or 50,
                                          min_period=float(periods[0]), max_period=float(periods[1])), shapes)
    features = meta.get("input_features") if isinstance(meta.get("input_features"), dict) else {}
    cameras = tuple(name.removeprefix("observation.images.") for name, feature in features.items()
                    if isinstance(feature, dict) and feature.get("type") == "VISUAL") or DEFAULT_CAMERAS
    steps = config_int(meta, "num_inference_steps", notes) or 10
    tokens = config_int(meta, "tokenizer_max_length", notes) or (48 if kind == "pi0" else 200)
    return _policy(lambda: PolicyConfig(vision=vision, vlm=vlm, expert=expert, suffix=suffix,
                                        sampler=SamplerConfig(steps), max_token_len=tokens, cameras=cameras),
                   shapes)


def llm_config(meta: dict) -> dict:
    """The VLM decoder's Hugging Face config: config.json itself for a bare decoder; for Prismatic / OpenVLA its
    `text_config`, with model_type from `llm_backbone_id` (top level or under `model`) when not given."""
    if isinstance(meta.get("model_type"), str) and meta["model_type"] in HF_FAMILIES:
        return meta
    config = dict(meta.get("text_config")) if isinstance(meta.get("text_config"), dict) else {}
    model = meta.get("model") if isinstance(meta.get("model"), dict) else {}
    backbone = meta.get("llm_backbone_id") or model.get("llm_backbone_id")
    if "model_type" not in config and isinstance(backbone, str):
        config["model_type"] = next((t for prefix, t in _PRISMATIC_LLMS if backbone.startswith(prefix)), backbone)
    return config if config else meta


def infer_config(mapping: KeyMapping, shapes: Shapes, meta: dict, base_preset: str | None,
                 notes: list[str]) -> tuple[PolicyConfig, str | None]:
    """The architecture, and the preset that supplied the components the checkpoint lacks (None: it lacks none)."""
    if "expert" in mapping.provided:
        return _pi0_from_shapes(shapes, meta, notes), None
    config = llm_config(meta)
    vlm = hf_decoder(shapes, "vlm.", config, notes)
    base_name = base_preset or ("pi0" if vlm.family == "gemma" else "pi0-qwen3")
    base = get_preset(base_name)
    vision = vision_from_shapes(shapes, None) if "vision" in mapping.provided else base.vision
    expert = expert_like(vlm, base.expert.width, base.expert.mlp_dim, base.expert.adarms_cond_dim)
    return _policy(lambda: PolicyConfig(vision=vision, vlm=vlm, expert=expert, suffix=base.suffix,
                                        sampler=base.sampler, max_token_len=base.max_token_len,
                                        cameras=base.cameras), shapes), base_name
