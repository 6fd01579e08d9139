"""Image preprocessing against lerobot 0.6.1's `resize_with_pad_torch` followed by its [0, 1] -> [-1, 1] scaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from models.images import empty_image, resize_with_pad, to_model_image

MAX_ABS_DIFF = 1e-6
SIZE = 224

SHAPES_HW = [(480, 640), (640, 480), (100, 50), (300, 1000), (37, 501), (224, 300), (64, 48), (224, 224),
             (1080, 1920)]


def lerobot_reference(images_BHWC: torch.Tensor, size: int) -> torch.Tensor:
    """lerobot: resize_with_pad_torch in the input dtype, uint8 -> [0, 1], then x * 2 - 1, as [B, 3, S, S]."""
    from lerobot.policies.common.vla_utils import resize_with_pad_torch

    resized = resize_with_pad_torch(images_BHWC, size, size)
    if resized.dtype == torch.uint8:
        resized = resized.to(torch.float32) / 255.0
    return (resized * 2.0 - 1.0).permute(0, 3, 1, 2)


def random_image(h: int, w: int, dtype: torch.dtype, batch: int = 2) -> torch.Tensor:
    if dtype == torch.uint8:
        return torch.randint(0, 256, (batch, h, w, 3), dtype=torch.uint8)
    return torch.rand(batch, h, w, 3, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32], ids=["uint8", "float32"])
@pytest.mark.parametrize("hw", SHAPES_HW, ids=[f"{h}x{w}" for h, w in SHAPES_HW])
def test_matches_lerobot_resize_with_pad(hw, dtype):
    images = random_image(*hw, dtype)
    expected = lerobot_reference(images, SIZE)
    for layout, given in (("BHWC", images), ("BCHW", images.permute(0, 3, 1, 2))):
        ours = to_model_image(given, SIZE, "base_0_rgb")
        assert ours.shape == (2, 3, SIZE, SIZE) and ours.dtype == torch.float32, layout
        diff = (ours - expected).abs().max().item()
        assert diff <= MAX_ABS_DIFF, f"{layout} {hw} {dtype}: max abs diff {diff}"


def test_other_resolution_and_single_images():
    image = random_image(300, 500, torch.uint8, batch=1)
    expected = lerobot_reference(image, 384)
    for given in (image[0], image[0].permute(2, 0, 1), image[0].numpy(), Image.fromarray(image[0].numpy())):
        assert (to_model_image(given, 384) - expected).abs().max().item() <= MAX_ABS_DIFF


def test_wider_floats_are_computed_in_float32():
    image = torch.rand(1, 120, 90, 3, dtype=torch.float64)
    expected = lerobot_reference(image.to(torch.float32), SIZE)
    assert (to_model_image(image, SIZE) - expected).abs().max().item() <= MAX_ABS_DIFF
    half = image.numpy().astype(np.float16)
    expected = lerobot_reference(torch.from_numpy(half).to(torch.float32), SIZE)
    assert (to_model_image(half, SIZE) - expected).abs().max().item() <= MAX_ABS_DIFF


def test_padding_is_black_and_centred():
    white = torch.full((1, 3, 100, 200), 255, dtype=torch.uint8)
    out = to_model_image(white, SIZE)
    # 100x200 -> 112x224, 56 rows of padding above and below.
    assert (out[:, :, :56] == -1).all() and (out[:, :, -56:] == -1).all()
    assert (out[:, :, 56:-56] == 1).all()
    odd = resize_with_pad(torch.ones(1, 3, 10, 21), SIZE, SIZE)  # -> 106x224: 59 above, 59 below
    assert odd.shape == (1, 3, SIZE, SIZE) and odd[0, 0, :, 0].nonzero().flatten().tolist() == list(range(59, 165))


def test_empty_image_is_minus_one():
    slot = empty_image(2, SIZE)
    assert slot.shape == (2, 3, SIZE, SIZE) and (slot == -1).all()


@pytest.mark.parametrize("image, message", [
    (np.zeros((32, 32, 4), np.uint8), r"camera 'wrist': expected 3 colour channels .* found shape \(32, 32, 4\)"),
    (np.zeros((1, 32, 32), np.uint8), r"camera 'wrist': expected 3 colour channels .* found shape \(1, 32, 32\)"),
    (np.zeros((32, 32), np.uint8), r"camera 'wrist': expected an image \[H, W, 3\].* found rank 2"),
    (torch.zeros(1, 1, 32, 32, 3), r"camera 'wrist': expected an image .* found rank 5"),
    (np.zeros((32, 32, 3), np.int32), r"camera 'wrist': unsupported image dtype int32; expected uint8"),
    (torch.zeros(32, 32, 3, dtype=torch.int64), r"camera 'wrist': unsupported image dtype torch.int64"),
    (torch.zeros(32, 32, 3, dtype=torch.bool), r"camera 'wrist': unsupported image dtype torch.bool"),
    (torch.full((32, 32, 3), float("nan")), r"camera 'wrist': image contains NaN or infinite values"),
    (torch.full((32, 32, 3), float("inf")), r"camera 'wrist': image contains NaN or infinite values"),
    (torch.full((32, 32, 3), 255.0), r"camera 'wrist': float images must be in \[0, 1\], found values in \[255, 255\]"),
    (torch.full((32, 32, 3), -0.5), r"camera 'wrist': float images must be in \[0, 1\]"),
    (torch.zeros(0, 32, 3), r"camera 'wrist': empty image"),
    ([[0, 0, 0]], r"camera 'wrist': expected a numpy array, torch tensor or PIL image, found list"),
    (np.zeros((1, 2000, 3), np.uint8), r"too thin"),
])
def test_bad_images_name_the_camera(image, message):
    with pytest.raises(ValueError, match=message):
        to_model_image(image, SIZE, "wrist")
