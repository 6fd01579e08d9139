"""The demo's default checkpoint: a tiny pi0-shaped policy with deterministic random weights, written on first use
in lerobot's format (model.safetensors in lerobot's dtypes, config.json, normalisation statistics) plus a
RANDOM_WEIGHTS.txt that says what it is, and reused after. Written to a temporary directory and renamed, so a
half-written checkpoint is never picked up."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from models import PolicyConfig, get_preset
from models.checkpoint import lerobot_dtype, write_checkpoint
from models.checkpoint.files import read_config
from models.normalization import ACTION_KEY, STATE_KEY
from reference.random_init import random_policy

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
ROBOT_STATE_DIM, ROBOT_ACTION_DIM = 8, 7  # e.g. 7 joints + gripper in, 6 joints + gripper out
SEED = 0
RANDOM_WEIGHTS = "RANDOM_WEIGHTS.txt"


def _stats(kind: str, gen: torch.Generator) -> tuple[dict, dict]:
    def feature(key: str, dim: int) -> dict[str, torch.Tensor]:
        if kind == "pi0":
            return {f"{key}.mean": torch.randn(dim, generator=gen) * 0.3,
                    f"{key}.std": torch.rand(dim, generator=gen) * 0.5 + 0.2}
        low = -1.0 - torch.rand(dim, generator=gen)
        return {f"{key}.q01": low, f"{key}.q99": low + 2.0 + torch.rand(dim, generator=gen)}
    return feature(STATE_KEY, ROBOT_STATE_DIM), feature(ACTION_KEY, ROBOT_ACTION_DIM)


def _config(cfg: PolicyConfig) -> dict:
    visual = {f"observation.images.{c}": {"type": "VISUAL", "shape": [3, 224, 224]} for c in cfg.cameras}
    return {"type": "pi05" if cfg.suffix.kind == "pi05" else "pi0", "chunk_size": cfg.suffix.horizon,
            "rope_theta": cfg.vlm.rope_theta,
            "n_action_steps": cfg.suffix.horizon, "tokenizer_max_length": cfg.max_token_len,
            "num_inference_steps": cfg.sampler.num_steps,
            "input_features": {**visual, STATE_KEY: {"type": "STATE", "shape": [ROBOT_STATE_DIM]}},
            "output_features": {ACTION_KEY: {"type": "ACTION", "shape": [ROBOT_ACTION_DIM]}}}


def ensure_demo_checkpoint(policy: str, root: Path = WEIGHTS) -> Path:
    """weights/demo-<policy>-tiny, created deterministically if absent (or written without RANDOM_WEIGHTS.txt)."""
    directory = root / f"demo-{policy}-tiny"
    if (directory / "model.safetensors").is_file() and (directory / RANDOM_WEIGHTS).is_file():
        return directory
    tmp = root / f".{directory.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    cfg = get_preset(f"{policy}-tiny")
    write_checkpoint(random_policy(cfg, seed=SEED).state_dict(), tmp, _config(cfg), stored_dtype=lerobot_dtype)
    state_stats, action_stats = _stats(cfg.suffix.kind, torch.Generator().manual_seed(SEED))
    save_file({**state_stats, **action_stats}, str(tmp / "policy_preprocessor_step_0_normalizer_processor.safetensors"))
    save_file(action_stats, str(tmp / "policy_postprocessor_step_0_unnormalizer_processor.safetensors"))
    (tmp / RANDOM_WEIGHTS).write_text(f"Random weights (preset {policy}-tiny, seed {SEED}) written by "
                                      "demo/checkpoint.py for the demo: the actions of this policy mean nothing.\n")
    shutil.rmtree(directory, ignore_errors=True)  # one written before RANDOM_WEIGHTS.txt existed: the same weights
    os.replace(tmp, directory)
    return directory


def random_weights_note(directory: Path, random_components: tuple[str, ...] = ()) -> str | None:
    """What the plot and console say when the weights are random: the demo's own checkpoint, or components the
    checkpoint lacks (from the reference load's report)."""
    if (directory / RANDOM_WEIGHTS).is_file():
        return "RANDOM WEIGHTS (the demo's generated checkpoint): these actions mean nothing; the plot shows that " \
               "the backends agree"
    if random_components:
        return f"RANDOM WEIGHTS for {', '.join(random_components)} (not in the checkpoint): these actions mean nothing"
    return None


def robot_action_dim(directory: Path) -> int | None:
    """The robot's action width from config.json's output_features, if the checkpoint says."""
    shape = read_config(directory).get("output_features", {}).get(ACTION_KEY, {}).get("shape")
    return int(shape[0]) if shape else None
