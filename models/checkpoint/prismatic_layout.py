"""Prismatic VLM checkpoints (TRI's prismatic-vlms, and OpenVLA's Hugging Face port), as safetensors.

Prismatic saves `{"model": {"projector": ..., "llm_backbone": ..., "vision_backbone": ...}}` as a pickle (the vision
backbone only when it was trained); converted to safetensors with `<part>.<key>` names, the keys are:
- `vision_backbone.featurizer.*`, a timm ViT. A SigLIP featurizer maps to `vision.*`: `patch_embed.proj` ->
  `embeddings.patch_embedding`; `pos_embed` [1, N, D] -> `embeddings.position_embedding.weight` [N, D];
  `blocks.N.norm1` / `norm2` -> `encoder.layers.N.layer_norm1` / `layer_norm2`; `blocks.N.attn.qkv` [3D, D] is
  split by rows (q, k, v in that order) into `self_attn.q_proj` / `k_proj` / `v_proj`; `blocks.N.attn.proj` ->
  `self_attn.out_proj`; `blocks.N.mlp.fc1` / `fc2` -> `mlp.fc1` / `fc2`; `norm` -> `post_layernorm`. The MAP pooling
  head `attn_pool.*` is left out (neither Prismatic nor the policy uses it).
- `projector.projector.{weight,bias}`, Prismatic's "linear" projector -> `projector.linear.*`.
- `llm_backbone.llm.model.*` (OpenVLA: `language_model.model.*`) -> `vlm.*`; the LLM's lm_head fills a missing
  token embedding, else is left out. The decoder family comes from config.json (see architecture.py).

Refused, each with a CheckpointError that names the form: the MLP projectors (Prismatic "gelu-mlp"
`projector.projector.0/.2`, "fused-gelu-mlp" `.0/.2/.4`, OpenVLA's `projector.fc1/fc2[/fc3]`), because the policy's
projector is a single Linear; fused DINOv2 + SigLIP backbones (`vision_backbone.fused_featurizer`,
`dino_featurizer`, `siglip_featurizer`), because the policy has one SigLIP tower; and any featurizer key with no
SigLIP counterpart (CLIP / DINOv2 / IN1k ViTs: `cls_token`, `reg_token`, `ls1`...), each named.

Loaded, but not computed the same way: Prismatic reads the second-to-last block's output without the final norm,
and timm's SigLIP uses the exact (erf) GELU, while our tower runs every block, then post_layernorm, with the tanh
GELU. A warning says so on every load. The action expert and suffix, and the vision tower when the checkpoint has
none, get random weights.
"""

from __future__ import annotations

import re

from .decoder_layout import map_decoder
from .layout import KeyMapping, TensorRef
from .safetensors_io import TensorEntry

_FEATURIZER = "vision_backbone.featurizer."
_FUSED = ("vision_backbone.fused_featurizer.", "vision_backbone.dino_featurizer.",
          "vision_backbone.siglip_featurizer.")
_LLM_ROOTS = (("llm_backbone.llm.model.", "llm_backbone.llm.lm_head.weight"),
              ("language_model.model.", "language_model.lm_head.weight"))
_LINEAR_PROJECTOR = "projector.projector."
# timm name below the featurizer -> our name below `vision.`
_VISION_RENAMES = (
    (r"patch_embed\.proj\.(weight|bias)", r"embeddings.patch_embedding.\1"),
    (r"blocks\.(\d+)\.norm([12])\.(weight|bias)", r"encoder.layers.\1.layer_norm\2.\3"),
    (r"blocks\.(\d+)\.attn\.proj\.(weight|bias)", r"encoder.layers.\1.self_attn.out_proj.\2"),
    (r"blocks\.(\d+)\.mlp\.(fc[12])\.(weight|bias)", r"encoder.layers.\1.mlp.\2.\3"),
    (r"norm\.(weight|bias)", r"post_layernorm.\1"),
)
_QKV = re.compile(r"blocks\.(\d+)\.attn\.qkv\.(weight|bias)")
SEMANTICS_NOTE = ("Prismatic vision features come from the featurizer's second-to-last block without the final norm "
                  "and timm's exact GELU; the policy's tower runs every block, post_layernorm and tanh-GELU, so the "
                  "same weights give different image features")


def matches(keys: list[str]) -> bool:
    return any(k.startswith(("vision_backbone.", "llm_backbone.")) for k in keys) or (
        any(k.startswith("projector.") for k in keys) and any(k.startswith("language_model.model.") for k in keys))


