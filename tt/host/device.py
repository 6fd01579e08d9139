"""The devices the host path stands in for: what model code asks a device, and the limits the host path enforces.

Every figure names its source. "shipped" means a file inside the ttnn 0.81.1 wheel
(site-packages/ttnn/tt_metal/...), so it is the version the project pins.
"""

from __future__ import annotations

from dataclasses import dataclass

import ttnn

from tt.host.memory import MemoryModel
from tt.host.trace import TRACE_REGION_BYTES, HostTraces

GIB = 1 << 30


@dataclass(frozen=True)
class DeviceSpec:
    """One Tenstorrent chip as the host path models it."""

    name: str
    arch: object  # ttnn.Arch
    grid: tuple[int, int]  # compute_with_storage_grid_size (x, y)
    l1_bytes: int  # per Tensix core
    l1_unreserved_base: int  # first L1 byte that circular buffers and L1 buffers may use
    dram_banks: int
    dram_bytes: int  # per chip, what the allocator can hand out
    dram_bandwidth: float  # bytes per second, per chip
    clock_hz: float
    dram_alignment: int  # bytes; an interleaved DRAM page is rounded up to it
    l1_alignment: int

    @property
    def cores(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def l1_budget(self) -> int:
        """Bytes per core that circular buffers and L1 tensors share."""
        return self.l1_bytes - self.l1_unreserved_base

    def __str__(self) -> str:
        return f"{self.name} ({self.arch.name.lower()}, grid {self.grid[0]}x{self.grid[1]})"


# Sources:
# - grids: shipped core_descriptors/wormhole_b0_80_arch.yaml (nebula_x1 = n150, row dispatch: 8x8; nebula_x2 = one
#   n300 chip, Tensix dispatch: compute_with_storage_grid_range [0,0]..[7,6] = 8x7) and blackhole_140_arch.yaml
#   (unharvested p150, column dispatch: [0,0]..[12,9] = 13x10).
# - L1: shipped hw/inc/internal/tt-1xx/{wormhole,blackhole}/dev_mem_map.h, MEM_L1_SIZE (1464 KiB / 1536 KiB); the
#   unreserved base, where static buffers start, is the HAL's DEFAULT_UNRESERVED: MEM_MAP_END (35168 / 41088 B,
#   from the same header) plus the 69 KiB kernel config region, aligned up to max(DRAM, L1 alignment)
#   (llrt/hal/tt-1xx/{wormhole,blackhole}/*_hal_tensix.cpp); the 0.81.1 binary carries the 0x11400 and both
#   MEM_MAP_END constants.
# - DRAM banks and bytes: shipped soc_descriptors/wormhole_b0_80_arch.yaml (12 dram_views of dram_view_size
#   1073741824 B) and blackhole_140_arch.yaml (8 dram_views of 4278190080 B). Bandwidth: docs.tenstorrent.com card
#   specifications (n150 288 GB/s; n300 288 GB/s per chip; p150 512 GB/s). Clocks: Wormhole 1 GHz, Blackhole
#   1.35 GHz (same).
# - alignment: tt-metal HAL (llrt/hal/tt-1xx/{wormhole,blackhole}/*_hal.cpp): DRAM 32 B on Wormhole, 64 B on
#   Blackhole; L1 16 B on both.
WORMHOLE_L1 = 1464 * 1024
BLACKHOLE_L1 = 1536 * 1024
KERNEL_CONFIG_BYTES = 69 * 1024
WORMHOLE_L1_UNRESERVED_BASE = -(-(35168 + KERNEL_CONFIG_BYTES) // 32) * 32  # 105824
BLACKHOLE_L1_UNRESERVED_BASE = -(-(41088 + KERNEL_CONFIG_BYTES) // 64) * 64  # 111744

DEVICES = {
    "n150": DeviceSpec("n150", ttnn.Arch.WORMHOLE_B0, (8, 8), WORMHOLE_L1, WORMHOLE_L1_UNRESERVED_BASE, 12, 12 * GIB,
                       288e9, 1.0e9, 32, 16),
    "n300": DeviceSpec("n300", ttnn.Arch.WORMHOLE_B0, (8, 7), WORMHOLE_L1, WORMHOLE_L1_UNRESERVED_BASE, 12, 12 * GIB,
                       288e9, 1.0e9, 32, 16),
    "p150": DeviceSpec("p150", ttnn.Arch.BLACKHOLE, (13, 10), BLACKHOLE_L1, BLACKHOLE_L1_UNRESERVED_BASE, 8,
                       8 * 4278190080,
                       512e9, 1.35e9, 64, 16),
}
GRIDS = {f"{spec.grid[0]}x{spec.grid[1]}": name for name, spec in DEVICES.items()}


def device_spec(name: str) -> DeviceSpec:
    try:
        return DEVICES[name]
    except KeyError:
        raise ValueError(f"unknown device {name!r}; modelled devices: {', '.join(DEVICES)}") from None


def spec_of(device) -> DeviceSpec:
    """The modelled chip of a device: a HostDevice's own, or for a real card the modelled chip of its architecture
    with the card's grid."""
    if isinstance(device, HostDevice):
        return device.spec
    grid = device.compute_with_storage_grid_size()
    same_arch = [spec for spec in DEVICES.values() if spec.arch == device.arch()]
    if not same_arch:
        raise ValueError(f"no modelled device has the architecture {device.arch()}")
    return next((spec for spec in same_arch if spec.grid == (grid.x, grid.y)), same_arch[0])


class HostDevice:
    """Stands in for a chip on the host path: answers what model code asks a device, books its buffers (memory),
    and holds its traces and command queues (traces). With `shapes_only`, its tensors carry shape, dtype, layout and
    memory config but no data (the dry run). It is opened as tt.runtime opens a card: two command queues and a
    trace region carved out of DRAM."""

    def __init__(self, spec: DeviceSpec, shapes_only: bool = False):
        self.spec, self.shapes_only = spec, shapes_only
        self.memory = MemoryModel(spec, reserved_dram=TRACE_REGION_BYTES)
        self.traces = HostTraces()

    def compute_with_storage_grid_size(self) -> ttnn.CoreCoord:
        return ttnn.CoreCoord(*self.spec.grid)

    def arch(self):
        return self.spec.arch

    @property
    def core_grid(self) -> ttnn.CoreGrid:
        return ttnn.CoreGrid(y=self.spec.grid[1], x=self.spec.grid[0])

    def __repr__(self) -> str:
        kind = "shapes only" if self.shapes_only else "host values"
        return f"HostDevice({self.spec}, {kind})"
