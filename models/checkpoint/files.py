"""A checkpoint directory's files: `model.safetensors`, or shards named by `model.safetensors.index.json`, and an
optional `config.json`. Pickled checkpoints are refused, never opened (unpickling can run arbitrary code)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import CheckpointError
from .safetensors_io import SafetensorsFile, TensorEntry, open_safetensors

WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
CONFIG_NAME = "config.json"
_PICKLE_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*/*.pt", "*/*.pth", "*/*.ckpt")
_LOAD = ("import torch; from safetensors.torch import save_file; "
         "sd = torch.load('{name}', map_location='cpu', weights_only=True)")
_SAVE = "save_file({{k: v.contiguous().clone() for k, v in sd.items()}}, 'model.safetensors')"
_CONVERT_HELP = (
    "a flat state dict (pytorch_model.bin, *.pt):\n    python -c \"" + _LOAD + "; " + _SAVE + "\"\n"
    "  Prismatic's checkpoints/latest-checkpoint.pt ({{'model': {{part: state dict}}}}):\n    python -c \"" + _LOAD
    + "; sd = {{f'{{part}}.{{k}}': v for part, s in sd['model'].items() for k, v in s.items()}}; " + _SAVE + "\"")


@dataclass
class WeightFiles:
    """Every tensor of a checkpoint, by key, with the (mapped) file that holds it."""

    directory: Path
    files: tuple[SafetensorsFile, ...]
    owner: dict[str, SafetensorsFile]

    def entry(self, key: str) -> TensorEntry:
        return self.owner[key].entries[key]

    def tensor(self, key: str) -> torch.Tensor:
        return self.owner[key].tensor(key)

    def release(self, key: str) -> None:
        self.owner[key].release(key)


def _refuse_pickles(directory: Path) -> None:
    pickles = sorted(p for pattern in _PICKLE_PATTERNS for p in directory.glob(pattern) if p.is_file())
    if pickles:
        name = pickles[0].relative_to(directory)
        names = ", ".join(str(p.relative_to(directory)) for p in pickles)
        raise CheckpointError(
            f"{directory}: no {WEIGHTS_NAME}, only pickled weights ({names}). "
            f"Pickles are never loaded here because unpickling can run arbitrary code. Convert on a machine you "
            f"trust, in that directory, with safetensors' save_file; for\n  {_CONVERT_HELP.format(name=name)}")


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise CheckpointError(f"{path}: invalid JSON ({err})") from None
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read ({err})") from err


def read_config(directory: Path) -> dict:
    """config.json as a dict ({} when absent); unknown keys are the caller's to ignore."""
    path = directory / CONFIG_NAME
    if not path.is_file():
        return {}
    config = _read_json(path)
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: invalid JSON (expected an object, found {type(config).__name__})")
    return config


def _shard_names(index_path: Path) -> dict[str, str]:
    index = _read_json(index_path)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointError(f"{index_path}: invalid index (no weight_map object)")
    for key, shard in weight_map.items():
        if not isinstance(shard, str) or Path(shard).name != shard or shard in ("", ".", ".."):
            raise CheckpointError(f"{index_path}: invalid index (tensor {key!r} maps to {shard!r}, not a file name)")
    return weight_map


def _open_sharded(directory: Path) -> WeightFiles:
    index_path = directory / INDEX_NAME
    weight_map = _shard_names(index_path)
    files = {}
    for shard in sorted(set(weight_map.values())):
        if not (directory / shard).is_file():
            raise CheckpointError(f"{index_path}: index points to a missing shard {directory / shard}")
        files[shard] = open_safetensors(directory / shard)
    problems = [f"{index_path}: tensor {key!r} is not in its shard {shard}"
                for key, shard in weight_map.items() if key not in files[shard].entries]
    problems += [f"{file.path}: tensor {key!r} is in this shard but the index "
                 + (f"lists it under {weight_map[key]}" if key in weight_map else "does not list it")
                 for shard, file in files.items() for key in file.entries if weight_map.get(key) != shard]
    if problems:
        raise CheckpointError(f"{directory}: shards and index disagree:" + "".join(f"\n  {p}" for p in problems),
                              problems)
    return WeightFiles(directory, tuple(files.values()), {key: files[shard] for key, shard in weight_map.items()})


def open_weight_files(directory: Path) -> WeightFiles:
    """Map the checkpoint's safetensors file(s), validating every header. A shard index wins over a single file."""
    if (directory / INDEX_NAME).is_file():
        return _open_sharded(directory)
    if not (directory / WEIGHTS_NAME).is_file():
        _refuse_pickles(directory)
        raise CheckpointError(f"{directory}: no {WEIGHTS_NAME} found (nor {INDEX_NAME} for a sharded checkpoint)")
    file = open_safetensors(directory / WEIGHTS_NAME)
    return WeightFiles(directory, (file,), dict.fromkeys(file.entries, file))
