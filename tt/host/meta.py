"""Shape-only device tensors for the dry run: shape, dtype, layout and memory config, no data.

A MetaTensor stands where a ttnn device tensor would be. Its buffer is booked with its device's memory model while
the Python object lives and released when it is collected, as a ttnn tensor's device buffer is.
"""

from __future__ import annotations

import math
import weakref

import torch
import ttnn

from models.prepare import TILE, tile_padded
from tt.host.memory import buffer_bytes

_TORCH_DTYPES = {ttnn.uint32: torch.int64, ttnn.int32: torch.int32, ttnn.uint16: torch.int32, ttnn.uint8: torch.uint8,
                 ttnn.int8: torch.int8}


class MetaTensor:
    def __init__(self, shape, dtype, layout, memory_config, device):
        self._shape = tuple(int(d) for d in shape)
        self.dtype, self.layout, self.device_ = dtype, layout, device
        self._memory_config = memory_config
        self.footprint = buffer_bytes(self.padded_shape, dtype, layout, memory_config, device.spec)
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

    def memory_config(self):
        return self._memory_config

    def storage_type(self):
        return ttnn.StorageType.DEVICE

    def device(self):
        return self.device_

    def as_meta_torch(self) -> torch.Tensor:
        """The torch meta tensor a golden function computes on: float32 for float dtypes, as on the host path."""
        return torch.empty(self._shape, dtype=_TORCH_DTYPES.get(self.dtype, torch.float32), device="meta")

    def __repr__(self) -> str:
        config = self._memory_config
        return (f"MetaTensor({list(self._shape)}, {self.dtype.name}, {self.layout.name}, "
                f"{config.buffer_type.name}_{config.memory_layout.name})")
