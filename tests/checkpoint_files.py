"""Small checkpoints in foreign layouts, written from one of our policies with each layout's own key names.

The renames here are spelled out independently of models/checkpoint (which maps the other way), so a test that
loads one of these back checks the mapping rather than repeating it. Matrices are stored bfloat16 and norms /
biases float32 (as lerobot does) unless a writer says otherwise; `rounded` gives the policy whose float32 weights
are exactly what such a file holds.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch import nn

from models import Observation
from models.checkpoint import lerobot_dtype, write_safetensors_dir

VLM_VOCAB = 1024
META = {"chunk_size": 50, "tokenizer_max_length": 48}  # the config.json the tests' lerobot checkpoints carry


def observation(with_state: bool) -> Observation:
    """One fixed single-camera observation (with a 32-dim state for pi0)."""
    gen = torch.Generator().manual_seed(1)
    return Observation(images={"base_0_rgb": torch.rand(1, 3, 224, 224, generator=gen) * 2 - 1},
                       tokens=torch.randint(0, VLM_VOCAB, (1, 12), generator=gen),
                       token_masks=torch.ones(1, 12, dtype=torch.bool),
                       state=torch.randn(1, 32, generator=gen) if with_state else None)


def mixed_dtype(name: str, tensor: torch.Tensor) -> torch.dtype:
    """bfloat16 matrices, float32 vectors and norms."""
    return torch.bfloat16 if tensor.ndim >= 2 and "norm" not in name else torch.float32


def rounded(policy: nn.Module, dtype_of) -> nn.Module:
    """A copy whose weights are rounded through the dtype each one is stored in (dtype_of(name, tensor))."""
    policy = copy.deepcopy(policy)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            p.copy_(p.to(dtype_of(name, p)).float())
    return policy


def _paligemma_roots(root: str, naming: str, siglip: str) -> dict[str, str]:
    tree = root + "paligemma_with_expert."
    vision_model = "vision_model." if siglip == "vision_model" else ""
    if naming == "current":
        return {"vision.": f"{tree}paligemma.model.vision_tower.{vision_model}",
                "projector.": f"{tree}paligemma.model.multi_modal_projector.",
                "vlm.": f"{tree}paligemma.model.language_model.", "lm_head": f"{tree}paligemma.lm_head.weight",
                "expert.": f"{tree}gemma_expert.model.", "suffix.": root}
    return {"vision.": f"{tree}paligemma.vision_tower.{vision_model}",
            "projector.": f"{tree}paligemma.multi_modal_projector.",
            "vlm.": f"{tree}paligemma.language_model.model.",
            "lm_head": f"{tree}paligemma.language_model.lm_head.weight",
            "expert.": f"{tree}gemma_expert.model.", "suffix.": root}


def pi0_tensors(state: dict[str, torch.Tensor], root: str = "model.", naming: str = "current",
                siglip: str = "vision_model", tied: bool = False) -> dict[str, torch.Tensor]:
    """A pi0 / pi0.5 tree: root "model." (lerobot) or "" (openpi), PaliGemma names "current" or "legacy", SigLIP
    names "vision_model" or "flattened". tied: the VLM embedding is stored only as lm_head (as lerobot saves it).
    Always adds the expert's unused lm_head."""
    roots = _paligemma_roots(root, naming, siglip)
    out = {}
    for name, tensor in state.items():
        component, rest = name.split(".", 1)
        key = roots[component + "."] + rest
        if tied and name == "vlm.embed_tokens.weight":
            key = roots["lm_head"]
        out[key] = tensor.to(lerobot_dtype(name))
    width = state["expert.layers.0.self_attn.o_proj.weight"].shape[0]
    out[root + "paligemma_with_expert.gemma_expert.lm_head.weight"] = torch.randn(VLM_VOCAB, width).bfloat16()
    return out


