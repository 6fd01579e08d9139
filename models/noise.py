"""The flow's starting point and step count, checked once for both backends."""

from __future__ import annotations

import torch

from .checks import as_tensor, described, positive_int, require_finite, require_float
from .config import PolicyConfig, SuffixConfig
from .observation import Observation


def initial_noise(batch: int, suffix: SuffixConfig, noise=None, generator: torch.Generator | None = None
                  ) -> torch.Tensor:
    """`noise` (a tensor or numpy array) checked against float [B, horizon, action_dim] and finite, as float32; or
    standard normal float32 of that shape when None."""
    shape = (batch, suffix.horizon, suffix.action_dim)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, found {described(generator)}")
    if noise is None:
        return torch.randn(shape, generator=generator, dtype=torch.float32)
    noise = as_tensor(noise, "noise")
    require_float(noise, "noise", " (standard normal samples)")
    if tuple(noise.shape) != shape:
        raise ValueError(f"noise must have shape {shape} [batch, horizon, action_dim], found {tuple(noise.shape)}")
    require_finite(noise, "noise")
    return noise.float()


def sampling_inputs(observation: Observation, config: PolicyConfig, noise=None, num_steps=None,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
    """sample_actions' (noise, num_steps) for both backends, checked before any work starts: the noise as
    initial_noise gives it, and num_steps (a positive int; None: the config's)."""
    if not isinstance(observation, Observation):
        raise ValueError(f"observation must be a models.Observation (models.inputs.make_observation builds one), "
                         f"found {described(observation)}")
    steps = config.sampler.num_steps if num_steps is None else positive_int(num_steps, "num_steps")
    return initial_noise(observation.batch_size, config.suffix, noise, generator), steps
