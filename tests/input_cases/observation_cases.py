"""Model-ready `Observation`s handed to `policy.sample_actions` (the reference pi0 unless a case says)."""

from __future__ import annotations

import numpy as np
import torch

from .env import CAMERA, TOKENS
from .runner import Case

WRIST = "left_wrist_0_rgb"


def _image(low: float = -1.0, high: float = 1.0, batch: int = 1, dtype=torch.float32) -> torch.Tensor:
    return (torch.rand(batch, 3, 224, 224, generator=torch.Generator().manual_seed(4)) * (high - low) + low).to(dtype)


def _with(value: float) -> torch.Tensor:
    image = _image()
    image[0, 1, 10, 20] = value
    return image


def _cameras(**images) -> dict:
    return {CAMERA: _image(), **images}


CASES = [
    Case("Observation", "pixels in 0..255 passed as float", "error", (CAMERA, "[-1, 1]", "255"),
         lambda env: env.sample(images={CAMERA: _image(0, 255)})),
    Case("Observation", "pixels slightly above 1", "error", (CAMERA, "[-1, 1]", "1.5"),
         lambda env: env.sample(images={CAMERA: _with(1.5)})),
    Case("Observation", "a NaN pixel", "error", (CAMERA, "NaN"),
         lambda env: env.sample(images={CAMERA: _with(float("nan"))})),
    Case("Observation", "an infinite pixel", "error", (CAMERA, "inf"),
         lambda env: env.sample(images={CAMERA: _with(float("inf"))})),
    Case("Observation", "uint8 pixels", "error", (CAMERA, "float", "uint8"),
         lambda env: env.sample(images={CAMERA: torch.zeros(1, 3, 224, 224, dtype=torch.uint8)})),
    Case("Observation", "boolean pixels", "error", (CAMERA, "float", "bool"),
         lambda env: env.sample(images={CAMERA: torch.zeros(1, 3, 224, 224, dtype=torch.bool)})),
    Case("Observation", "an image in [0, 1] (not mapped to [-1, 1])", "warning", (CAMERA, "[-1, 1]", "[0, 1]"),
         lambda env: env.sample(images={CAMERA: _image(0, 1)})),
    Case("Observation", "a channels-last image", "error", (CAMERA, "[1, 3, 224, 224]", "(1, 224, 224, 3)"),
         lambda env: env.sample(images={CAMERA: _image().permute(0, 2, 3, 1)})),
    Case("Observation", "an image of the wrong size", "error", (CAMERA, "[1, 3, 224, 224]", "(1, 3, 100, 100)"),
         lambda env: env.sample(images={CAMERA: torch.zeros(1, 3, 100, 100)})),
    Case("Observation", "images as a list", "error", ("images", "dict", "list"),
         lambda env: env.sample(images=[_image()])),
    Case("Observation", "an image as a numpy array", "ok", (),
         lambda env: env.sample(images={CAMERA: _image().numpy()})),
    Case("Observation", "a float64 image", "ok", (),
         lambda env: env.sample(images={CAMERA: _image(dtype=torch.float64)})),
    Case("Observation", "a bfloat16 image", "ok", (),
         lambda env: env.sample(images={CAMERA: _image(dtype=torch.bfloat16)})),
    Case("Observation", "an image as a Python list", "error", (CAMERA, "tensor", "list"),
         lambda env: env.sample(images={CAMERA: _image().tolist()})),
    Case("Observation", "an unknown camera", "error", ("top", CAMERA),
         lambda env: env.sample(images=_cameras(top=_image()))),
    Case("Observation", "no images", "error", ("images", CAMERA),
         lambda env: env.sample(images={})),
    Case("Observation", "cameras with different batch sizes", "error", (WRIST, "[1, 3, 224, 224]", "(2, 3, 224, 224)"),
         lambda env: env.sample(images=_cameras(**{WRIST: _image(batch=2)}))),
    Case("Observation", "images batch 2, tokens batch 1", "error", (CAMERA, "[1, 3, 224, 224]", "(2, 3, 224, 224)"),
         lambda env: env.sample(images={CAMERA: _image(batch=2)})),
    Case("Observation", "image_masks as 0/1 integers", "ok", (),
         lambda env: env.sample(image_masks={CAMERA: torch.tensor([1])})),
    Case("Observation", "image_masks of the wrong shape", "error", ("image_masks", CAMERA, "[1]"),
         lambda env: env.sample(image_masks={CAMERA: torch.tensor([True, True])})),
    Case("Observation", "image_masks with values other than 0/1", "error", ("image_masks", CAMERA),
         lambda env: env.sample(image_masks={CAMERA: torch.tensor([2])})),
    Case("Observation", "image_masks naming a camera without an image", "error", ("image_masks", WRIST),
         lambda env: env.sample(image_masks={WRIST: torch.tensor([True])})),
    Case("Observation", "every camera masked out", "error", ("image_masks", "every camera"),
         lambda env: env.sample(image_masks={CAMERA: torch.tensor([False])})),
    Case("Observation", "one batch element with no visible camera", "warning", ("batch element 1", "camera"),
         lambda env: env.sample(observation=env.observation(batch=2, image_masks={CAMERA: torch.tensor([True, False])}),
                                noise=env.noise(2))),
    Case("Observation", "tokens as floats", "error", ("tokens", "integer", "float32"),
         lambda env: env.sample(tokens=torch.zeros(1, TOKENS))),
    Case("Observation", "tokens as a numpy array", "ok", (),
         lambda env: env.sample(tokens=np.arange(TOKENS)[None])),
    Case("Observation", "tokens as a Python list", "error", ("tokens", "tensor", "list"),
         lambda env: env.sample(tokens=[[1, 2, 3]], token_masks=torch.ones(1, 3, dtype=torch.bool))),
    Case("Observation", "1-D tokens", "error", ("tokens", "[B, L]", "(8,)"),
         lambda env: env.sample(tokens=torch.arange(TOKENS), token_masks=torch.ones(TOKENS, dtype=torch.bool))),
    Case("Observation", "token ids beyond the vocabulary", "error", ("token", "1024", "5000"),
         lambda env: env.sample(tokens=torch.full((1, TOKENS), 5000))),
    Case("Observation", "negative token ids", "error", ("token", "-1"),
         lambda env: env.sample(tokens=torch.full((1, TOKENS), -1))),
    Case("Observation", "more tokens than the model takes", "error", ("tokens", "60", "48"),
         lambda env: env.sample(tokens=torch.zeros(1, 60, dtype=torch.int64),
                                token_masks=torch.ones(1, 60, dtype=torch.bool))),
    Case("Observation", "token_masks as 0/1 integers", "ok", (),
         lambda env: env.sample(token_masks=torch.ones(1, TOKENS, dtype=torch.int64))),
    Case("Observation", "token_masks of another shape than tokens", "error", ("token_masks", "(1, 8)", "(1, 5)"),
         lambda env: env.sample(token_masks=torch.ones(1, 5, dtype=torch.bool))),
    Case("Observation", "token_masks as floats", "error", ("token_masks", "bool", "float32"),
         lambda env: env.sample(token_masks=torch.full((1, TOKENS), 0.5))),
    Case("Observation", "every language token masked", "warning", ("token_masks", "no language tokens"),
         lambda env: env.sample(token_masks=torch.zeros(1, TOKENS, dtype=torch.bool))),
    Case("Observation", "pi0 without a state", "error", ("state", "pi0"),
         lambda env: env.sample(state=None)),
    Case("Observation", "a pi0.5 observation with a state", "error", ("state", "pi0.5", "prompt"),
         lambda env: env.sample("pi05", state=torch.zeros(1, 32))),
    Case("Observation", "an integer state", "error", ("state", "float", "int64"),
         lambda env: env.sample(state=torch.zeros(1, 32, dtype=torch.int64))),
    Case("Observation", "a boolean state", "error", ("state", "float", "bool"),
         lambda env: env.sample(state=torch.zeros(1, 32, dtype=torch.bool))),
    Case("Observation", "a state of 1e30", "error", ("state", "1e+30"),
         lambda env: env.sample(state=torch.full((1, 32), 1e30))),
    Case("Observation", "a NaN state", "error", ("state", "NaN"),
         lambda env: env.sample(state=torch.full((1, 32), float("nan")))),
    Case("Observation", "a state wider than state_dim", "error", ("state", "32", "40"),
         lambda env: env.sample(state=torch.zeros(1, 40))),
    Case("Observation", "a state with another batch size", "error", ("state", "(2, 32)"),
         lambda env: env.sample(state=torch.zeros(2, 32))),
    Case("Observation", "a 1-D state", "error", ("state", "[1, ", "(32,)"),
         lambda env: env.sample(state=torch.zeros(32))),
    Case("Observation", "a state as a numpy array", "ok", (),
         lambda env: env.sample(state=np.zeros((1, 32), np.float32))),
    Case("Observation", "a narrower state (zero-padded)", "ok", (),
         lambda env: env.sample(state=torch.zeros(1, 7))),
]