def _map_vision(mapping: KeyMapping, key: str, entry: TensorEntry) -> None:
    rest = key[len(_FEATURIZER):]
    if rest.startswith("attn_pool."):
        mapping.ignored[key] = "SigLIP's MAP pooling head (unused by Prismatic and by the policy)"
        return
    if rest == "pos_embed":
        flat = entry.shape[1:] if len(entry.shape) == 3 and entry.shape[0] == 1 else None
        mapping.add("vision.embeddings.position_embedding.weight", TensorRef(key, shape=flat))
        return
    if qkv := _QKV.fullmatch(rest):
        if not entry.shape or entry.shape[0] % 3:
            mapping.problems.append(f"{key}: shape {list(entry.shape)} is not a fused q/k/v (rows not a multiple of 3)")
            return
        layer, kind, width = qkv.group(1), qkv.group(2), entry.shape[0] // 3
        for i, proj in enumerate(("q_proj", "k_proj", "v_proj")):
            mapping.add(f"vision.encoder.layers.{layer}.self_attn.{proj}.{kind}",
                        TensorRef(key, rows=(i * width, (i + 1) * width)))
        return
    for pattern, template in _VISION_RENAMES:
        if re.fullmatch(pattern, rest):
            mapping.add("vision." + re.sub(pattern, template, rest), TensorRef(key))
            return
    mapping.unmapped.append(key)


_MLP_PROJECTOR = re.compile(r"projector\.(projector\.\d+|fc\d)\.(weight|bias)")


def _projector_problem(keys: list[str]) -> str | None:
    layers = sorted({k.rsplit(".", 1)[0] for k in keys if _MLP_PROJECTOR.fullmatch(k)})
    if not layers:
        return None
    if any(".fc" in k for k in layers):
        form = "OpenVLA's MLP projector (fc1, fc2[, fc3] with GELUs)"
    else:
        form = "Prismatic's 'fused-gelu-mlp' projector" if len(layers) > 2 else "Prismatic's 'gelu-mlp' projector"
    return (f"unsupported projector: {form}, layers {', '.join(layers)}; the policy's projector is a single Linear "
            f"(Prismatic arch_specifier 'linear', keys {_LINEAR_PROJECTOR}weight/bias)")


def map_keys(entries: dict[str, TensorEntry]) -> KeyMapping:
    keys = list(entries)
    mapping = KeyMapping(layout="", provided=frozenset())
    fused = sorted({p for k in keys for p in _FUSED if k.startswith(p)})
    if fused:
        mapping.problems.append(f"unsupported vision backbone: fused DINOv2 + SigLIP ({', '.join(fused)}*); the policy "
                                f"has one SigLIP tower")
    llm_root, lm_head = next(((r, h) for r, h in _LLM_ROOTS if any(k.startswith(r) for k in keys)), _LLM_ROOTS[0])
    map_decoder(mapping, keys, llm_root, lm_head)
    mlp_projector = _projector_problem(keys)
    if mlp_projector:
        mapping.problems.append(mlp_projector)
    covered = (llm_root, *_FUSED, *((_FEATURIZER,) if fused else ()))  # mapped above or part of a problem
    for key in keys:
        if key.startswith(_FEATURIZER) and not fused:
            _map_vision(mapping, key, entries[key])
        elif key.startswith(_LINEAR_PROJECTOR) and key[len(_LINEAR_PROJECTOR):] in ("weight", "bias"):
            mapping.add("projector.linear." + key[len(_LINEAR_PROJECTOR):], TensorRef(key))
        elif not (key.startswith(covered) or key == lm_head or _MLP_PROJECTOR.fullmatch(key)):
            mapping.unmapped.append(key)
    with_vision = any(name.startswith("vision.") for name in mapping.tensors)
    # An MLP projector is refused above; listing its Linear as missing too would only repeat that.
    mapping.provided = frozenset(("vlm", *(() if mlp_projector else ("projector",)),
                                  *(("vision",) if with_vision else ())))
    mapping.layout = f"Prismatic VLM ({llm_root}*, {'SigLIP featurizer' if with_vision else 'no vision backbone'})"
    if with_vision:
        mapping.notes.append(SEMANTICS_NOTE)
    mapping.source_key = lambda name: _source_key(name, llm_root)
    return mapping


def _source_key(name: str, llm_root: str) -> str | None:
    if name.startswith("vlm."):
        return llm_root + name[len("vlm."):]
    if name.startswith("projector.linear."):
        return _LINEAR_PROJECTOR + name[len("projector.linear."):]
    return None
