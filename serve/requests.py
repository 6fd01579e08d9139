"""One decoded observation dict -> a checked PolicyRequest, or RequestError naming the field.

Besides the profile's cameras, state and "prompt", a request may carry
- "noise_seed" (int): the initial noise is standard normal from torch.Generator().manual_seed(noise_seed), as
  `models.noise.initial_noise(1, ..., generator=...)` draws it in process; without it the server's own generator;
- "prev_chunk_left_over" (float [T, action_dim], robot units as the previous response's "actions" rows that are
  still to run), "inference_delay" (int) and optionally "execution_horizon" (int): real-time chunking.
Other keys are ignored, as openpi's transforms ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.images import to_model_image

from .profiles import FieldPath, Profile, field_name

NOISE_SEED_LIMIT = 2 ** 63


class RequestError(ValueError):
    """A request the server cannot run; the message names the field."""


@dataclass(frozen=True)
class Limits:
    """What one request may hold; larger payloads get an error naming the field."""

    max_message_bytes: int = 32 << 20  # whole frames beyond this are refused by the websocket layer itself
    max_image_side: int = 4096
    max_prompt_chars: int = 2048

    def __post_init__(self):
        if min(self.max_message_bytes, self.max_image_side, self.max_prompt_chars) <= 0:
            raise ValueError(f"request limits must be positive, got {self}")


@dataclass(frozen=True)
class Expectations:
    """What the served policy takes, for checking requests."""

    image_size: int
    state_dim: int
    stats_state_dim: int | None
    horizon: int
    action_dim: int  # dims of the response's actions and of an RTC leftover
    execution_horizon: int  # the server's default


@dataclass(frozen=True, eq=False)  # arrays inside: compared by identity
class PolicyRequest:
    images: dict[str, np.ndarray]  # policy camera -> raw image as sent
    state: np.ndarray  # float32 [S]
    prompt: str
    noise_seed: int | None = None
    leftover: np.ndarray | None = None  # float32 [T, action_dim], robot units
    inference_delay: int = 0
    execution_horizon: int = 0

    @property
    def guided_rows(self) -> int:
        """The execution horizon cut to the leftover's length (as lerobot cuts it); 0 without a leftover."""
        return 0 if self.leftover is None else min(self.execution_horizon, self.leftover.shape[0])

    @property
    def batch_key(self) -> tuple:
        """Requests with equal keys can share one sample_actions call (the same RTC prefix weights)."""
        return ("plain",) if self.leftover is None else ("rtc", self.inference_delay, self.guided_rows)


def _lookup(message: dict, path: FieldPath):
    node = message
    for depth, key in enumerate(path):
        if not isinstance(node, dict):
            raise RequestError(f"{field_name(path[:depth])}: expected a map, found {type(node).__name__}")
        if key not in node:
            return None
        node = node[key]
    return node


def _int(message: dict, key: str, low: int, high: int | None = None) -> int | None:
    value = message.get(key)
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{key}: expected an integer, found {type(value).__name__}")
    if value < low or (high is not None and value >= high):
        bound = f"[{low}, {high})" if high is not None else f">= {low}"
        raise RequestError(f"{key}: must be {bound}, found {value}")
    return value


def _float_array(value, name: str, ndim: int) -> np.ndarray:
    if isinstance(value, list):
        try:
            value = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise RequestError(f"{name}: expected numbers, found a list that is not numeric") from None
    if not isinstance(value, np.ndarray):
        raise RequestError(f"{name}: expected an array, found {type(value).__name__}")
    if value.dtype.kind not in "iuf":
        raise RequestError(f"{name}: expected integer or float values, found dtype {value.dtype}")
    if value.ndim != ndim:
        raise RequestError(f"{name}: expected {ndim} dimension(s), found shape {list(value.shape)}")
    if not np.isfinite(value).all():
        raise RequestError(f"{name}: contains NaN or infinite values")
    return value.astype(np.float32)


