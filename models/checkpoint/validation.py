"""Every problem a checkpoint has, one line each naming the tensor, found before any weight is loaded.

Tensor contents: each tensor's dtype must be float32, bfloat16 or float16, and every value finite. The non-finite
scan is one read of each mapped tensor: its sum. A NaN or infinity anywhere makes the sum NaN or infinite, so a
finite sum proves the tensor finite; a non-finite sum (a bad value, or finite values whose sum overflows) sends the
tensor to the exact count, which is slow but only ever makes the answer exact (float16 sums past 65504 overflow, so
a large float16 tensor may take that path). The sum is vectorised and runs on torch's threads at memory speed
(~40 GiB/s on this project's 2-core machines, bfloat16 included; `torch.aminmax` manages ~22 on bfloat16,
`torch.isfinite(t).all()` ~0.5).
"""

from __future__ import annotations

import torch

from .files import WeightFiles
from .layout import KeyMapping

ACCEPTED_DTYPES = ("F32", "BF16", "F16")


def count_nonfinite(tensor: torch.Tensor) -> int:
    if torch.isfinite(tensor.sum()):  # an empty tensor sums to 0
        return 0
    return tensor.numel() - int(torch.isfinite(tensor).sum())


def content_problems(files: WeightFiles) -> list[str]:
    """Unsupported dtypes and non-finite values, over every tensor of every file (ignored ones included)."""
    problems = []
    for file in files.files:
        for entry in sorted(file.entries.values(), key=lambda e: e.begin):  # file order: sequential reads
            if entry.dtype not in ACCEPTED_DTYPES:
                problems.append(f"unsupported dtype {entry.name}: {entry.dtype} "
                                f"(accepted: {', '.join(ACCEPTED_DTYPES)})")
            elif bad := count_nonfinite(file.tensor(entry.name)):
                problems.append(f"non-finite {entry.name}: {bad} of {entry.numel} values are NaN or infinite")
    return problems


def structure_problems(mapping: KeyMapping, found: dict[str, tuple[int, ...]],
                       expected: dict[str, tuple[int, ...]]) -> list[str]:
    """Keys that belong nowhere, layout-level problems, and missing, unexpected or misshapen parameters."""
    problems = [f"unexpected tensor {key!r}: not part of a {mapping.layout} checkpoint" for key in mapping.unmapped]
    problems += mapping.problems
    problems += [f"missing {mapping.describe(name)}" for name in expected if name not in found]
    problems += [f"unexpected {mapping.describe(name)}" for name in found if name not in expected]
    problems += [f"shape {name}: expected {expected[name]}, found {found[name]}"
                 + ("" if mapping.tensors[name].key == name else f" (checkpoint key {mapping.tensors[name].key!r})")
                 for name in found if name in expected and tuple(found[name]) != tuple(expected[name])]
    return problems
