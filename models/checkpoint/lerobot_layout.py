"""pi0 / pi0.5 trees as lerobot and openpi save them, in every naming generation seen so far.

Detected when some key starts with `model.paligemma_with_expert.` or `paligemma_with_expert.`. Three independent
naming choices, each read from the keys themselves:
- root: lerobot saves the policy wrapper, so keys start with `model.` (lerobot >= 0.4 and older); openpi's PyTorch
  conversion saves the bare model (no `model.`).
- PaliGemma: current transformers names (`paligemma.model.language_model.layers...`, `paligemma.model.vision_tower`,
  `paligemma.model.multi_modal_projector`, `paligemma.lm_head`) or the older ones
  (`paligemma.language_model.model.layers...`, `paligemma.vision_tower`, `paligemma.multi_modal_projector`,
  `paligemma.language_model.lm_head`).
- SigLIP: `vision_tower.vision_model.embeddings...` (transformers <= 5.5) or the flattened
  `vision_tower.embeddings...` (newer).
Everything under the root that is not `paligemma_with_expert.` is the suffix (`state_proj`, `action_in_proj`,
`action_out_proj`, `action_time_mlp_*` or `time_mlp_*`).
"""

from __future__ import annotations

from .layout import COMPONENTS, KeyMapping, TensorRef
from .safetensors_io import TensorEntry

_TREE = "paligemma_with_expert."
# checkpoint key below "<root>paligemma_with_expert.paligemma." -> our prefix; (PaliGemma naming, SigLIP naming)
_PALIGEMMA_PREFIXES = (
    ("model.vision_tower.vision_model.", "vision.", ("current", "vision_model")),
    ("model.vision_tower.", "vision.", ("current", "flattened")),
    ("vision_tower.vision_model.", "vision.", ("legacy", "vision_model")),
    ("vision_tower.", "vision.", ("legacy", "flattened")),
    ("model.multi_modal_projector.", "projector.", ("current", None)),
    ("multi_modal_projector.", "projector.", ("legacy", None)),
    ("model.language_model.", "vlm.", ("current", None)),
    ("language_model.model.", "vlm.", ("legacy", None)),
)
_VLM_LM_HEADS = {"lm_head.weight": "current", "language_model.lm_head.weight": "legacy"}
_EXPERT = ("gemma_expert.model.", "expert.")
_EXPERT_LM_HEAD = "gemma_expert.lm_head.weight"


def matches(keys: list[str]) -> bool:
    return any(k.startswith(("model." + _TREE, _TREE)) for k in keys)


def _most_common(votes: list[str], default: str) -> str:
    return max(set(votes), key=votes.count) if votes else default


def map_keys(entries: dict[str, TensorEntry]) -> KeyMapping:
    keys = list(entries)
    root = "model." if any(k.startswith("model." + _TREE) for k in keys) else ""
    paligemma, expert_root = root + _TREE + "paligemma.", root + _TREE
    mapping = KeyMapping(layout="", provided=frozenset(COMPONENTS))
    naming, siglip, lm_head = [], [], None
    for key in keys:
        if key.startswith(paligemma):
            rest = key[len(paligemma):]
            if rest in _VLM_LM_HEADS and lm_head is None:
                lm_head = key
                naming.append(_VLM_LM_HEADS[rest])
                continue
            hit = next((p for p in _PALIGEMMA_PREFIXES if rest.startswith(p[0])), None)
            if hit is None:
                mapping.unmapped.append(key)
                continue
            source, target, (names, vision_names) = hit
            mapping.add(target + rest[len(source):], TensorRef(key))
            naming.append(names)
            if vision_names:
                siglip.append(vision_names)
        elif key == expert_root + _EXPERT_LM_HEAD:
            mapping.ignored[key] = "the action expert's lm_head (never used)"
        elif key.startswith(expert_root + _EXPERT[0]):
            mapping.add(_EXPERT[1] + key[len(expert_root + _EXPERT[0]):], TensorRef(key))
        elif key.startswith(root) and not key.startswith(expert_root):
            mapping.add("suffix." + key[len(root):], TensorRef(key))
        else:
            mapping.unmapped.append(key)
    mapping.tie_embedding("vlm.embed_tokens.weight", lm_head, "tied to embed_tokens (the policy has no LM head)")
    names, vision_names = _most_common(naming, "current"), _most_common(siglip, "vision_model")
    origin = "lerobot (model. prefix" if root else "openpi / older lerobot (no model. prefix"
    mapping.layout = f"{origin}, {names} PaliGemma names, SigLIP {vision_names} names)"
    mapping.source_key = _inverse(root, names, vision_names)
    return mapping


def _inverse(root: str, names: str, vision_names: str):
    """Our name -> the key this layout would use for it (to name missing tensors in its own terms)."""
    ours = {target: source for source, target, (n, v) in _PALIGEMMA_PREFIXES
            if n == names and v in (None, vision_names)}
    paligemma = root + _TREE + "paligemma."

    def source_key(name: str) -> str | None:
        component, _, rest = name.partition(".")
        if component + "." in ours:
            return paligemma + ours[component + "."] + rest
        if component == "expert":
            return root + _TREE + _EXPERT[0] + rest
        if component == "suffix":
            return root + rest
        return None
    return source_key


# The naming write_checkpoint writes, lerobot >= 0.4's: `model.` root, current PaliGemma and SigLIP names.
written_key = _inverse("model.", "current", "vision_model")
VLM_LM_HEAD = "model." + _TREE + "paligemma." + next(k for k, n in _VLM_LM_HEADS.items() if n == "current")
EXPERT_LM_HEAD = "model." + _TREE + _EXPERT_LM_HEAD
