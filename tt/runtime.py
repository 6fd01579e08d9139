"""Where TTNN ops run: a real Tenstorrent device, or the host path of the same ttnn package (tt.host).

- `open_runtime("auto")` opens the card when `/dev/tenstorrent` exists and otherwise a host runtime whose device
  is a `tt.host.HostDevice` standing in for a chip (a Wormhole n150 unless told otherwise): ops run Tenstorrent's
  golden functions on host values after every check a card would make.
- `dry_runtime(device)` is the shape-only host path: tensors carry shape, dtype, layout and memory config but no
  data, so the unchanged model code runs at full size in seconds (tt.dry_run). It nests inside whichever runtime is
  open and gives it back on exit.

Model code is the same in every mode: it calls ops through `tt.ops.ttnn` and reads the grid from
`runtime.device`. Ops and transfers are recorded only inside `runtime.recording()`.

A host runtime computes with its `numerics` (tt.host.numerics): "exact" (each op's golden in float32) or "device"
(what the Tensix hardware computes: math fidelity, accumulation, packer rounding). On a card the card computes, and
the setting has no effect.

Host mode needs ttnn's driver layer mocked with a cluster descriptor before ttnn's first TILE conversion (without
one ttnn aborts with "No chips detected in the cluster"); `open_runtime("host")` writes the n150 descriptor below and
points TT_METAL_MOCK_CLUSTER_DESC_PATH at it. That must never happen on a machine with a card. Once ttnn has
initialised its cluster the choice is fixed for the life of the process.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ttnn
from loguru import logger

from tt.host.device import HostDevice, device_spec
from tt.host.tensor import HostTensor
from tt.host.trace import COMMAND_QUEUES, TRACE_REGION_BYTES
from tt.host.numerics import check as check_numerics
from tt.oplog import OpLog, OpRecord, TensorInfo, describe

CARD_PATH = Path("/dev/tenstorrent")
MOCK_CLUSTER_ENV = "TT_METAL_MOCK_CLUSTER_DESC_PATH"

# A single-chip Wormhole n150 cluster descriptor that ttnn 0.81.1 accepts (one harvested Tensix row). It only lets
# ttnn's host code (tile conversion, packing) run; the modelled device is chosen separately.
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


class Runtime:
    """An open device (or its host stand-in), the numerics the host path computes with, the section names in force,
    and the recordings in progress."""

    def __init__(self, mode: str, device, numerics: str = "exact"):
        self.mode = mode  # "device" | "host" | "dry"
        self.device = device
        self.numerics = check_numerics(numerics)
        self._sections: list[str] = []
        self._logs: list[OpLog] = []

    @property
    def label(self) -> str:
        """What computes the values: "device", "host/exact", "host/device" (numerics) or "dry"."""
        return f"host/{self.numerics}" if self.mode == "host" else self.mode

    @contextmanager
    def using_numerics(self, numerics: str) -> Iterator[None]:
        """Host ops inside the block compute with `numerics`; the runtime's own numerics return afterwards."""
        previous, self.numerics = self.numerics, check_numerics(numerics)
        try:
            yield
        finally:
            self.numerics = previous

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Records made inside carry `name` (sections nest; a record carries every enclosing name)."""
        self._sections.append(name)
        try:
            yield
        finally:
            self._sections.pop()

    @contextmanager
    def recording(self) -> Iterator[OpLog]:
        """Records every op and transfer made until the block ends into the log it yields (recordings nest)."""
        log = OpLog()
        self._logs.append(log)
        try:
            yield log
        finally:
            self._logs.remove(log)

    @property
    def recording_active(self) -> bool:
        return bool(self._logs)

    @property
    def sections(self) -> tuple[str, ...]:
        return tuple(self._sections)

    def record(self, op: str, kind: str, backend: str, tensors, kwargs: dict, call_site: str, usage=None,
               results=(), traced: bool = False, sections: tuple[str, ...] | None = None) -> None:
        memory = getattr(self.device, "memory", None)
        device_tensors = [t for t in tensors if isinstance(t, (ttnn.Tensor, HostTensor))]
        entry = OpRecord(op=op, kind=kind, backend=backend, inputs=tuple(describe(t) for t in tensors),
                         kwargs=tuple(kwargs), sections=self.sections if sections is None else sections,
                         call_site=call_site,
                         programs=None if usage is None else usage.programs,
                         cb_bytes=None if usage is None else usage.cb_bytes,
                         cores=None if usage is None else usage.cores,
                         cost=None if usage is None else usage.cost,
                         dram_bytes=None if memory is None else memory.dram,
                         l1_bytes=None if memory is None else memory.l1_per_core,
                         operands=tuple(TensorInfo.of(t) for t in device_tensors),
                         results=tuple(TensorInfo.of(t) for t in results),
                         traced=traced, program_config=None if kwargs.get("program_config") is None
                         else repr(kwargs["program_config"]))
        for log in self._logs:
            log.entries.append(entry)

    def __repr__(self) -> str:
        return f"Runtime({self.label}, {self.device})"


_open: list[Runtime] = []  # the opened runtime, then any dry runtimes nested inside it


def active_runtime() -> Runtime | None:
    """The runtime that model code's ops record into: the innermost open one."""
    return _open[-1] if _open else None


