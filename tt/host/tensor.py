"""The device tensors of the host path.

A HostTensor stands where a ttnn device tensor would be: its spec (shape, dtype, layout, memory config) on a modelled
device, its buffer booked with that device's memory model while the object lives (released when it is collected,
as a ttnn device buffer is), and its value -- a ttnn host tensor, so rounding and packing are ttnn's own -- or None:
in a shape-only run (the dry run), and for a buffer a trace capture allocated until execute_trace writes it.
In-place ops and host writes (fill_cache, copy_host_to_device_tensor, trace replay) replace the value, never the
object, as they write into the same device buffer.
"""

from __future__ import annotations

import math
import weakref

import torch
import ttnn

from models.prepare import TILE, tile_padded
from tt.host.errors import RuleViolation
from tt.host.memory import buffer_bytes

_TORCH_DTYPES = {ttnn.uint32: torch.int64, ttnn.int32: torch.int32, ttnn.uint16: torch.int32, ttnn.uint8: torch.uint8,
                 ttnn.int8: torch.int8}


class HostTensor:
    def __init__(self, shape, dtype, layout, memory_config, device, value=None, view_of: "HostTensor | None" = None):
        """view_of: the tensor whose buffer this one views (a zero-cost reshape): it books no memory of its own and
        keeps that buffer alive, as a ttnn view shares its input's buffer."""
        self._shape = tuple(int(d) for d in shape)
        self.dtype, self.layout, self.device_ = dtype, layout, device
        self._memory_config = memory_config
        self._value = value
        self.footprint = buffer_bytes(self.padded_shape, dtype, layout, memory_config, device.spec)
        self._viewed = view_of  # keeps the viewed buffer booked while this view lives
        if view_of is None:
            weakref.finalize(self, device.memory.release, device.memory.allocate(self.footprint))

    @property
    def shape_tuple(self) -> tuple[int, ...]:
        return self._shape

    @property
    def shape(self) -> ttnn.Shape:
        return ttnn.Shape(list(self._shape))

    @property
    def padded_shape(self) -> ttnn.Shape:
        if self.layout != ttnn.TILE_LAYOUT or not self._shape:
            return ttnn.Shape(list(self._shape))
        *lead, h, w = (1, *self._shape) if len(self._shape) == 1 else self._shape
        return ttnn.Shape([*lead, tile_padded(h), tile_padded(w)])

    @property
    def tiles(self) -> int:
        return math.prod(self.padded_shape) // (TILE * TILE)

    @property
    def value(self):
        """The ttnn host tensor holding the device buffer's contents, or None (shape only / not yet written)."""
        return self._value

    def assign(self, value) -> None:
        """Write `value` (a ttnn host tensor of this spec) into the buffer."""
        if tuple(value.shape) != self._shape or value.dtype != self.dtype or value.layout != self.layout:
            raise RuleViolation(f"writing a {value.dtype.name}/{value.layout.name}{list(value.shape)} tensor into a "
                                f"{self.dtype.name}/{self.layout.name}{list(self._shape)} device buffer")
        self._value = value

    def meta(self) -> torch.Tensor:
        """A torch meta tensor of this shape, for computing on shapes alone."""
        return torch.empty(self._shape, dtype=_TORCH_DTYPES.get(self.dtype, torch.float32), device="meta")

    def torch(self) -> torch.Tensor:
        """The contents as torch, float32 for float dtypes (as goldens take them)."""
        if self._value is None:
            raise RuleViolation(f"reading a device buffer that holds no value yet ({self}): a buffer a trace capture "
                                "allocated is written by execute_trace")
        t = ttnn.to_torch(self._value)
        return t.float() if t.is_floating_point() else t

    def memory_config(self):
        return self._memory_config

    def storage_type(self):
        return ttnn.StorageType.DEVICE

    def device(self):
        return self.device_

    def __repr__(self) -> str:
        config = self._memory_config
        state = "shape only" if self._value is None else "with value"
        return (f"HostTensor({list(self._shape)}, {self.dtype.name}, {self.layout.name}, "
                f"{config.buffer_type.name}_{config.memory_layout.name}, {state})")


def tensors_in(value):
    """The ttnn and host-path tensors in an argument value (a tensor, or a list or tuple of them, nested)."""
    if isinstance(value, (ttnn.Tensor, HostTensor)):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from tensors_in(item)
