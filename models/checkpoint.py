"""Reads lerobot >= 0.4 pi0 / pi0.5 checkpoints (`model.safetensors` + `config.json`).

The architecture is inferred from tensor shapes; `config.json` only adds what shapes cannot say (horizon, prompt
length, cameras, step count). Where a variant name in config.json disagrees with the shapes, the shapes win.
Facts that no shape carries, taken from every openpi Gemma variant: one KV head (MQA), so head_dim is k_proj's
output size; SigLIP's head_dim is 72 (so400m/14).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from loguru import logger
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .config import DEFAULT_CAMERAS, PolicyConfig, SamplerConfig, SiglipConfig, SuffixConfig, gemma_decoder

SIGLIP_HEAD_DIM = 72
_PALIGEMMA = "model.paligemma_with_expert.paligemma."
# checkpoint key prefix -> our module path prefix
KEY_PREFIXES = (
    (_PALIGEMMA + "model.vision_tower.vision_model.", "vision."),
    (_PALIGEMMA + "model.multi_modal_projector.", "projector."),
    (_PALIGEMMA + "model.language_model.", "vlm."),
    ("model.paligemma_with_expert.gemma_expert.model.", "expert."),
    ("model.", "suffix."),
)
VLM_LM_HEAD = _PALIGEMMA + "lm_head.weight"
EXPERT_LM_HEAD = "model.paligemma_with_expert.gemma_expert.lm_head.weight"
_VARIANT_WIDTHS = {"gemma_2b": 2048, "gemma_300m": 1024}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not describe a supported model."""


def map_key(key: str) -> str:
    for source, target in KEY_PREFIXES:
        if key.startswith(source):
            return target + key[len(source):]
    raise CheckpointError(f"unexpected tensor {key!r}: not part of a lerobot pi0/pi0.5 checkpoint")


def checkpoint_key(name: str) -> str:
    """Inverse of map_key: our module path -> lerobot's key."""
    for source, target in KEY_PREFIXES:
        if name.startswith(target):
            return source + name[len(target):]
    raise ValueError(f"{name!r} is not a policy parameter name")


def write_checkpoint(state: dict[str, torch.Tensor], directory: str | Path, meta: dict | None = None) -> Path:
    """Write our state dict as a lerobot >= 0.4 checkpoint (model.safetensors + config.json)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {checkpoint_key(name): t.detach().contiguous() for name, t in state.items()}
    save_file(tensors, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps(meta or {}, indent=2))
    return directory


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of one safetensors file under our module names (the tied lm_head fills a missing embedding)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err
    state = {}
    for key, tensor in raw.items():
        if key in (VLM_LM_HEAD, EXPERT_LM_HEAD):
            continue
        state[map_key(key)] = tensor
    if "vlm.embed_tokens.weight" not in state and VLM_LM_HEAD in raw:
        state["vlm.embed_tokens.weight"] = raw[VLM_LM_HEAD]  # tied embeddings
    if EXPERT_LM_HEAD in raw:
        logger.info("ignoring {} (the action expert's unused lm_head)", EXPERT_LM_HEAD)
    return state


def _depth(state: dict, prefix: str) -> int:
    indices = {int(m.group(1)) for k in state if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    if not indices:
        raise CheckpointError(f"no layers found under {prefix!r}")
    return max(indices) + 1


def _require(state: dict, key: str) -> torch.Tensor:
    if key not in state:
        raise CheckpointError(f"missing tensor {key!r}")
    return state[key]


def _decoder_sizes(state: dict, root: str) -> dict:
    layer = root + "layers.0."
    k_out = _require(state, layer + "self_attn.k_proj.weight").shape[0]
    q_out, width = _require(state, layer + "self_attn.q_proj.weight").shape
    return dict(width=width, depth=_depth(state, root + "layers."),
                mlp_dim=_require(state, layer + "mlp.gate_proj.weight").shape[0],
                num_heads=q_out // k_out, num_kv_heads=1, head_dim=k_out)


def infer_config(state: dict[str, torch.Tensor], meta: dict) -> PolicyConfig:
    patch = _require(state, "vision.embeddings.patch_embedding.weight")
    positions = _require(state, "vision.embeddings.position_embedding.weight").shape[0]
    grid = round(positions ** 0.5)
    resolution = meta.get("image_resolution") or [grid * patch.shape[-1]] * 2
    vision = SiglipConfig(width=patch.shape[0], depth=_depth(state, "vision.encoder.layers."),
                          num_heads=patch.shape[0] // SIGLIP_HEAD_DIM,
                          mlp_dim=_require(state, "vision.encoder.layers.0.mlp.fc1.weight").shape[0],
                          patch_size=patch.shape[-1], image_size=int(resolution[0]), pretrained_grid=grid)

    vocab = _require(state, "vlm.embed_tokens.weight").shape[0]
    vlm = gemma_decoder(**_decoder_sizes(state, "vlm."), vocab_size=vocab)
    adaptive = state.get("expert.layers.0.input_layernorm.dense.weight")
    expert_sizes = _decoder_sizes(state, "expert.")
    expert = gemma_decoder(**expert_sizes, adarms_cond_dim=0 if adaptive is None else adaptive.shape[1])
    for name, decoder in (("paligemma_variant", vlm), ("action_expert_variant", expert)):
        named = _VARIANT_WIDTHS.get(meta.get(name))
        if named is not None and named != decoder.width:
            logger.warning("config.json says {}={!r} (width {}) but the tensors have width {}: using the tensors",
                           name, meta[name], named, decoder.width)

    kind = "pi05" if "suffix.time_mlp_in.weight" in state else "pi0"
    action_dim = _require(state, "suffix.action_in_proj.weight").shape[1]
    state_dim = state["suffix.state_proj.weight"].shape[1] if kind == "pi0" else meta.get("max_state_dim", 32)
    suffix = SuffixConfig(kind=kind, state_dim=state_dim, action_dim=action_dim,
                          horizon=int(meta.get("chunk_size", 50)),
                          min_period=float(meta.get("min_period", 4e-3)), max_period=float(meta.get("max_period", 4.0)))
    cameras = tuple(name.removeprefix("observation.images.") for name, feature in
                    meta.get("input_features", {}).items() if feature.get("type") == "VISUAL") or DEFAULT_CAMERAS
    return PolicyConfig(vision=vision, vlm=vlm, expert=expert, suffix=suffix,
                        sampler=SamplerConfig(int(meta.get("num_inference_steps", 10))),
                        max_token_len=int(meta.get("tokenizer_max_length", 48 if kind == "pi0" else 200)),
                        cameras=cameras)


def read_checkpoint(directory: str | Path) -> tuple[PolicyConfig, dict[str, torch.Tensor]]:
    directory = Path(directory)
    weights = directory / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{directory}: no model.safetensors found")
    meta_path = directory / "config.json"
    meta = {}
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{meta_path}: invalid JSON ({err})") from err
    state = read_state_dict(weights)
    return infer_config(state, meta), state
