"""Raw user inputs (camera images, a task prompt, the robot state) -> a model-ready Observation, and the model's
actions -> robot units. The order is lerobot's: normalise the state, then (pi0) pad it to state_dim or (pi0.5)
discretise it into the prompt; after sampling, cut actions to the robot's action_dim and unnormalise them."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from .checks import warn_once
from .config import PolicyConfig
from .images import ImageLike, empty_image, to_model_image
from .normalization import NormStats
from .observation import Observation
from .tokenizer import Tokenizer, discretize_state, pi05_prompt, pi0_prompt, tokenize_prompts


def _images(config: PolicyConfig, images: Mapping[str, ImageLike]) -> tuple[dict, dict, int]:
    unknown = sorted(set(images) - set(config.cameras))
    if unknown:
        raise ValueError(f"unknown cameras {unknown}; this policy's cameras are {list(config.cameras)}")
    if not images:
        raise ValueError(f"no camera images given; expected some of {list(config.cameras)}")
    size = config.vision.image_size
    present = {name: to_model_image(image, size, name) for name, image in images.items()}
    sizes = {name: image.shape[0] for name, image in present.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"cameras have different batch sizes: {sizes}")
    batch = next(iter(sizes.values()))
    device = next(iter(present.values())).device
    out, masks = {}, {}
    for name in config.cameras:
        found = name in present
        out[name] = present[name] if found else empty_image(batch, size, device)
        masks[name] = torch.full((batch,), found, dtype=torch.bool, device=device)
    return out, masks, batch


def _state(state, batch: int, state_dim: int) -> torch.Tensor:
    """[S] or [B, S] numbers -> float32 [B, S], checked."""
    if state is None:
        raise ValueError("this policy needs the robot state (observation.state); got None")
    if isinstance(state, torch.Tensor):
        numeric = state.dtype not in (torch.bool, torch.complex64, torch.complex128)
        values, dtype = state, state.dtype
    else:
        values = np.asarray(state)
        numeric, dtype = values.dtype.kind in "fiu", values.dtype
    if not numeric:
        raise ValueError(f"state must be real numbers, got dtype {dtype}")
    values = torch.as_tensor(values).to(torch.float32)
    if values.ndim == 1:
        values = values.unsqueeze(0).expand(batch, -1)
    if values.ndim != 2 or values.shape[0] != batch:
        raise ValueError(f"state must be [S] or [{batch}, S] (batch from the images), got {tuple(values.shape)}")
    if values.shape[1] > state_dim:
        raise ValueError(f"state has {values.shape[1]} dims, more than the model's state_dim {state_dim}")
    if not torch.isfinite(values).all():
        raise ValueError("state contains NaN or infinite values")
    return values


def _prompts(prompt: str | Sequence[str], batch: int) -> list[str]:
    prompts = [prompt] * batch if isinstance(prompt, str) else list(prompt)
    if len(prompts) != batch or not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"prompt must be a string or {batch} strings (one per batch element), got {prompt!r}")
    return prompts


def make_observation(config: PolicyConfig, images: Mapping[str, ImageLike], prompt: str | Sequence[str], state,
                     tokenizer: Tokenizer, stats: NormStats | None = None, truncate: bool = False) -> Observation:
    """Build the Observation the policy takes.

    images: camera name -> raw image(s) (see models.images.to_model_image); configured cameras left out become
        masked slots filled with -1. prompt: one task string, or one per batch element. state: [S] or [B, S] robot
        state in robot units (normalised here with stats.state; without statistics it is used as given).
    """
    model_images, image_masks, batch = _images(config, images)
    values = _state(state, batch, config.suffix.state_dim)
    if stats is not None and stats.has_state:
        values = stats.state.normalize(values)
    else:
        warn_once("no state normalisation statistics: the state reaches the model as given")
    prompts = _prompts(prompt, batch)
    if config.suffix.kind == "pi05":
        bins = discretize_state(values)
        prompts = [pi05_prompt(task, row.tolist()) for task, row in zip(prompts, bins)]
        model_state = None
    else:
        prompts = [pi0_prompt(task) for task in prompts]
        model_state = F.pad(values, (0, config.suffix.state_dim - values.shape[1]))
    tokens, token_masks = tokenize_prompts(tokenizer, prompts, config.max_token_len, config.vlm.vocab_size, truncate)
    device = next(iter(model_images.values())).device
    observation = Observation(images=model_images, tokens=tokens.to(device), token_masks=token_masks.to(device),
                              image_masks=image_masks,
                              state=None if model_state is None else model_state.to(device))
    observation.validate(config)
    return observation


def postprocess_actions(actions_BHA: torch.Tensor, stats: NormStats | None, action_dim: int) -> torch.Tensor:
    """Model actions [B, H, A_model] -> the robot's first action_dim dims [B, H, action_dim], unnormalised."""
    if actions_BHA.ndim != 3:
        raise ValueError(f"actions must be [B, H, A], got {tuple(actions_BHA.shape)}")
    if not 0 < action_dim <= actions_BHA.shape[-1]:
        raise ValueError(f"action_dim must be in [1, {actions_BHA.shape[-1]}], got {action_dim}")
    actions = actions_BHA[..., :action_dim]
    if stats is None or not stats.has_action:
        warn_once("no action normalisation statistics: actions are returned in the model's normalised units")
        return actions
    return stats.action.unnormalize(actions)
