"""The demo CLI (`python -m demo`): every expected failure is one line starting "error: ", never a traceback."""

from __future__ import annotations

import numpy as np

from demo.render_scene import IMAGES

from .env import CAMERA
from .runner import Case

SCENE = IMAGES / f"{CAMERA}.png"


def _case(what: str, expect: str, mentions: tuple[str, ...], run) -> Case:
    return Case("demo CLI", what, expect, mentions, run)


def _npy(env, value: np.ndarray | None = None, raw: bytes | None = None) -> str:
    path = env.path("state.npy")
    if value is not None:
        np.save(path, value)
    else:
        path.write_bytes(raw)
    return str(path)


CASES = [
    _case("the default run", "ok", (), lambda env: env.demo()),
    _case("an image file that is not an image", "error", ("--images", CAMERA, "scene.png"),
          lambda env: env.demo("--images", f"{CAMERA}={env.path('scene.png', 'not an image')}")),
    _case("an image file that does not exist", "error", (CAMERA, "/no/such.png"),
          lambda env: env.demo("--images", f"{CAMERA}=/no/such.png")),
    _case("an image given without a camera name", "error", ("--images", "CAM=PATH"),
          lambda env: env.demo("--images", str(SCENE))),
    _case("the same camera given twice", "error", ("--images", CAMERA, "twice"),
          lambda env: env.demo("--images", f"{CAMERA}={SCENE}", f"{CAMERA}={SCENE}")),
    _case("an unknown camera", "error", ("top_cam", CAMERA),
          lambda env: env.demo("--images", f"top_cam={SCENE}")),
    _case("a state .npy file that does not exist", "error", ("--state", "missing.npy"),
          lambda env: env.demo("--state", str(env.root / "missing.npy"))),
    _case("a corrupt state .npy file", "error", ("--state", "state.npy"),
          lambda env: env.demo("--state", _npy(env, raw=b"garbage"))),
    _case("a state .npy holding text", "error", ("state", "real numbers"),
          lambda env: env.demo("--state", _npy(env, np.array(["a"] * 8)))),
    _case("a state .npy of the wrong width", "error", ("state", "5", "8"),
          lambda env: env.demo("--state", _npy(env, np.zeros(5, np.float32)))),
    _case("a state that is not numbers", "error", ("--state", "comma-separated"),
          lambda env: env.demo("--state", "1,two,3")),
    _case("a NaN in the state", "error", ("state", "NaN"),
          lambda env: env.demo("--state", "0,0,0,0,0,0,0,nan")),
    _case("a state wider than the model's", "error", ("state", "33"),
          lambda env: env.demo("--state", ",".join(["0"] * 33))),
    _case("a corrupt tokenizer file", "error", ("--tokenizer", "tokenizer.model"),
          lambda env: env.demo("--tokenizer", str(env.path("tokenizer.model", b"garbage")))),
    _case("a tokenizer file that does not exist", "error", ("nothing.model", "does not exist"),
          lambda env: env.demo("--tokenizer", str(env.root / "nothing.model"))),
    _case("an output path that is a file", "error", ("--out", "out-file", "not a directory"),
          lambda env: env.demo("--out", str(env.path("out-file", "x")))),
    _case("an output path under a file", "error", ("--out", "out-file", "is a file"),
          lambda env: env.demo("--out", str(env.path("out-file", "x") / "run1"))),
    _case("a TT cache path that is a file", "error", ("--tt-cache", "cache-file", "not a directory"),
          lambda env: env.demo("--tt-cache", str(env.path("cache-file", "x")), backend="tt")),
    _case("zero denoising steps", "error", ("steps", "0"),
          lambda env: env.demo("--steps", "0")),
    _case("negative denoising steps", "error", ("steps", "-2"),
          lambda env: env.demo("--steps", "-2")),
    _case("a checkpoint that does not exist", "error", ("no-such-checkpoint",),
          lambda env: env.demo("--checkpoint", str(env.root / "no-such-checkpoint"))),
    _case("a checkpoint directory without weights", "error", ("safetensors",),
          lambda env: env.demo("--checkpoint", str(env.directory()))),
    _case("an empty prompt", "warning", ("prompt", "empty"),
          lambda env: env.demo("--prompt", "")),
]
