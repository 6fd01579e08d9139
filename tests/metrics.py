"""The one comparison helper every parity test uses: prints PCC and max abs diff, then asserts."""

from __future__ import annotations

import torch

from models.metrics import pcc


def compare(name: str, actual: torch.Tensor, expected: torch.Tensor, *, max_abs: float | None = None,
            min_pcc: float | None = None) -> tuple[float, float]:
    """Print and check the agreement of two tensors of the same shape; returns (max abs diff, PCC)."""
    assert actual.shape == expected.shape, f"{name}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert torch.isfinite(actual).all(), f"{name}: non-finite values in the result"
    diff = float((actual.double() - expected.double()).abs().max())
    corr = pcc(actual, expected)
    print(f"[parity] {name}: max_abs_diff={diff:.3e} pcc={corr:.7f}")
    if max_abs is not None:
        assert diff <= max_abs, f"{name}: max abs diff {diff:.3e} > {max_abs:.1e} (pcc {corr:.7f})"
    if min_pcc is not None:
        assert corr >= min_pcc, f"{name}: pcc {corr:.7f} < {min_pcc} (max abs diff {diff:.3e})"
    return diff, corr
