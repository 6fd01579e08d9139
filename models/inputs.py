"""Raw user inputs (camera images, a task prompt, the robot state) -> a model-ready Observation, and the model's
actions -> robot units. The order is lerobot's: normalise the state, then (pi0) pad it to state_dim or (pi0.5)
discretise it into the prompt; after sampling, cut actions to the robot's action_dim and unnormalise them."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .checks import as_tensor, described, dims_phrase, positive_int, require_finite, require_float, warn_once
from .config import PolicyConfig
from .images import ImageLike, empty_image, to_model_image
from .normalization import NormStats
from .observation import MAX_ABS_STATE, Observation
from .tokenizer import Tokenizer, discretize_state, pi05_prompt, pi0_prompt, tokenize_prompts


def _check_arguments(config, tokenizer, stats) -> None:
    if not isinstance(config, PolicyConfig):
        raise ValueError(f"config must be a PolicyConfig (policy.config), found {described(config)}")
    if not (hasattr(tokenizer, "encode") and hasattr(tokenizer, "pad_id")):
        raise ValueError(f"tokenizer must be a tokenizer with encode() and pad_id (models.tokenizer.load_tokenizer "
                         f"gives one), found {described(tokenizer)}")
    _check_stats(stats)


def _check_stats(stats) -> None:
    if stats is not None and not isinstance(stats, NormStats):
        raise ValueError(f"stats must be a NormStats (models.normalization.load_stats or stats_from_dict) or None, "
                         f"found {described(stats)}")


def _source(stats: NormStats | None) -> str:
    return f" in {stats.source}" if stats is not None and stats.source else ""


def _images(config: PolicyConfig, images: Mapping[str, ImageLike]) -> tuple[dict, dict, int]:
    if not isinstance(images, Mapping):
        raise ValueError(f"images must be a dict camera name -> image, found {described(images)}; this policy's "
                         f"cameras are {list(config.cameras)}")
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


def _normalized(values: torch.Tensor, stats: NormStats | None) -> torch.Tensor:
    """The state [B, S] in robot units -> normalised, refusing values no normalised state can hold and warning once
    about values outside the statistics' range."""
    norm = stats.state if stats is not None else None
    if norm is None:
        warn_once(f"no state normalisation statistics{_source(stats)}: the state reaches the model as given")
    normalized = norm.normalize(values) if norm is not None else values
    too_big = normalized.abs() > MAX_ABS_STATE
    if bool(too_big.any()):
        row, dim = (int(i) for i in too_big.nonzero()[0])
        raw, value = float(values[row, dim]), float(normalized[row, dim])
        if norm is None:
            why = "without normalisation statistics it reaches the model as is"
        elif dim in norm.zero_spread_dims():
            why = f"the statistics have zero spread there ({norm.zero_spread_reason()}): normalised it is {value:.3g}"
        else:
            why = f"{value:.3g} once normalised: not in the units of the statistics ({stats.source})"
        raise ValueError(f"state dim {dim} is {raw:.3g}; {why}, beyond ±{MAX_ABS_STATE:g}")
    if norm is not None:
        outside = norm.outside_range(values).any(dim=0).nonzero()[:, 0]
        if len(outside):
            verb = "is" if len(outside) == 1 else "are"
            warn_once(f"state {dims_phrase(outside)} {verb} outside the range of the {norm.mode.value} "
                      "normalisation statistics: the policy saw no such state in training")
    return normalized


def _prompts(prompt: str | Sequence[str], batch: int) -> list[str]:
    if isinstance(prompt, str):
        prompts = [prompt] * batch
    elif isinstance(prompt, Sequence) and not isinstance(prompt, (bytes, bytearray)):
        prompts = list(prompt)
    else:
        raise ValueError(f"prompt must be a task string, or {batch} strings (one per batch element), found "
                         f"{described(prompt)}")
    if len(prompts) != batch or not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"prompt must be a string or {batch} strings (one per batch element), got {prompt!r}")
    empty = [row for row, text in enumerate(prompts) if not text.strip()]
    if empty:
        which = "the prompt is" if isinstance(prompt, str) else f"prompts {empty} are"
        warn_once(f"{which} empty: the policy gets no task description")
    return prompts


def make_observation(config: PolicyConfig, images: Mapping[str, ImageLike], prompt: str | Sequence[str], state,
                     tokenizer: Tokenizer, stats: NormStats | None = None, truncate: bool = False) -> Observation:
    """Build the Observation the policy takes.

    images: camera name -> raw image(s) (see models.images.to_model_image); configured cameras left out become
        masked slots filled with -1. prompt: one task string, or one per batch element. state: [S] or [B, S] robot
        state in robot units (normalised here with stats.state; without statistics it is used as given).
    """
    _check_arguments(config, tokenizer, stats)
    model_images, image_masks, batch = _images(config, images)
    values = _normalized(_state(state, batch, config.suffix.state_dim), stats)
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
    """Model actions [B, H, A_model] (a tensor or numpy array) -> the robot's first action_dim dims
    [B, H, action_dim], unnormalised."""
    actions = as_tensor(actions_BHA, "actions")
    require_float(actions, "actions")
    if actions.ndim != 3:
        raise ValueError(f"actions must be [B, H, A], got {tuple(actions.shape)}")
    require_finite(actions, "actions")
    _check_stats(stats)
    if positive_int(action_dim, "action_dim") > actions.shape[-1]:
        raise ValueError(f"action_dim must be in [1, {actions.shape[-1]}], got {action_dim}")
    actions = actions[..., :action_dim]
    if stats is None or not stats.has_action:
        warn_once(f"no action normalisation statistics{_source(stats)}: actions are returned in the model's "
                  "normalised units")
        return actions
    return stats.action.unnormalize(actions)
