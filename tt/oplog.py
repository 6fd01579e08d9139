"""The op log: every op call and host<->device transfer made through tt.ops while a recording is open.

Nothing is kept outside `Runtime.recording()`, so a policy called in a loop holds no growing history. A record
made on the host path also carries what the device would allocate for the op (tt.host.resources) and, in a dry
run, the device memory live after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import ttnn


@dataclass(frozen=True)
class TensorInfo:
    """A tensor as the device profiler reports it: logical and tile-padded shape, dtype, where it lives."""

    shape: tuple[int, ...]
    padded_shape: tuple[int, ...]
    dtype: str  # "BFLOAT16", ...
    memory: str  # "DEV_0_DRAM_INTERLEAVED", "DEV_0_L1_WIDTH_SHARDED", "HOST"

    @classmethod
    def of(cls, t) -> "TensorInfo":
        if t.storage_type() == ttnn.StorageType.DEVICE:
            config = t.memory_config()
            memory = f"DEV_0_{config.buffer_type.name}_{config.memory_layout.name}"
        else:
            memory = "HOST"
        return cls(tuple(t.shape), tuple(t.padded_shape), t.dtype.name, memory)


@dataclass(frozen=True)
class OpRecord:
    """One op call or transfer. `inputs` describes each tensor argument as dtype/layout[shape]@memory."""

    op: str
    kind: str  # "op" | "to_device" | "from_device"
    backend: str  # "device" (ran on the card) | "host" (host path, values) | "dry" (host path, shapes only)
    inputs: tuple[str, ...]
    kwargs: tuple[str, ...]
    sections: tuple[str, ...]
    call_site: str
    programs: tuple | None = None  # tt.host.resources.Program the device op would build (None: not modelled)
    cb_bytes: int | None = None  # static buffers per core of its largest program
    cores: int | None = None  # cores its busiest program gives work to
    cost: object | None = None  # dry run: tt.host.timing.OpCost, the predicted device time
    dram_bytes: int | None = None  # dry run: device DRAM live after the op
    l1_bytes: int | None = None  # dry run: L1 tensor bytes per core live after the op
    operands: tuple[TensorInfo, ...] = ()  # the ttnn tensor arguments
    results: tuple[TensorInfo, ...] = ()
    traced: bool = False  # inside a trace capture: no host dispatch per op
    program_config: str | None = None  # repr of the call's program_config, if it passed one

    @property
    def op_form(self) -> str:
        """The op, marked "(sharded)" when a tensor it takes or makes, or its program config, is sharded (another
        program factory)."""
        sharded = any("SHARDED" in t.memory for t in self.operands + self.results) \
            or "Sharded" in (self.program_config or "")
        return f"{self.op} (sharded)" if sharded else self.op

    def __str__(self) -> str:
        where = "/".join(self.sections) or "-"
        return f"[{where}] {self.kind} {self.op} ({self.backend}) {', '.join(self.inputs)} kw={list(self.kwargs)}"


def describe(value) -> str:
    """Brief description of a tensor argument for the op log."""
    if isinstance(value, torch.Tensor):
        return f"torch.{str(value.dtype).removeprefix('torch.')}{list(value.shape)}"
    if not hasattr(value, "storage_type"):
        return type(value).__name__
    if value.storage_type() == ttnn.StorageType.DEVICE:
        config = value.memory_config()
        memory = f"{config.buffer_type.name}_{config.memory_layout.name}"
    else:
        memory = "host"
    return f"{value.dtype.name}/{value.layout.name}{list(value.shape)}@{memory}"


class OpLog:
    """The records of one recording, in call order."""

    def __init__(self):
        self.entries: list[OpRecord] = []

    def count(self, kind: str | None = None, section: str | None = None, op: str | None = None) -> int:
        """Records matching every given filter; `op` matches "ttnn.linear" or just "linear"."""
        return sum(1 for e in self.select(kind, section, op))

    def select(self, kind: str | None = None, section: str | None = None, op: str | None = None) -> list[OpRecord]:
        return [e for e in self.entries
                if (kind is None or e.kind == kind)
                and (section is None or section in e.sections)
                and (op is None or e.op == op or e.op.endswith("." + op))]

    def __len__(self) -> int:
        return len(self.entries)
