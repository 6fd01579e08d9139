"""The non-finite scan (models/checkpoint/validation.py) finds every NaN and infinity bit pattern of each accepted
dtype at any position, in tensors small enough for one thread and large enough for torch's parallel reduction, and
counts them exactly; the largest finite values and subnormals pass, also where their sum overflows."""

from __future__ import annotations

import pytest
import torch

from models.checkpoint.validation import count_nonfinite

# dtype -> (same-width integer view, exponent mask, mantissa bits, finite extremes as bit patterns)
FORMATS = {
    torch.bfloat16: (torch.int16, 0x7F80, 7, (0x7F7F, 0xFF7F, 0x0001, 0x8001)),
    torch.float16: (torch.int16, 0x7C00, 10, (0x7BFF, 0xFBFF, 0x0001, 0x8001)),
    torch.float32: (torch.int32, 0x7F800000, 23, (0x7F7FFFFF, 0xFF7FFFFF, 0x00000001, 0x80000001)),
}
SIZES = (1, 33, 200_003)  # the last spans several of torch's parallel grains


def _signed(pattern: int, bits: int) -> int:
    return pattern - (1 << bits) if pattern >= 1 << (bits - 1) else pattern


def _nonfinite_patterns(dtype: torch.dtype) -> list[int]:
    view, mask, mantissa_bits, _ = FORMATS[dtype]
    bits = torch.iinfo(view).bits
    mantissas = range(1 << mantissa_bits) if mantissa_bits <= 10 else (0, 1, 2, 0x400000, 0x2AAAAA, 0x7FFFFF)
    return [_signed(sign << (bits - 1) | mask | m, bits) for sign in (0, 1) for m in mantissas]


@pytest.mark.parametrize("dtype", FORMATS, ids=str)
def test_every_nonfinite_pattern_is_found(dtype):
    generator = torch.Generator().manual_seed(5)
    view = FORMATS[dtype][0]
    patterns = _nonfinite_patterns(dtype)
    for size in SIZES:
        base = (torch.randn(size, generator=generator) * 100).to(dtype)
        assert count_nonfinite(base) == 0
        positions = torch.randint(size, (len(patterns),), generator=generator).tolist()
        for pattern, position in zip(patterns, positions):
            original = base.view(view)[position].item()
            base.view(view)[position] = pattern
            assert count_nonfinite(base) == 1, f"{dtype} size {size}: bits {pattern & 0xFFFFFFFF:#x} at {position}"
            base.view(view)[position] = original


@pytest.mark.parametrize("dtype", FORMATS, ids=str)
def test_counts_and_finite_extremes(dtype):
    view, _, _, extremes = FORMATS[dtype]
    bits = torch.iinfo(view).bits
    tensor = torch.zeros(SIZES[-1], dtype=dtype)
    tensor.view(view)[:len(extremes)] = torch.tensor([_signed(e, bits) for e in extremes], dtype=view)
    assert count_nonfinite(tensor) == 0  # largest finite magnitudes and subnormals of both signs
    overflowing = tensor.clone()
    overflowing.view(view)[:4] = _signed(extremes[0], bits)  # finite, but their sum is not
    assert not torch.isfinite(overflowing.sum()) and count_nonfinite(overflowing) == 0
    tensor[[7, 1000, 99_999, SIZES[-1] - 1]] = torch.tensor([float("nan"), float("inf"), float("-inf"), float("nan")],
                                                           dtype=dtype)
    assert count_nonfinite(tensor) == 4
    assert count_nonfinite(torch.empty(0, 3, dtype=dtype)) == 0
