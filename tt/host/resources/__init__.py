"""The L1 each op's program would allocate per core, checked as tt-metal checks it when the program is built.

tt-metal places a program's static buffers (circular buffers, or "dataflow buffers" in the Metal 2.0 factories)
from the allocator's L1 base up, each start aligned to the DRAM alignment, and refuses the program when they end
past the core's L1 (tt_metal/impl/dataflow_buffer/dataflow_buffer.cpp and program.cpp,
validate_*_buffer_region), or when they reach an L1 tensor (L1 tensors are allocated top down). The messages below
are the 0.81.1 binary's own.

Each op family's module gives the buffers of its program factory; ops with no model return None and are counted as
unmodelled by the dry run (every op of the TT tree has one; tests/tt/test_dry_run.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

from tt.host.device import DeviceSpec
from tt.host.errors import RuleViolation
from tt.host.resources.matmul import MatmulGeometry, MatmulOperands, matmul_buffers, matmul_cores

DATAFLOW, CIRCULAR = "dataflow", "circular"


def _aligned(size: int, alignment: int) -> int:
    return -(-size // alignment) * alignment


@dataclass(frozen=True)
class Allocation:
    """The static buffers of one program on each of its cores."""

    kind: str  # DATAFLOW (Metal 2.0 factories) or CIRCULAR (legacy circular buffers)
    cores: tuple[int, int]  # (x, y) extent of the core range, from (0, 0)
    buffers: tuple[tuple[str, int, int], ...]  # (name, entries, bytes per entry); 0 entries: borrowed or aliased

    def bytes_per_core(self, spec: DeviceSpec) -> int:
        return sum(_aligned(entries * size, spec.dram_alignment) for _, entries, size in self.buffers if entries)

    @property
    def core_count(self) -> int:
        return self.cores[0] * self.cores[1]

    def core_range(self) -> str:
        """As the 0.81.1 binary prints a CoreRange: [x0-y0 - x1-y1]."""
        return f"[0-0 - {self.cores[0] - 1}-{self.cores[1] - 1}]"


def _matmul(call, spec):
    if call.arguments.get("program_config") is None:  # ttnn picks one on the device (matmul_program_config.cpp)
        return None
    config, geometry = call.arguments["program_config"], MatmulGeometry.of(call)
    return Allocation(DATAFLOW, matmul_cores(config, geometry, spec.dram_banks),
                      tuple(matmul_buffers(config, geometry, MatmulOperands.of(call), spec.dram_banks)))


_MODELS = {
    "ttnn.linear": _matmul,
    "ttnn.matmul": _matmul,
}


def allocation(call, spec: DeviceSpec) -> Allocation | None:
    model = _MODELS.get(call.op)
    return None if model is None else model(call, spec)


def check_fits(op: str, alloc: Allocation, spec: DeviceSpec, l1_tensor_bytes: int = 0) -> None:
    """Refuse a program whose buffers end past the core's L1, or reach the L1 tensors allocated from the top."""
    end = spec.l1_unreserved_base + alloc.bytes_per_core(spec)
    if end > spec.l1_bytes:
        raise RuleViolation(f"{op}: Statically allocated {alloc.kind} buffers on core range {alloc.core_range()} "
                            f"grow to {end} B which is beyond max L1 size of {spec.l1_bytes} B")
    lowest_l1_buffer = spec.l1_bytes - l1_tensor_bytes
    if l1_tensor_bytes and lowest_l1_buffer < end:
        raise RuleViolation(f"{op}: Statically allocated {alloc.kind} buffers clash with L1 buffers on core range "
                            f"{alloc.core_range()}. L1 buffer allocated at {lowest_l1_buffer} and static "
                            f"{alloc.kind} buffer region ends at {end}")
