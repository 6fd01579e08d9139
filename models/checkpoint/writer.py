"""Write checkpoints: our state dict in lerobot >= 0.4's layout (one file or shards), and any tensors as a
(possibly sharded) safetensors directory."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from .files import CONFIG_NAME, INDEX_NAME, WEIGHTS_NAME
from .lerobot_layout import written_key
from .safetensors_io import save_tensors

_LEROBOT_FLOAT32 = ("input_layernorm", "post_attention_layernorm")


def checkpoint_key(name: str) -> str:
    """Our parameter name -> its lerobot >= 0.4 key."""
    key = written_key(name)
    if key is None:
        raise ValueError(f"{name!r} is not a policy parameter name")
    return key


def lerobot_dtype(name: str) -> torch.dtype:
    """The dtype lerobot 0.6 stores our parameter `name` in (PaliGemmaWithExpertModel.to_bfloat16_for_selected_params:
    vision tower, projector, decoder norms float32, the rest of the two experts bfloat16; the suffix stays float32)."""
    component, _, rest = name.partition(".")
    if component in ("vision", "projector", "suffix") or rest.startswith("norm.") \
            or any(part in rest for part in _LEROBOT_FLOAT32):
        return torch.float32
    return torch.bfloat16


def write_safetensors_dir(tensors: Mapping[str, torch.Tensor], directory: str | Path, shards: int = 1) -> Path:
    """`model.safetensors`, or `shards` files `model-0000K-of-0000N.safetensors` plus the index, split by size."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if shards <= 1:
        save_tensors(directory / WEIGHTS_NAME, tensors)
        return directory
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    groups: list[dict[str, torch.Tensor]] = [{} for _ in range(shards)]
    written = 0
    for key, tensor in tensors.items():
        groups[min(shards - 1, written * shards // max(total, 1))][key] = tensor
        written += tensor.numel() * tensor.element_size()
    weight_map = {}
    for i, group in enumerate(groups):
        if not group:
            continue
        name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_tensors(directory / name, group)
        weight_map.update(dict.fromkeys(group, name))
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / INDEX_NAME).write_text(json.dumps(index, indent=2))
    return directory


def write_checkpoint(state: Mapping[str, torch.Tensor], directory: str | Path, meta: dict | None = None, *,
                     stored_dtype: Callable[[str], torch.dtype] | None = None, shards: int = 1) -> Path:
    """Our state dict as a lerobot >= 0.4 checkpoint (model.safetensors or shards, plus config.json).

    stored_dtype(name) picks each tensor's dtype on disk (default: as given; `lerobot_dtype` is lerobot's mix)."""
    tensors = {checkpoint_key(name): (t if stored_dtype is None else t.to(stored_dtype(name))).detach().contiguous()
               for name, t in state.items()}
    write_safetensors_dir(tensors, directory, shards)
    (Path(directory) / CONFIG_NAME).write_text(json.dumps(meta or {}, indent=2))
    return Path(directory)