def hf_decoder_tensors(state: dict[str, torch.Tensor], tied: bool = True) -> dict[str, torch.Tensor]:
    """The VLM of `state` as a Hugging Face {Model}ForCausalLM state dict, all bfloat16 (as the Hub ships them)."""
    out = {"model." + name.removeprefix("vlm."): t.bfloat16() for name, t in state.items() if name.startswith("vlm.")}
    if tied:
        out["lm_head.weight"] = out.pop("model.embed_tokens.weight")
    return out


def prismatic_tensors(state: dict[str, torch.Tensor], llm_root: str = "llm_backbone.llm.",
                      with_vision: bool = True) -> dict[str, torch.Tensor]:
    """Prismatic's flattened {vision_backbone, projector, llm_backbone} state: a timm SigLIP featurizer (fused qkv,
    [1, N, D] pos_embed, MAP head), the linear projector, an untied lm_head."""
    out = {}
    if with_vision:
        timm = "vision_backbone.featurizer."
        out[timm + "patch_embed.proj.weight"] = state["vision.embeddings.patch_embedding.weight"]
        out[timm + "patch_embed.proj.bias"] = state["vision.embeddings.patch_embedding.bias"]
        out[timm + "pos_embed"] = state["vision.embeddings.position_embedding.weight"][None]
        out[timm + "norm.weight"] = state["vision.post_layernorm.weight"]
        out[timm + "norm.bias"] = state["vision.post_layernorm.bias"]
        depth = 1 + max(int(k.split(".")[3]) for k in state if k.startswith("vision.encoder.layers."))
        for i in range(depth):
            ours, theirs = f"vision.encoder.layers.{i}.", f"{timm}blocks.{i}."
            for kind in ("weight", "bias"):
                out[f"{theirs}norm1.{kind}"] = state[f"{ours}layer_norm1.{kind}"]
                out[f"{theirs}norm2.{kind}"] = state[f"{ours}layer_norm2.{kind}"]
                out[f"{theirs}attn.qkv.{kind}"] = torch.cat([state[f"{ours}self_attn.{p}_proj.{kind}"]
                                                             for p in ("q", "k", "v")])
                out[f"{theirs}attn.proj.{kind}"] = state[f"{ours}self_attn.out_proj.{kind}"]
                out[f"{theirs}mlp.fc1.{kind}"] = state[f"{ours}mlp.fc1.{kind}"]
                out[f"{theirs}mlp.fc2.{kind}"] = state[f"{ours}mlp.fc2.{kind}"]
        width = state["vision.post_layernorm.weight"].shape[0]
        out[timm + "attn_pool.latent"] = torch.randn(1, 1, width)
        out[timm + "attn_pool.q.weight"] = torch.randn(width, width)
    out["projector.projector.weight"] = state["projector.linear.weight"]
    out["projector.projector.bias"] = state["projector.linear.bias"]
    for name, tensor in state.items():
        if name.startswith("vlm."):
            out[llm_root + "model." + name.removeprefix("vlm.")] = tensor
    out[llm_root + "lm_head.weight"] = torch.randn_like(state["vlm.embed_tokens.weight"])
    return {k: t.to(mixed_dtype(k, t)) for k, t in out.items()}


def write_dir(tensors: dict[str, torch.Tensor], directory: Path, config: dict | None = None, shards: int = 1) -> Path:
    write_safetensors_dir(tensors, directory, shards)
    if config is not None:
        (directory / "config.json").write_text(json.dumps(config))
    return directory


def dense_state(policy: nn.Module) -> dict[str, torch.Tensor]:
    """State dict with oneDNN (mkldnn) weights of float32 loads turned back into ordinary tensors."""
    return {k: v.to_dense() if v.is_mkldnn else v for k, v in policy.state_dict().items()}


def with_parts_of(policy: nn.Module, donor: nn.Module, components: tuple[str, ...]) -> nn.Module:
    """A copy of `policy` whose given components hold `donor`'s weights."""
    policy = copy.deepcopy(policy)
    donated = {k: v for k, v in dense_state(donor).items() if k.split(".", 1)[0] in components}
    policy.load_state_dict(donated, strict=False)
    return policy
