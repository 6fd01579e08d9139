"""The policy's input, shared by both backends."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Observation:
    """One batch of model-ready inputs.

    images: camera name -> float [B, 3, H, W] in [-1, 1]; a configured camera that is absent is a masked slot.
    image_masks: camera name -> bool [B]; False hides that camera for that batch element (default: all True).
    tokens: int64 [B, L] prompt token ids; token_masks: bool [B, L], False on padding.
    state: float [B, S] robot state, padded to the model's state_dim (pi0); None for pi0.5, whose state is in
        the prompt.
    """

    images: dict[str, torch.Tensor]
    tokens: torch.Tensor
    token_masks: torch.Tensor
    image_masks: dict[str, torch.Tensor] | None = None
    state: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.tokens.shape[0]

    def validate(self, config) -> None:
        """Raise ValueError naming the offending field on any shape, dtype or range problem for a PolicyConfig."""
        cameras, image_size, vocab_size = config.cameras, config.vision.image_size, config.vlm.vocab_size
        max_token_len, state_dim = config.max_token_len, config.suffix.state_dim
        b = self.batch_size
        if self.tokens.ndim != 2 or self.tokens.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"tokens must be an integer tensor [B, L], got {tuple(self.tokens.shape)} {self.tokens.dtype}")
        if self.token_masks.shape != self.tokens.shape or self.token_masks.dtype != torch.bool:
            raise ValueError(f"token_masks must be bool {tuple(self.tokens.shape)}, "
                             f"got {tuple(self.token_masks.shape)} {self.token_masks.dtype}")
        if self.tokens.shape[1] > max_token_len:
            raise ValueError(f"tokens has length {self.tokens.shape[1]}, the model takes at most {max_token_len}")
        if self.tokens.numel() and (self.tokens.min() < 0 or self.tokens.max() >= vocab_size):
            raise ValueError(f"token ids must be in [0, {vocab_size}), got range "
                             f"[{int(self.tokens.min())}, {int(self.tokens.max())}]")
        unknown = set(self.images) - set(cameras)
        if unknown:
            raise ValueError(f"unknown cameras {sorted(unknown)}; the model's cameras are {list(cameras)}")
        if not self.images:
            raise ValueError(f"no camera images given; expected some of {list(cameras)}")
        for name, image in self.images.items():
            if image.shape != (b, 3, image_size, image_size) or not image.is_floating_point():
                raise ValueError(f"image {name!r} must be float [{b}, 3, {image_size}, {image_size}], "
                                 f"got {tuple(image.shape)} {image.dtype}")
        for name, mask in (self.image_masks or {}).items():
            if name not in self.images:
                raise ValueError(f"image_masks has {name!r} but images does not")
            if mask.shape != (b,) or mask.dtype != torch.bool:
                raise ValueError(f"image_masks[{name!r}] must be bool [{b}], got {tuple(mask.shape)} {mask.dtype}")
        if config.suffix.has_state_token:
            if self.state is None:
                raise ValueError("this policy (pi0) needs observation.state")
            if self.state.ndim != 2 or self.state.shape[0] != b or self.state.shape[1] > state_dim:
                raise ValueError(f"state must be [{b}, <= {state_dim}], got {tuple(self.state.shape)}")
            if not torch.isfinite(self.state).all():
                raise ValueError("state contains NaN or infinite values")

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
