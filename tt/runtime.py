"""Where TTNN ops run: a real Tenstorrent device, or the host execution path of the same ttnn package.

`open_runtime("auto")` opens the card when `/dev/tenstorrent` exists and otherwise a host runtime whose device is a
`HostDevice` (a stand-in for a Wormhole n150). Model code is the same in both modes: it calls ops through
`tt.ops.ttnn` and reads the grid from `runtime.device`. Every op call and every host<->device transfer made
through that proxy is recorded in `runtime.log`.

Host mode needs ttnn's driver layer mocked with a cluster descriptor before ttnn's first TILE conversion (without
one ttnn aborts with "No chips detected in the cluster"); `open_runtime("host")` writes the n150 descriptor below and
points TT_METAL_MOCK_CLUSTER_DESC_PATH at it. That must never happen on a machine with a card. Once ttnn has
initialised its cluster the choice is fixed for the life of the process.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import ttnn
from loguru import logger

CARD_PATH = Path("/dev/tenstorrent")
MOCK_CLUSTER_ENV = "TT_METAL_MOCK_CLUSTER_DESC_PATH"

# compute_with_storage_grid_size() of a Wormhole n150 with one command queue: the core descriptor that ships with
# ttnn 0.81.1 (ttnn/tt_metal/core_descriptors/wormhole_b0_80_arch.yaml, board "nebula_x1" = n150, row dispatch,
# 1 CQ) gives compute_with_storage_grid_range [0, 0]..[7, 7]: 8 columns x 8 rows of the 8x9 unharvested Tensix
# cores, the last row going to dispatch.
N150_GRID = (8, 8)

# A single-chip Wormhole n150 cluster descriptor that ttnn 0.81.1 accepts (one harvested Tensix row).
N150_CLUSTER_DESCRIPTOR = """\
arch:
  0: wormhole_b0
chips:
  0: [0, 0, 0, 0]
ethernet_connections: []
chips_with_mmio:
  - 0: 0
harvesting:
  0:
    noc_translation: true
    harvest_mask: 64
    dram_harvesting_mask: 0
    eth_harvesting_mask: 0
    pcie_harvesting_mask: 0
chip_to_boardtype:
  0: n150
boards:
  -
    - board_id: 72059269368820857
    - board_type: n150
    - chips:
        - 0
