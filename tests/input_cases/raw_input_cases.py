"""Raw user inputs through `make_observation`, and model actions through `postprocess_actions`."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from models.normalization import NormStats

from .env import CAMERA, STATE_DIM
from .runner import Case


def _state(env, kind: str = "pi0", dim: int = 0, value: float | None = None, scale: float | None = None):
    state = env.raw_state(kind)
    if value is not None:
        state[dim] = value
    if scale is not None:
        stats = env.stats(kind).state.stats
        state[dim] = stats["max"][dim] + scale * (stats["max"][dim] - stats["min"][dim]) if kind == "pi0" else \
            stats["q99"][dim] + scale * (stats["q99"][dim] - stats["q01"][dim])
    return state


def _zero_std_stats(env):
    stats = env.stats("pi0")
    stats.state.stats["std"][2] = 0.0
    return stats


CASES = [
    Case("make_observation", "the policy instead of its config", "error", ("config", "PolicyConfig", "Pi0Policy"),
         lambda env: env.make(config=env.policy("pi0"))),
    Case("make_observation", "images as a list", "error", ("images", "list", CAMERA),
         lambda env: env.make(images=[env.raw_image()])),
    Case("make_observation", "images = None", "error", ("images", "None"),
         lambda env: env.make(images=None)),
    Case("make_observation", "an unknown camera", "error", ("top", CAMERA),
         lambda env: env.make(images={"top": env.raw_image()})),
    Case("make_observation", "no images", "error", ("images", CAMERA),
         lambda env: env.make(images={})),
    Case("make_observation", "0..255 pixels as float", "error", (CAMERA, "[0, 1]", "255"),
         lambda env: env.make(images={CAMERA: env.raw_image().astype(np.float32)})),
    Case("make_observation", "a NaN pixel", "error", (CAMERA, "NaN"),
         lambda env: env.make(images={CAMERA: np.full((240, 320, 3), np.nan, np.float32)})),
    Case("make_observation", "int32 pixels", "error", (CAMERA, "int32"),
         lambda env: env.make(images={CAMERA: env.raw_image().astype(np.int32)})),
    Case("make_observation", "boolean pixels", "error", (CAMERA, "bool"),
         lambda env: env.make(images={CAMERA: torch.zeros(240, 320, 3, dtype=torch.bool)})),
    Case("make_observation", "a grayscale image", "error", (CAMERA, "(240, 320)"),
         lambda env: env.make(images={CAMERA: env.raw_image()[..., 0]})),
    Case("make_observation", "an RGBA image", "error", (CAMERA, "3 colour channels", "(240, 320, 4)"),
         lambda env: env.make(images={CAMERA: np.zeros((240, 320, 4), np.uint8)})),
    Case("make_observation", "a list of images for one camera", "error", (CAMERA, "list"),
         lambda env: env.make(images={CAMERA: [env.raw_image(), env.raw_image()]})),
    Case("make_observation", "a PIL image", "ok", (),
         lambda env: env.make(images={CAMERA: Image.fromarray(env.raw_image())})),
    Case("make_observation", "cameras with different batch sizes", "error", ("batch sizes", CAMERA),
         lambda env: env.make(images={CAMERA: env.raw_image(2), "left_wrist_0_rgb": env.raw_image()},
                              state=np.stack([env.raw_state()] * 2))),
    Case("make_observation", "prompt = None", "error", ("prompt", "None"),
         lambda env: env.make(prompt=None)),
    Case("make_observation", "an integer prompt", "error", ("prompt", "int"),
         lambda env: env.make(prompt=5)),
    Case("make_observation", "bytes as the prompt", "error", ("prompt", "b'pick up"),
         lambda env: env.make(prompt=b"pick up the cube")),
    Case("make_observation", "two prompts for one image", "error", ("prompt", "1 strings"),
         lambda env: env.make(prompt=["a", "b"])),
    Case("make_observation", "a non-string among the prompts", "error", ("prompt", "None"),
         lambda env: env.make(images={CAMERA: env.raw_image(2)}, prompt=["a", None],
                              state=np.stack([env.raw_state()] * 2))),
    Case("make_observation", "an empty prompt", "warning", ("prompt", "empty"),
         lambda env: env.make(prompt="  ")),
    Case("make_observation", "a prompt over the token limit", "error", ("prompt", "tokens", "48"),
         lambda env: env.make(prompt="pick up the red cube " * 20)),
    Case("make_observation", "tokenizer = None", "error", ("tokenizer", "None"),
         lambda env: env.make(tokenizer=None)),
    Case("make_observation", "a tokenizer path instead of a tokenizer", "error", ("tokenizer", "load_tokenizer"),
         lambda env: env.make(tokenizer=str(env.sp_model))),
    Case("make_observation", "statistics as a plain dict", "error", ("stats", "NormStats", "dict"),
         lambda env: env.make(stats={"observation.state": {"mean": [0.0]}})),
    Case("make_observation", "no statistics", "warning", ("no state normalisation statistics",),
         lambda env: env.make(stats=None)),
    Case("make_observation", "state = None", "error", ("state", "None"),
         lambda env: env.make(state=None)),
    Case("make_observation", "a boolean state", "error", ("state", "bool"),
         lambda env: env.make(state=np.ones(STATE_DIM, bool))),
    Case("make_observation", "a string state", "error", ("state", "real numbers"),
         lambda env: env.make(state=["a"] * STATE_DIM)),
    Case("make_observation", "a complex state", "error", ("state", "complex"),
         lambda env: env.make(state=torch.zeros(STATE_DIM, dtype=torch.complex64))),
    Case("make_observation", "an integer state (robot units)", "ok", (),
         lambda env: env.make(state=np.round(env.raw_state()).astype(np.int64))),
    Case("make_observation", "a NaN state", "error", ("state", "NaN"),
         lambda env: env.make(state=_state(env, value=float("nan")))),
    Case("make_observation", "a state of 1e30", "error", ("state", "dim 3", "1e+30"),
         lambda env: env.make(state=_state(env, dim=3, value=1e30))),
    Case("make_observation", "a pi0.5 state of 1e30", "error", ("state", "dim 3", "1e+30"),
         lambda env: env.make("pi05", state=_state(env, "pi05", dim=3, value=1e30))),
    Case("make_observation", "a state of 1e30 without statistics", "error", ("state", "dim 3", "1e+30"),
         lambda env: env.make(stats=NormStats(), state=_state(env, dim=3, value=1e30))),
    Case("make_observation", "a state outside the statistics' range", "warning", ("state", "dim 4", "range"),
         lambda env: env.make(state=_state(env, dim=4, scale=0.5))),
    Case("make_observation", "a pi0.5 state outside q01..q99", "warning", ("state", "dim 4", "range"),
         lambda env: env.make("pi05", state=_state(env, "pi05", dim=4, scale=0.5))),
    Case("make_observation", "a state away from a zero-std statistic", "error", ("state", "dim 2", "std"),
         lambda env: env.make(stats=_zero_std_stats(env), state=_state(env, dim=2, value=5.0))),
    Case("make_observation", "a state wider than the statistics", "error", ("state", "8", "7"),
         lambda env: env.make(state=np.zeros(STATE_DIM + 1, np.float32))),
    Case("make_observation", "a state wider than the model's state_dim", "error", ("state", "33", "32"),
         lambda env: env.make(stats=NormStats(), state=np.zeros(33, np.float32))),
    Case("make_observation", "a [B, S] state for another batch size", "error", ("state", "(2, 7)"),
         lambda env: env.make(state=np.zeros((2, STATE_DIM), np.float32))),
    Case("make_observation", "a 3-D state", "error", ("state", "(1, 1, 7)"),
         lambda env: env.make(state=np.zeros((1, 1, STATE_DIM), np.float32))),
    Case("postprocess_actions", "actions as a numpy array", "ok", (),
         lambda env: env.postprocess(actions=np.zeros((1, 50, 32), np.float32))),
    Case("postprocess_actions", "NaN actions", "error", ("actions", "NaN"),
         lambda env: env.postprocess(actions=torch.full((1, 50, 32), float("nan")))),
    Case("postprocess_actions", "2-D actions", "error", ("actions", "[B, H, A]", "(50, 32)"),
         lambda env: env.postprocess(actions=torch.zeros(50, 32))),
    Case("postprocess_actions", "a float action_dim", "error", ("action_dim", "6.0"),
         lambda env: env.postprocess(action_dim=6.0)),
    Case("postprocess_actions", "action_dim = 0", "error", ("action_dim", "0"),
         lambda env: env.postprocess(action_dim=0)),
    Case("postprocess_actions", "action_dim unlike the statistics'", "error", ("action", "5", "6"),
         lambda env: env.postprocess(action_dim=5)),
    Case("postprocess_actions", "statistics as a plain dict", "error", ("stats", "NormStats", "dict"),
         lambda env: env.postprocess(stats={"action": {}})),
    Case("postprocess_actions", "no statistics", "warning", ("no action normalisation statistics",),
         lambda env: env.postprocess(stats=None)),
]
