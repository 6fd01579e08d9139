"""What an op's compute kernel runs with (fidelity phases, Dst width, packer L1 accumulation, approximate SFPU
modes), the values of its tensor arguments, and how its result leaves Dst through the packer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import ttnn

from tt.host.errors import NumericsNotModelled
from tt.host.tensor import HostTensor
from tt.host.numerics.formats import BFP4_MAGNITUDE, BFP8_MAGNITUDE, block_float, to_bf16
from tt.host.numerics.fpu import PHASES


@dataclass(frozen=True)
class ComputeConfig:
    phases: tuple[int, ...]
    fp32_dest: bool
    packer_l1_acc: bool
    approx: bool

    @classmethod
    def of(cls, call) -> "ComputeConfig":
        """From the call's compute_kernel_config. ttnn fills a missing one with per-op, per-arch defaults (changed
        on Wormhole by tt-metal#40089 for fp32 accumulation) that are not modelled, so one must be given."""
        config = call.arguments.get("compute_kernel_config")
        if config is None:
            raise NumericsNotModelled(f"{call.op}: device numerics need an explicit compute_kernel_config (the "
                                      "default ttnn fills in for this op is not modelled)")
        return cls(PHASES[config.math_fidelity.name], bool(config.fp32_dest_acc_en), bool(config.packer_l1_acc),
                   bool(config.math_approx_mode))


def values(tensor) -> torch.Tensor:
    """A device tensor's values (a tt.host.HostTensor, or a ttnn host tensor) as float32, each exactly representable
    in the tensor's dtype."""
    return tensor.torch().float() if isinstance(tensor, HostTensor) else ttnn.to_torch(tensor).float()


def is_fp32(tensor) -> bool:
    return tensor is not None and tensor.dtype == ttnn.float32


def pack(x: torch.Tensor, dtype) -> torch.Tensor:
    """The packer's conversion of Dst values into an output of `dtype` (see formats.py for its rules)."""
    if dtype == ttnn.bfloat16:
        return to_bf16(x)
    if dtype == ttnn.bfloat8_b:
        return block_float(x, BFP8_MAGNITUDE)
    if dtype == ttnn.bfloat4_b:
        return block_float(x, BFP4_MAGNITUDE)
    return x
