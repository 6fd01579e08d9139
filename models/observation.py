"""The policy's input, shared by both backends, and the checks that guard it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from .checks import (as_mask, as_tensor, described, dims_phrase, dtype_name, require_finite, require_float,
                     rows_phrase, warn_once)

# Model-ready pixels are in [-1, 1]; a little slack for the user's own scaling arithmetic.
PIXEL_TOLERANCE = 1e-3
# A model-ready state is normalised (O(1)); no normalised or robot-unit state comes near this, so anything beyond is
# in the wrong units or was normalised with statistics of zero spread.
MAX_ABS_STATE = 1e6
_RAW_PIXELS = 2.0  # a maximum above this is 0..255 pixels, not a slightly-off [-1, 1] image
_PREPROCESS = "models.inputs.make_observation"


@dataclass
class Observation:
    """One batch of model-ready inputs.

    images: camera name -> float [B, 3, H, W] in [-1, 1]; a configured camera that is absent is a masked slot.
    image_masks: camera name -> bool [B]; False hides that camera for that batch element (default: all True).
    tokens: int64 [B, L] prompt token ids; token_masks: bool [B, L], False on padding.
    state: float [B, S] robot state, normalised and padded to at most the model's state_dim (pi0); None for pi0.5,
        whose state is in the prompt.
    Numpy arrays are taken as tensors and 0/1 integer masks as bool; `validate` checks everything else.
    """

    images: dict[str, torch.Tensor]
    tokens: torch.Tensor
    token_masks: torch.Tensor
    image_masks: dict[str, torch.Tensor] | None = None
    state: torch.Tensor | None = None

    def __post_init__(self):
        if not isinstance(self.images, Mapping):
            raise ValueError(f"images must be a dict camera name -> float [B, 3, H, W] tensor, found "
                             f"{described(self.images)}")
        self.images = {name: as_tensor(image, f"image {name!r}") for name, image in self.images.items()}
        if self.image_masks is not None:
            if not isinstance(self.image_masks, Mapping):
                raise ValueError(f"image_masks must be a dict camera name -> bool [B], found "
                                 f"{described(self.image_masks)}")
            self.image_masks = {name: as_mask(mask, f"image_masks[{name!r}]")
                                for name, mask in self.image_masks.items()}
        self.tokens = as_tensor(self.tokens, "tokens")
        if self.tokens.ndim != 2:
            raise ValueError(f"tokens must be [B, L], found shape {tuple(self.tokens.shape)}")
        self.token_masks = as_mask(self.token_masks, "token_masks")
        if self.state is not None:
            self.state = as_tensor(self.state, "state")

    @property
    def batch_size(self) -> int:
        return self.tokens.shape[0]

    def validate(self, config) -> None:
        """Raise ValueError naming the offending field (and camera) on any type, shape, dtype, range or consistency
        problem for a PolicyConfig; warn once about inputs that are legitimate but probably not meant."""
        self._check_tokens(config)
        self._check_images(config)
        self._check_state(config.suffix)

    def _check_tokens(self, config) -> None:
        tokens, masks, vocab_size = self.tokens, self.token_masks, config.vlm.vocab_size
        if tokens.is_floating_point() or tokens.dtype == torch.bool or tokens.is_complex():
            raise ValueError(f"tokens must be integer ids [B, L], found dtype {dtype_name(tokens)}")
        if tokens.shape[1] > config.max_token_len:
            raise ValueError(f"tokens has length {tokens.shape[1]}, the model takes at most {config.max_token_len}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= vocab_size):
            raise ValueError(f"token ids must be in [0, {vocab_size}), found range [{int(tokens.min())}, "
                             f"{int(tokens.max())}]")
        if masks.shape != tokens.shape:
            raise ValueError(f"token_masks must have the shape of tokens {tuple(tokens.shape)}, found "
                             f"{tuple(masks.shape)}")
        silent = (~masks.any(dim=1)).nonzero()[:, 0]
        if len(silent):
            warn_once(f"token_masks: no language tokens in {rows_phrase(silent)} (every position masked): the "
                      "policy sees no prompt there")

    def _check_images(self, config) -> None:
        cameras, size, b = config.cameras, config.vision.image_size, self.batch_size
        unknown = sorted(set(self.images) - set(cameras))
        if unknown:
            raise ValueError(f"unknown cameras {unknown}; the model's cameras are {list(cameras)}")
        if not self.images:
            raise ValueError(f"no camera images given; expected some of {list(cameras)}")
        for name, image in self.images.items():
            _check_image(name, image, (b, 3, size, size))
        masks = self.image_masks or {}
        for name, mask in masks.items():
            if name not in self.images:
                raise ValueError(f"image_masks has {name!r} but images does not")
            if mask.shape != (b,):
                raise ValueError(f"image_masks[{name!r}] must be bool [{b}] (batch from tokens), found shape "
                                 f"{tuple(mask.shape)}")
        visible = torch.zeros(b, dtype=torch.bool)
        for name in self.images:
            visible |= masks[name].cpu() if name in masks else True
        if not bool(visible.any()):
            raise ValueError("image_masks hide every camera in every batch element; the policy needs at least one "
                             "image")
        blind = (~visible).nonzero()[:, 0]
        if len(blind):
            warn_once(f"image_masks: no visible camera in {rows_phrase(blind)}: the actions there come from the "
                      "prompt and state alone")

    def _check_state(self, suffix) -> None:
        state, b = self.state, self.batch_size
        if not suffix.has_state_token:
            if state is not None:
                raise ValueError(f"state must be None for pi0.5, found {described(state)}: pi0.5 reads the robot "
                                 f"state from the prompt ({_PREPROCESS} discretises it into the tokens)")
            return
        if state is None:
            raise ValueError("this policy (pi0) needs observation.state")
        require_float(state, "state", " (the normalised robot state)")
        if state.ndim != 2 or state.shape[0] != b or state.shape[1] > suffix.state_dim:
            raise ValueError(f"state must be [{b}, <= {suffix.state_dim}], found {tuple(state.shape)}")
        require_finite(state, "state")
        too_big = state.abs() > MAX_ABS_STATE
        if bool(too_big.any()):
            dims = too_big.any(dim=0).nonzero()[:, 0]
            raise ValueError(f"state has values beyond ±{MAX_ABS_STATE:g} at {dims_phrase(dims)} (e.g. "
                             f"{float(state[too_big][0]):.3g}): a model-ready state is normalised ({_PREPROCESS} "
                             "normalises robot units with the checkpoint's statistics)")

    def checked_cameras(self, config) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Validate against a PolicyConfig, then (images, masks) of the given configured cameras in config order;
        absent cameras are left out (they would be masked slots, invisible to every token)."""
        self.validate(config)
        images, masks = [], []
        for name in config.cameras:
            if name in self.images:
                images.append(self.images[name])
                given = (self.image_masks or {}).get(name)
                masks.append(given if given is not None else torch.ones(self.batch_size, dtype=torch.bool))
        return images, masks

    def padded_state(self, suffix) -> torch.Tensor | None:
        """The state zero-padded to suffix.state_dim, float32; None when the suffix has no state token (pi0.5)."""
        if not suffix.has_state_token:
            return None
        return torch.nn.functional.pad(self.state.float(), (0, suffix.state_dim - self.state.shape[1]))


def _check_image(name: str, image: torch.Tensor, shape: tuple[int, ...]) -> None:
    field = f"image {name!r}"
    require_float(image, field, " in [-1, 1]", f" ({_PREPROCESS} converts raw uint8 or [0, 1] images)")
    if tuple(image.shape) != shape:
        raise ValueError(f"{field} must be {list(shape)} (batch from tokens), found {tuple(image.shape)}")
    require_finite(image, field)
    low, high = (float(v) for v in torch.aminmax(image.float()))
    if low < -1 - PIXEL_TOLERANCE or high > 1 + PIXEL_TOLERANCE:
        raw = " (0..255 pixels: pass raw images through " + _PREPROCESS + ")" if high > _RAW_PIXELS else ""
        raise ValueError(f"{field} must be in [-1, 1], found values in [{low:g}, {high:g}]{raw}")
    if low >= 0 and high > 0:  # an all-zero (mid-grey) image is a legitimate placeholder
        warn_once(f"{field} has no negative values: model-ready images are in [-1, 1], and this looks like a [0, 1] "
                  f"image ({_PREPROCESS} maps raw images to [-1, 1])")