"""

MODES = ("auto", "device", "host")


class HostDevice:
    """Stands in for a Wormhole n150 in host mode: answers the questions model code asks a device."""

    def compute_with_storage_grid_size(self) -> ttnn.CoreCoord:
        return ttnn.CoreCoord(*N150_GRID)

    def arch(self):
        return ttnn.Arch.WORMHOLE_B0

    @property
    def core_grid(self) -> ttnn.CoreGrid:
        return ttnn.CoreGrid(y=N150_GRID[1], x=N150_GRID[0])

    def __repr__(self) -> str:
        return f"HostDevice(wormhole_b0 n150, grid {N150_GRID[0]}x{N150_GRID[1]})"


@dataclass(frozen=True)
class OpRecord:
    """One op call or transfer. `inputs` describes each tensor argument as dtype/layout[shape]@memory."""

    op: str
    kind: str  # "op" | "to_device" | "from_device"
    backend: str  # "device" (ran on the card) | "host" (host execution path)
    inputs: tuple[str, ...]
    kwargs: tuple[str, ...]
    sections: tuple[str, ...]

    def __str__(self) -> str:
        where = "/".join(self.sections) or "-"
        return f"[{where}] {self.kind} {self.op} ({self.backend}) {', '.join(self.inputs)} kw={list(self.kwargs)}"


def describe(value) -> str:
    """Brief description of a tensor argument for the op log."""
    if isinstance(value, ttnn.Tensor):
        if value.storage_type() == ttnn.StorageType.DEVICE:
            config = value.memory_config()
            memory = f"{config.buffer_type.name}_{config.memory_layout.name}"
        else:
            memory = "host"
        return f"{value.dtype.name}/{value.layout.name}{list(value.shape)}@{memory}"
    if isinstance(value, torch.Tensor):
        return f"torch.{str(value.dtype).removeprefix('torch.')}{list(value.shape)}"
    return type(value).__name__


class OpLog:
    """Every op call and every host<->device transfer made through tt.ops, in call order."""

    def __init__(self):
        self.entries: list[OpRecord] = []
        self._sections: list[str] = []

    @contextmanager
    def section(self, name: str):
        """Records made inside carry `name` (sections nest; a record carries every enclosing name)."""
        self._sections.append(name)
        try:
            yield self
        finally:
            self._sections.pop()

    def record(self, op: str, kind: str, backend: str, tensors, kwarg_names) -> OpRecord:
        entry = OpRecord(op=op, kind=kind, backend=backend, inputs=tuple(describe(t) for t in tensors),
                         kwargs=tuple(kwarg_names), sections=tuple(self._sections))
        self.entries.append(entry)
        return entry

    def count(self, kind: str | None = None, section: str | None = None, op: str | None = None) -> int:
        """Records matching every given filter; `op` matches "ttnn.linear" or just "linear"."""
        return sum(1 for e in self.entries
                   if (kind is None or e.kind == kind)
                   and (section is None or section in e.sections)
                   and (op is None or e.op == op or e.op.endswith("." + op)))

    def clear(self) -> None:
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)


@dataclass
class Runtime:
    mode: str  # "device" | "host"
    device: object  # a ttnn device, or HostDevice in host mode
    log: OpLog = field(default_factory=OpLog)


_active: Runtime | None = None


def active_runtime() -> Runtime | None:
    """The runtime opened last and not yet closed (tt.ops records into its log)."""
    return _active


def open_runtime(mode: str = "auto") -> Runtime:
    """Open the device ("device"), the host path ("host"), or whichever fits this machine ("auto": the device when
    /dev/tenstorrent exists). One runtime is open at a time."""
    global _active
    if mode not in MODES:
        raise ValueError(f"open_runtime: mode must be one of {MODES}, got {mode!r}")
    card = CARD_PATH.exists()
    if mode == "auto":
        mode = "device" if card else "host"
    if mode == "device" and not card:
        raise RuntimeError(f"open_runtime('device'): no Tenstorrent card on this machine ({CARD_PATH} does not "
                           "exist); use open_runtime('host') or open_runtime('auto')")
    if mode == "host" and card:
        raise RuntimeError(f"open_runtime('host'): a Tenstorrent card is present ({CARD_PATH}); host mode mocks "
                           "the driver and must not run beside a real card; use open_runtime('device')")
    if _active is not None:
        raise RuntimeError(f"open_runtime: a {_active.mode} runtime is already open; close_runtime() it first")
    if mode == "device":
        device = ttnn.open_device(device_id=0)
    else:
        _use_mock_cluster()
        device = HostDevice()
    _active = Runtime(mode=mode, device=device)
    logger.info("TTNN runtime opened in {} mode on {}", mode, device)
    return _active


def close_runtime(runtime: Runtime) -> None:
    """Closes the device in device mode; the runtime stops being the active one."""
    global _active
    if runtime.mode == "device":
        ttnn.close_device(runtime.device)
    if _active is runtime:
        _active = None
    logger.info("TTNN runtime closed ({} mode)", runtime.mode)


def _use_mock_cluster() -> None:
    """Write the n150 descriptor to a cache file and point ttnn at it (before ttnn's first TILE conversion)."""
    path = Path(tempfile.gettempdir()) / "vla-tt" / "n150_cluster_descriptor.yaml"
    if not path.exists() or path.read_text() != N150_CLUSTER_DESCRIPTOR:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(N150_CLUSTER_DESCRIPTOR)
        partial.replace(path)
    os.environ[MOCK_CLUSTER_ENV] = str(path)
