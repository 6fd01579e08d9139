"""A bare Hugging Face decoder checkpoint ({Qwen2, Qwen3, Llama, Mistral, Gemma}ForCausalLM) used as the VLM.

Detected when some key starts with `model.layers.` or is `model.embed_tokens.weight` (and no pi0 or Prismatic key
is present). `model.*` -> `vlm.*`; `lm_head.weight` fills a missing embedding (tied) or is left out. Vision,
projector, action expert and suffix are not in such a checkpoint: they get random weights (see reader.py).
"""

from __future__ import annotations

from .layout import KeyMapping, TensorRef
from .safetensors_io import TensorEntry

_ROOT = "model."
_LM_HEAD = "lm_head.weight"
_ROTARY = "rotary_emb.inv_freq"  # a buffer some older checkpoints saved; recomputed from rope_theta


def matches(keys: list[str]) -> bool:
    return any(k.startswith(_ROOT + "layers.") or k == _ROOT + "embed_tokens.weight" for k in keys)


def map_decoder(mapping: KeyMapping, keys: list[str], root: str, lm_head: str, target: str = "vlm.") -> None:
    """Add a decoder below `root` (HF `{Model}Model` names) to `mapping` as `target`."""
    for key in keys:
        if key == lm_head:
            continue
        if key.startswith(root):
            if key.endswith(_ROTARY):
                mapping.ignored[key] = "RoPE frequencies (recomputed from rope_theta)"
            else:
                mapping.add(target + key[len(root):], TensorRef(key))
    mapping.tie_embedding(target + "embed_tokens.weight", lm_head if lm_head in keys else None,
                          "the LM head (the policy has none)")


def map_keys(entries: dict[str, TensorEntry]) -> KeyMapping:
    keys = list(entries)
    mapping = KeyMapping(layout="Hugging Face decoder (model.layers.*), loaded as the VLM",
                         provided=frozenset(("vlm",)))
    map_decoder(mapping, keys, _ROOT, _LM_HEAD)
    mapping.unmapped += [k for k in keys if not k.startswith(_ROOT) and k != _LM_HEAD]
    mapping.source_key = lambda name: _ROOT + name[len("vlm."):] if name.startswith("vlm.") else None
    return mapping
