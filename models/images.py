"""Camera images -> model-ready float32 [B, 3, S, S] in [-1, 1].

Resizing follows openpi's `resize_with_pad_torch` as copied into lerobot 0.6.1
(`lerobot/policies/common/vla_utils.py`): keep the aspect ratio, bilinear with align_corners=False in the input's
own dtype (uint8 results rounded and clamped to [0, 255], float results clamped to [0, 1]), then centred black
padding. lerobot's `_preprocess_images` (`lerobot/policies/pi0/modeling_pi0.py`) then maps [0, 1] to [-1, 1].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ImageLike = np.ndarray | torch.Tensor | Image.Image

CHANNELS = 3
_NUMPY_DTYPES = (np.uint8, np.float16, np.float32, np.float64)
_LAYOUTS = "[H, W, 3], [3, H, W], [B, H, W, 3] or [B, 3, H, W]"


def _as_tensor(image: ImageLike, camera: str) -> torch.Tensor:
    if isinstance(image, Image.Image):
        image = np.asarray(image)
    if isinstance(image, np.ndarray):
        if image.dtype.type not in _NUMPY_DTYPES:
            raise ValueError(f"camera {camera!r}: unsupported image dtype {image.dtype}; "
                             f"expected uint8 in [0, 255] or float in [0, 1]")
        image = np.ascontiguousarray(image)
        return torch.from_numpy(image if image.flags.writeable else image.copy())
    if isinstance(image, torch.Tensor):
        return image
    raise ValueError(f"camera {camera!r}: expected a numpy array, torch tensor or PIL image, "
                     f"found {type(image).__name__}")


def _to_bchw(image: torch.Tensor, camera: str) -> torch.Tensor:
    """Any of the accepted layouts -> [B, 3, H, W]. A trailing axis of 3 is read as channels-last (as lerobot)."""
    if image.ndim not in (3, 4):
        raise ValueError(f"camera {camera!r}: expected an image {_LAYOUTS}, found rank {image.ndim} "
                         f"shape {tuple(image.shape)}")
    batch = image if image.ndim == 4 else image.unsqueeze(0)
    if batch.shape[-1] == CHANNELS:
        batch = batch.permute(0, 3, 1, 2)
    elif batch.shape[1] != CHANNELS:
        raise ValueError(f"camera {camera!r}: expected {CHANNELS} colour channels (RGB) in {_LAYOUTS}, "
                         f"found shape {tuple(image.shape)}")
    if batch.shape[0] == 0 or batch.shape[2] == 0 or batch.shape[3] == 0:
        raise ValueError(f"camera {camera!r}: empty image, found shape {tuple(image.shape)}")
    return batch


def _check_values(image: torch.Tensor, camera: str) -> torch.Tensor:
    """Returns the image as uint8 or float32, rejecting other dtypes and out-of-range floats."""
    if image.dtype == torch.uint8:
        return image
    if not image.is_floating_point():
        raise ValueError(f"camera {camera!r}: unsupported image dtype {image.dtype}; "
                         f"expected uint8 in [0, 255] or float in [0, 1]")
    if not torch.isfinite(image).all():
        raise ValueError(f"camera {camera!r}: image contains NaN or infinite values")
    low, high = float(image.min()), float(image.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"camera {camera!r}: float images must be in [0, 1], found values in [{low:g}, {high:g}] "
                         f"(pass 0-255 images as uint8)")
    return image.to(torch.float32)


def resize_with_pad(images_BCHW: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize to fit inside height x width keeping the aspect ratio, then pad with black, centred.

    uint8 stays uint8 (rounded, clamped to [0, 255]); float32 is clamped to [0, 1].
    """
    cur_height, cur_width = images_BCHW.shape[-2:]
    ratio = max(cur_width / width, cur_height / height)
    # int() truncation, not rounding: the resized size must match openpi's exactly.
    resized_height, resized_width = int(cur_height / ratio), int(cur_width / ratio)
    if resized_height == 0 or resized_width == 0:
        raise ValueError(f"image {cur_height}x{cur_width} is too thin to fit {height}x{width} "
                         f"(it would resize to {resized_height}x{resized_width})")
    resized = F.interpolate(images_BCHW, size=(resized_height, resized_width), mode="bilinear",
                            align_corners=False)
    if images_BCHW.dtype == torch.uint8:
        resized = torch.round(resized).clamp(0, 255).to(torch.uint8)
    else:
        resized = resized.clamp(0.0, 1.0)
    top, extra_h = divmod(height - resized_height, 2)
    left, extra_w = divmod(width - resized_width, 2)
    return F.pad(resized, (left, left + extra_w, top, top + extra_h), mode="constant", value=0)


def to_model_image(image: ImageLike, size: int, camera: str = "image") -> torch.Tensor:
    """One camera's raw image(s) -> float32 [B, 3, size, size] in [-1, 1].

    Accepts uint8 [0, 255] or float [0, 1], HWC or CHW, one image or a batch, as numpy, torch or PIL.
    Raises ValueError naming the camera on a wrong rank, channel count, dtype or value.
    """
    batch = _check_values(_to_bchw(_as_tensor(image, camera), camera), camera)
    if batch.shape[-2:] != (size, size):
        batch = resize_with_pad(batch, size, size)
    if batch.dtype == torch.uint8:
        batch = batch.to(torch.float32) / 255.0
    return (batch * 2.0 - 1.0).contiguous()


def empty_image(batch_size: int, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The slot of a missing camera: all -1 (black after scaling), as lerobot fills absent cameras."""
    return torch.full((batch_size, CHANNELS, size, size), -1.0, dtype=torch.float32, device=device)