def _images(message: dict, profile: Profile, expect: Expectations, limits: Limits) -> dict[str, np.ndarray]:
    if profile.camera_map is not None:
        container = _lookup(message, profile.camera_map)
        where = field_name(profile.camera_map)
        if not isinstance(container, dict):
            found = "nothing" if container is None else type(container).__name__
            raise RequestError(f"{where}: expected a map of camera name -> image, found {found}")
        known = {path[-1] for path in (*profile.cameras, *profile.ignored)}
        unknown = sorted(set(container) - known)
        if unknown:
            raise RequestError(f"{where}: unknown cameras {unknown}; expected some of {sorted(known)}")
    images = {}
    for path, camera in profile.cameras.items():
        name, image = field_name(path), _lookup(message, path)
        if image is None:
            if path in profile.required:
                raise RequestError(f"{name}: missing (required by the {profile.name} profile)")
            continue
        if not isinstance(image, np.ndarray):
            raise RequestError(f"{name}: expected an image array, found {type(image).__name__}")
        if image.ndim != 3:
            raise RequestError(f"{name}: expected one image [H, W, 3] or [3, H, W], found shape {list(image.shape)}")
        if max(image.shape) > limits.max_image_side:
            raise RequestError(f"{name}: image of shape {list(image.shape)} exceeds the limit of "
                               f"{limits.max_image_side} pixels per side")
        try:
            to_model_image(image, expect.image_size, name)
        except ValueError as err:
            raise RequestError(str(err)) from None
        images[camera] = image
    if not images:
        raise RequestError(f"no camera image: send some of {[field_name(p) for p in profile.cameras]}")
    return images


def _state(message: dict, profile: Profile, expect: Expectations) -> np.ndarray:
    name, value = field_name(profile.state), _lookup(message, profile.state)
    if value is None:
        raise RequestError(f"{name}: missing (the robot state is required)")
    state = _float_array(value, name, ndim=1)
    if not 0 < state.shape[0] <= expect.state_dim:
        raise RequestError(f"{name}: expected 1 to {expect.state_dim} values, found {state.shape[0]}")
    if expect.stats_state_dim is not None and state.shape[0] != expect.stats_state_dim:
        raise RequestError(f"{name}: found {state.shape[0]} values, the checkpoint's state statistics have "
                           f"{expect.stats_state_dim}")
    return state


def _prompt(message: dict, default: str | None, limits: Limits) -> str:
    prompt = message.get("prompt", default)
    if prompt is None:
        raise RequestError("prompt: missing (and the server has no --default-prompt)")
    if isinstance(prompt, bytes):
        try:
            prompt = prompt.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError("prompt: bytes that are not UTF-8 text") from None
    if not isinstance(prompt, str):
        raise RequestError(f"prompt: expected a string, found {type(prompt).__name__}")
    if len(prompt) > limits.max_prompt_chars:
        raise RequestError(f"prompt: {len(prompt)} characters exceed the limit of {limits.max_prompt_chars}")
    return prompt


def _chunking(message: dict, expect: Expectations) -> dict:
    leftover = message.get("prev_chunk_left_over")
    delay = _int(message, "inference_delay", 0)
    horizon = _int(message, "execution_horizon", 0)
    if leftover is None:
        if delay is not None or horizon is not None:
            raise RequestError("inference_delay / execution_horizon given without prev_chunk_left_over")
        return {}
    leftover = _float_array(leftover, "prev_chunk_left_over", ndim=2)
    rows, dims = leftover.shape
    if not 0 < rows <= expect.horizon or dims != expect.action_dim:
        raise RequestError(f"prev_chunk_left_over: expected [1..{expect.horizon}, {expect.action_dim}] (rows of a "
                           f"previous response's actions), found {list(leftover.shape)}")
    if delay is None:
        raise RequestError("inference_delay: required with prev_chunk_left_over")
    return dict(leftover=leftover, inference_delay=delay,
                execution_horizon=expect.execution_horizon if horizon is None else horizon)


def parse_request(message: dict, profile: Profile, expect: Expectations, limits: Limits,
                  default_prompt: str | None = None) -> PolicyRequest:
    return PolicyRequest(images=_images(message, profile, expect, limits), state=_state(message, profile, expect),
                         prompt=_prompt(message, default_prompt, limits),
                         noise_seed=_int(message, "noise_seed", 0, NOISE_SEED_LIMIT), **_chunking(message, expect))
