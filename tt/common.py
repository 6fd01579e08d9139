"""Weight upload and the linear layer every TT block uses.

Activations are 4D [B, 1, S, D] TILE tensors in bfloat16 (the layout nlp_create_qkv_heads and SDPA expect).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from models.prepare import linear_weight, tile_padded
from tt.host.device import spec_of
from tt.host.resources.matmul import MatmulOperands
from tt.ops import ttnn
from tt.precision import MatmulPrecision
from tt.program_configs import matmul_config
from tt.weight_cache import WeightCache


@dataclass
class CachedRuntime:
    """A runtime whose weight uploads go through an on-disk WeightCache (used while a policy is built)."""

    runtime: object
    weight_cache: WeightCache

    def __getattr__(self, name):
        return getattr(self.runtime, name)


def upload(runtime, tensor: torch.Tensor, dtype, layout=None):
    """A per-call input or constant on the device (DRAM), TILE layout unless told otherwise."""
    return ttnn.from_torch(tensor.contiguous(), dtype=dtype, layout=layout or ttnn.TILE_LAYOUT,
                           device=runtime.device, memory_config=ttnn.DRAM_MEMORY_CONFIG)


HostWeight = torch.Tensor | Callable[[], torch.Tensor]


def _made(weight: HostWeight) -> torch.Tensor:
    return weight() if callable(weight) else weight


def upload_weight(runtime, weight: HostWeight, dtype, layout=None):
    """A model weight on the device; read from / written to the runtime's WeightCache when it has one.

    `weight` is the host tensor in its TT form, or a function that makes it: pass a function when making it costs
    (a fused QKV, a scaled embedding table), so that a load from the cache skips that work too.
    """
    layout = layout or ttnn.TILE_LAYOUT
    cache = getattr(runtime, "weight_cache", None)
    if cache is None:
        return upload(runtime, _made(weight), dtype, layout)

    def convert():
        return ttnn.from_torch(_made(weight).contiguous(), dtype=dtype, layout=layout)

    return ttnn.to_device(cache.fetch(convert, dtype, layout), runtime.device,
                          memory_config=ttnn.DRAM_MEMORY_CONFIG)


def rows(x) -> int:
    """Rows the matmul sees with the batch fused: every leading dim times the tile-padded sequence."""
    shape = list(x.shape)
    lead = 1
    for d in shape[:-2]:
        lead *= d
    return lead * tile_padded(shape[-2])


class Linear:
    """act(x @ w (+ b)); w given as [in, out] (models.prepare.linear_weight), or a function making it
    (upload_weight); `activation` (a ttnn.UnaryOpType, or None) is fused into the matmul's program."""

    def __init__(self, runtime, weight_IO: HostWeight, bias: HostWeight | None, precision: MatmulPrecision,
                 weight_dtype=None, activation=None):
        self.precision, self.kernel, self.activation = precision, precision.matmul_kernel, activation
        self.grid = runtime.device.compute_with_storage_grid_size()
        self.spec = spec_of(runtime.device)
        self.weight = upload_weight(runtime, weight_IO, weight_dtype or precision.matrix_dtype)
        self.k, self.n = self.weight.shape[-2], self.weight.shape[-1]
        self.bias = None if bias is None else upload_weight(runtime, lambda: _made(bias).reshape(1, -1),
                                                            ttnn.bfloat16)

    def program_config(self, x, activation, bias):
        operands = MatmulOperands(x.dtype, self.weight.dtype, self.precision.activation_dtype,
                                  self.kernel.fp32_dest_acc_en, self.kernel.packer_l1_acc,
                                  None if bias is None else bias.dtype)
        return matmul_config(rows(x), self.k, self.n, self.grid, self.spec, operands,
                             self.kernel.math_fidelity.name, activation)

    def __call__(self, x, bias=None, activate: bool = True):
        """`bias` ([1, 1, 1, n] on the device) in place of the layer's own: a per-call term the matmul adds;
        activate=False: x @ w (+ b) without the fused activation (a backward pass needs the pre-activation)."""
        activation = self.activation if activate else None
        bias = self.bias if bias is None else bias
        return ttnn.linear(x, self.weight, bias=bias, program_config=self.program_config(x, activation, bias),
                           compute_kernel_config=self.kernel, dtype=self.precision.activation_dtype,
                           memory_config=ttnn.DRAM_MEMORY_CONFIG)


def scoped(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The part of a state dict under `prefix`, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


class GatedMLP:
    """down(act(gate(x)) * up(x)), act fused into the gate projection; the family's subclass names act (the fused
    ttnn.UnaryOpType, and `activate`, the standalone op a backward pass applies to the pre-activation)."""

    activation = None

    def activate(self, gate):
        raise NotImplementedError

    def __init__(self, runtime, w: dict, precision: MatmulPrecision):
        self.gate_proj = Linear(runtime, linear_weight(w["gate_proj.weight"]), None, precision,
                                activation=self.activation)
        self.up_proj = Linear(runtime, linear_weight(w["up_proj.weight"]), None, precision)
        self.down_proj = Linear(runtime, linear_weight(w["down_proj.weight"]), None, precision)

    def __call__(self, x):
        return self.down_proj(ttnn.multiply(self.gate_proj(x), self.up_proj(x)))
