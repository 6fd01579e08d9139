"""`policy.sample_actions`'s own arguments (noise, num_steps, the observation itself), on both backends."""

from __future__ import annotations

import numpy as np
import torch

from .env import CAMERA
from .runner import Case


def _noise_with(env, value: float) -> torch.Tensor:
    noise = env.noise()
    noise[0, 3, 4] = value
    return noise


def _tt(what: str, expect: str, mentions: tuple[str, ...], run) -> Case:
    return Case("sample_actions (TT)", what, expect, mentions, run)


CASES = [
    Case("sample_actions", "noise as a numpy array", "ok", (),
         lambda env: env.sample(noise=env.noise().numpy())),
    Case("sample_actions", "float64 noise", "ok", (),
         lambda env: env.sample(noise=env.noise().double())),
    Case("sample_actions", "NaN noise", "error", ("noise", "NaN"),
         lambda env: env.sample(noise=_noise_with(env, float("nan")))),
    Case("sample_actions", "infinite noise", "error", ("noise", "inf"),
         lambda env: env.sample(noise=_noise_with(env, float("inf")))),
    Case("sample_actions", "integer noise", "error", ("noise", "float", "int64"),
         lambda env: env.sample(noise=torch.zeros(1, 50, 32, dtype=torch.int64))),
    Case("sample_actions", "boolean noise", "error", ("noise", "float", "bool"),
         lambda env: env.sample(noise=torch.zeros(1, 50, 32, dtype=torch.bool))),
    Case("sample_actions", "noise of the wrong shape", "error", ("noise", "(1, 50, 32)", "(1, 32, 50)"),
         lambda env: env.sample(noise=torch.zeros(1, 32, 50))),
    Case("sample_actions", "noise for another batch size", "error", ("noise", "(1, 50, 32)", "(2, 50, 32)"),
         lambda env: env.sample(noise=env.noise(2))),
    Case("sample_actions", "noise as a Python list", "error", ("noise", "tensor", "list"),
         lambda env: env.sample(noise=env.noise().tolist())),
    Case("sample_actions", "a float num_steps", "error", ("num_steps", "2.5"),
         lambda env: env.sample(num_steps=2.5)),
    Case("sample_actions", "a whole-number float num_steps", "error", ("num_steps", "float"),
         lambda env: env.sample(num_steps=2.0)),
    Case("sample_actions", "a string num_steps", "error", ("num_steps", "'10'"),
         lambda env: env.sample(num_steps="10")),
    Case("sample_actions", "num_steps = 0", "error", ("num_steps", "0"),
         lambda env: env.sample(num_steps=0)),
    Case("sample_actions", "negative num_steps", "error", ("num_steps", "-3"),
         lambda env: env.sample(num_steps=-3)),
    Case("sample_actions", "num_steps = True", "error", ("num_steps", "True"),
         lambda env: env.sample(num_steps=True)),
    Case("sample_actions", "a numpy integer num_steps", "ok", (),
         lambda env: env.sample(num_steps=np.int64(1))),
    Case("sample_actions", "a dict instead of an Observation", "error", ("observation", "Observation", "dict"),
         lambda env: env.sample(observation={"images": {CAMERA: torch.zeros(1, 3, 224, 224)}})),
    Case("sample_actions", "a generator that is not a torch.Generator", "error", ("generator", "int"),
         lambda env: env.policy("pi0").sample_actions(env.observation(), generator=0, num_steps=1)),
    _tt("NaN noise", "error", ("noise", "NaN"),
        lambda env: env.sample(backend="tt", noise=_noise_with(env, float("nan")))),
    _tt("a float num_steps", "error", ("num_steps", "2.5"),
        lambda env: env.sample(backend="tt", num_steps=2.5)),
    _tt("pixels in 0..255 passed as float", "error", (CAMERA, "[-1, 1]", "255"),
        lambda env: env.sample(backend="tt", images={CAMERA: torch.rand(1, 3, 224, 224) * 255})),
    _tt("a boolean state", "error", ("state", "float", "bool"),
        lambda env: env.sample(backend="tt", state=torch.zeros(1, 32, dtype=torch.bool))),
    _tt("noise as a numpy array", "ok", (),
        lambda env: env.sample(backend="tt", noise=env.noise().numpy())),
    _tt("every language token masked", "warning", ("token_masks", "no language tokens"),
        lambda env: env.sample(backend="tt", token_masks=torch.zeros(1, 8, dtype=torch.bool))),
]