def open_runtime(mode: str = "auto", device: str = "n150", numerics: str = "exact") -> Runtime:
    """Open the card ("device"), the host path ("host") standing in for `device` (n150, n300 or p150), or whichever
    fits this machine ("auto": the card when /dev/tenstorrent exists). One such runtime is open at a time. The host
    path computes with `numerics` ("exact" or "device"); a card ignores it."""
    if mode not in MODES:
        raise ValueError(f"open_runtime: mode must be one of {MODES}, got {mode!r}")
    check_numerics(numerics)
    card = CARD_PATH.exists()
    if mode == "auto":
        mode = "device" if card else "host"
    if mode == "device" and not card:
        raise RuntimeError(f"open_runtime('device'): no Tenstorrent card on this machine ({CARD_PATH} does not "
                           "exist); use open_runtime('host') or open_runtime('auto')")
    if mode == "host" and card:
        raise RuntimeError(f"open_runtime('host'): a Tenstorrent card is present ({CARD_PATH}); host mode mocks "
                           "the driver and must not run beside a real card; use open_runtime('device')")
    if _open:
        raise RuntimeError(f"open_runtime: a {_open[0].mode} runtime is already open; close_runtime() it first")
    if mode == "device":
        chip = ttnn.open_device(device_id=0, trace_region_size=TRACE_REGION_BYTES, num_command_queues=COMMAND_QUEUES)
    else:
        _use_mock_cluster()
        chip = HostDevice(device_spec(device))
    runtime = Runtime(mode, chip, numerics)
    _open.append(runtime)
    logger.info("TTNN runtime opened in {} mode on {}", mode, chip)
    if mode == "host":
        logger.info("host path numerics: {}", numerics)
    elif numerics == "device":
        logger.info("numerics='device' has no effect on a card: the card computes")
    return runtime


def close_runtime(runtime: Runtime) -> None:
    """Closes the device in device mode; the runtime stops being open."""
    if runtime.mode == "device":
        ttnn.close_device(runtime.device)
    if runtime in _open:
        _open.remove(runtime)
    logger.info("TTNN runtime closed ({} mode)", runtime.mode)


@contextmanager
def dry_runtime(device: str = "n150") -> Iterator[Runtime]:
    """A shape-only host runtime standing in for `device`, active until the block ends. Host tensors (a traced
    call's inputs) are still converted by ttnn, so without a card the driver layer is mocked as in host mode."""
    if not CARD_PATH.exists():
        _use_mock_cluster()
    runtime = Runtime("dry", HostDevice(device_spec(device), shapes_only=True))
    _open.append(runtime)
    try:
        yield runtime
    finally:
        _open.remove(runtime)


def _use_mock_cluster() -> None:
    """Write the n150 descriptor to a cache file and point ttnn at it (before ttnn's first TILE conversion)."""
    path = Path(tempfile.gettempdir()) / "vla-tt" / "n150_cluster_descriptor.yaml"
    if not path.exists() or path.read_text() != N150_CLUSTER_DESCRIPTOR:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(N150_CLUSTER_DESCRIPTOR)
        partial.replace(path)
    os.environ[MOCK_CLUSTER_ENV] = str(path)
