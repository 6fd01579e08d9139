"""Device memory as the host path models it: how many bytes a tensor's buffer takes in DRAM or in each core's L1,
and the live buffers of a dry run with their peaks.

Buffers are laid out as tt-metal's allocator lays them out (tt_metal/impl/buffers/buffer.cpp, allocator/):
- a page is one tile in TILE layout, one row in ROW_MAJOR layout, rounded up to the buffer type's alignment;
- an interleaved buffer puts its pages round-robin over the banks (DRAM: the chip's DRAM banks; L1: one bank per
  worker core) and reserves the same address range in every bank, ceil(pages / banks) pages each;
- a sharded buffer holds one shard per core of its shard grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ttnn

from models.prepare import TILE
from tt.host.errors import RuleViolation

if TYPE_CHECKING:
    from tt.host.device import DeviceSpec

# Bytes of one 32x32 tile per data format (tt-metal tt::tile_size; bfloat8_b / bfloat4_b: 1024 / 512 mantissa
# bytes plus 64 bytes of shared exponents, one per 16-value row of a face).
TILE_BYTES = {ttnn.bfloat16: 2048, ttnn.float32: 4096, ttnn.bfloat8_b: 1088, ttnn.bfloat4_b: 576,
              ttnn.uint32: 4096, ttnn.int32: 4096, ttnn.uint16: 2048, ttnn.uint8: 1024, ttnn.int8: 1024}
ELEMENT_BYTES = {ttnn.bfloat16: 2, ttnn.float32: 4, ttnn.uint32: 4, ttnn.int32: 4, ttnn.uint16: 2, ttnn.uint8: 1,
                 ttnn.int8: 1}


def tiled_bytes(padded_shape, dtype) -> int:
    """Bytes of a TILE-layout tensor of this padded shape and data format."""
    return math.prod(padded_shape) // (TILE * TILE) * TILE_BYTES[dtype]


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def page_bytes(padded_shape, dtype, layout) -> int:
    if layout == ttnn.TILE_LAYOUT:
        return TILE_BYTES[dtype]
    return list(padded_shape)[-1] * ELEMENT_BYTES[dtype]


@dataclass(frozen=True)
class Footprint:
    """What one buffer takes: DRAM bytes of the chip, and L1 bytes in the core that holds most of it."""

    dram: int = 0
    l1_per_core: int = 0


def buffer_bytes(padded_shape, dtype, layout, memory_config, spec: DeviceSpec) -> Footprint:
    shape = list(padded_shape)
    in_dram = memory_config.buffer_type == ttnn.BufferType.DRAM
    alignment = spec.dram_alignment if in_dram else spec.l1_alignment
    page = _round_up(page_bytes(shape, dtype, layout), alignment)
    if memory_config.is_sharded():
        shard = memory_config.shard_spec.shape
        if layout == ttnn.TILE_LAYOUT:
            per_core = (shard[0] // TILE) * (shard[1] // TILE) * page
        else:
            per_core = shard[0] * _round_up(shard[1] * ELEMENT_BYTES[dtype], alignment)
        return Footprint(dram=per_core * memory_config.shard_spec.grid.num_cores()) if in_dram \
            else Footprint(l1_per_core=per_core)
    pages = math.prod(shape) // (TILE * TILE) if layout == ttnn.TILE_LAYOUT else math.prod(shape[:-1])
    banks = spec.dram_banks if in_dram else spec.cores
    per_bank = -(-pages // banks) * page
    return Footprint(dram=per_bank * banks) if in_dram else Footprint(l1_per_core=per_bank)


class MemoryModel:
    """The live buffers of one modelled device and their peaks; an allocation that does not fit is refused as the
    allocator refuses it (tt_metal/impl/allocator/bank_manager.cpp), fragmentation aside."""

    def __init__(self, spec: DeviceSpec, reserved_dram: int = 0):
        self.spec = spec
        self.dram_capacity = spec.dram_bytes - reserved_dram  # a trace region is carved out of DRAM
        self.dram = self.l1_per_core = 0
        self.peak_dram = self.peak_l1_per_core = 0

    def allocate(self, footprint: Footprint) -> Footprint:
        spec = self.spec
        if self.dram + footprint.dram > self.dram_capacity:
            banks = spec.dram_banks
            raise RuleViolation(f"Out of Memory: Not enough space to allocate {footprint.dram} B DRAM buffer across "
                                f"{banks} banks, where each bank needs to store {footprint.dram // banks} B, but "
                                f"only {(self.dram_capacity - self.dram) // banks} B are free in each bank")
        if self.l1_per_core + footprint.l1_per_core > spec.l1_budget:
            raise RuleViolation(f"Out of Memory: Not enough space to allocate {footprint.l1_per_core * spec.cores} B "
                                f"L1 buffer across {spec.cores} banks, where each bank needs to store "
                                f"{footprint.l1_per_core} B, but only {spec.l1_budget - self.l1_per_core} B are free "
                                "in each bank")
        self.dram += footprint.dram
        self.l1_per_core += footprint.l1_per_core
        self.peak_dram = max(self.peak_dram, self.dram)
        self.peak_l1_per_core = max(self.peak_l1_per_core, self.l1_per_core)
        return footprint

    def release(self, footprint: Footprint) -> None:
        self.dram -= footprint.dram
        self.l1_per_core -= footprint.l1_per_core
