"""The demo's command-line inputs read from disk, every problem named by its option and file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from models.checks import require_directory_path


def read_images(pairs: list[str]) -> dict[str, np.ndarray]:
    """["CAM=PATH", ...] -> camera -> uint8 [H, W, 3]."""
    images = {}
    for pair in pairs:
        camera, sep, path = pair.partition("=")
        if not sep or not camera:
            raise ValueError(f"--images expects CAM=PATH, got {pair!r}")
        if camera in images:
            raise ValueError(f"--images names camera {camera!r} twice")
        if not Path(path).is_file():
            raise ValueError(f"--images: image for camera {camera!r} not found: {path}")
        try:
            with Image.open(path) as image:
                images[camera] = np.asarray(image.convert("RGB"))
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"--images: camera {camera!r}: {path} is not a readable image ({err})") from None
    return images


def read_state(text: str | None) -> np.ndarray | None:
    """Comma-separated numbers or a .npy file -> the array as given (make_observation checks its values); None when
    no state is given."""
    if text is None:
        return None
    if text.endswith(".npy"):
        if not Path(text).is_file():
            raise ValueError(f"--state: {text} does not exist")
        try:
            return np.load(text)
        except (ValueError, OSError, EOFError) as err:
            raise ValueError(f"--state: {text} is not a readable .npy file ({err})") from None
    try:
        return np.array([float(v) for v in text.split(",")], dtype=np.float32)
    except ValueError:
        raise ValueError(f"--state must be comma-separated numbers or a .npy file, got {text!r}") from None


def usable_directory(option: str, path: Path, create: bool) -> Path:
    """`path` if it is a directory or can become one (created now when `create`); else an error naming the option."""
    require_directory_path(path, option)
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"{option} {path}: cannot create the directory ({err})") from None
    return path
