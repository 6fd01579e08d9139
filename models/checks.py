"""Checks shared by every entry point that takes user input, and the one-time warnings they give.

Every check raises ValueError naming the field (camera, file) it is about, what it expects and what it found.
"""

from __future__ import annotations

import functools
import numbers
from pathlib import Path

import numpy as np
import torch
from loguru import logger

_NUMPY_NUMERIC = "biuf"  # numpy dtype kinds that map onto torch dtypes: bool, signed, unsigned, float


@functools.cache
def warn_once(message: str) -> None:
    """Log a warning the first time this exact message comes up in the process (a control loop would repeat it)."""
    logger.warning(message)


def described(value) -> str:
    """What a wrong value is, for an error message: "None", "int 5", "list", "a float32 tensor (1, 3)"."""
    if value is None:
        return "None"
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} numpy array {value.shape}"
    if isinstance(value, (numbers.Number, str, bytes)):
        return f"{type(value).__name__} {value!r:.60}"
    return type(value).__name__


def dtype_name(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def as_tensor(value, field: str) -> torch.Tensor:
    """A torch tensor as it is, a numeric numpy array as a tensor sharing its memory; anything else is an error."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in _NUMPY_NUMERIC:
        return torch.from_numpy(np.ascontiguousarray(value) if value.flags.writeable else value.copy())
    raise ValueError(f"{field} must be a torch tensor (or a numeric numpy array), found {described(value)}")


def as_mask(value, field: str) -> torch.Tensor:
    """A bool tensor; integer 0/1 values are converted, anything else is an error."""
    mask = as_tensor(value, field)
    if mask.dtype == torch.bool:
        return mask
    if mask.is_floating_point() or mask.is_complex():
        raise ValueError(f"{field} must be bool (or 0/1 integers), found dtype {dtype_name(mask)}")
    if mask.numel() and not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(f"{field} must be bool (or 0/1 integers), found values in "
                         f"[{int(mask.min())}, {int(mask.max())}]")
    return mask.bool()


def require_float(tensor: torch.Tensor, field: str, what: str = "", hint: str = "") -> None:
    """`what` follows "must be a float tensor" (e.g. " in [-1, 1]"); `hint` follows the dtype found."""
    if not tensor.is_floating_point():
        raise ValueError(f"{field} must be a float tensor{what}, found dtype {dtype_name(tensor)}{hint}")


def require_finite(tensor: torch.Tensor, field: str) -> None:
    bad = ~torch.isfinite(tensor)
    if bool(bad.any()):
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"{field} contains NaN or infinite values ({int(bad.sum())} of {tensor.numel()}, the first "
                         f"at index {list(first)}: {float(tensor[first])})")


def positive_int(value, field: str) -> int:
    """A Python or numpy integer > 0 as int; bools, floats and strings are errors."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{field} must be a positive integer, found {described(value)}")
    if value <= 0:
        raise ValueError(f"{field} must be a positive integer, found {int(value)}")
    return int(value)


def require_directory_path(path: Path, field: str) -> None:
    """`path` is a directory, or the nearest of its parents that exists is one (so that it can be created)."""
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        where = "" if existing == path else f" ({existing} is a file)"
        raise ValueError(f"{field} {path} is not a directory{where}")


_LISTED = 8  # indices spelled out in a message; the rest are counted


def _listed(noun: str, indices) -> str:
    indices = [int(i) for i in indices]
    shown = ", ".join(map(str, indices[:_LISTED]))
    more = f" and {len(indices) - _LISTED} more" if len(indices) > _LISTED else ""
    return f"{noun}{'s' if len(indices) > 1 else ''} {shown}{more}"


def dims_phrase(dims) -> str:
    """[3] -> "dim 3", [3, 5] -> "dims 3, 5"."""
    return _listed("dim", dims)


def rows_phrase(rows) -> str:
    """[1] -> "batch element 1", [0, 2] -> "batch elements 0, 2"."""
    return _listed("batch element", rows)
