"""The programs each op would build and the L1 their static buffers take per core, checked as tt-metal checks them
when a program is created.

tt-metal places a program's static buffers (circular buffers; "dataflow buffers" in the Metal 2.0 factories) from
the allocator's L1 base up, each start aligned to the DRAM alignment, and refuses the program when they end past the
core's L1 (tt_metal/impl/dataflow_buffer/dataflow_buffer.cpp and program.cpp, validate_*_buffer_region), or when they
reach an L1 tensor (L1 tensors are allocated top down). The messages below are the 0.81.1 binary's own.

Each op family's module gives the buffers and the work split of its program factory. `programs` returns None for a
call whose programs are not modelled (the dry run reports it; every op of the TT tree is modelled, which
tests/tt/test_dry_run.py checks), and an empty tuple for a view, which runs no program.
"""

from __future__ import annotations

from dataclasses import dataclass

import ttnn

from tt.host.device import DeviceSpec
from tt.host.errors import RuleViolation
from tt.host.resources import attention, data_movement, eltwise, normalization
from tt.host.resources.cores import WorkSplit
from tt.host.resources.matmul import MatmulGeometry, MatmulOperands, matmul_buffers, matmul_cores
from tt.host.tensor import tensors_in

DATAFLOW, CIRCULAR = "dataflow", "circular"  # Metal 2.0 factories / classic and descriptor factories


def _aligned(size: int, alignment: int) -> int:
    return -(-size // alignment) * alignment


@dataclass(frozen=True)
class Program:
    """One program of an op: its static buffers on each core of its core range, and how its work is dealt out."""

    name: str
    kind: str  # DATAFLOW or CIRCULAR
    cores: tuple[int, int]  # (x, y) extent of the core range holding the buffers, from (0, 0)
    buffers: tuple[tuple[str, int, int], ...]  # (name, entries, bytes per entry); 0 entries: borrowed or aliased
    work: WorkSplit

    def bytes_per_core(self, spec: DeviceSpec) -> int:
        return sum(_aligned(entries * size, spec.dram_alignment) for _, entries, size in self.buffers if entries)

    def core_range(self) -> str:
        """As the 0.81.1 binary prints a CoreRange: [x0-y0 - x1-y1]."""
        return f"[0-0 - {self.cores[0] - 1}-{self.cores[1] - 1}]"


def _program(name, kind, model):
    if model is None:
        return None
    buffers, cores, work = model
    return (Program(name, kind, cores, tuple(buffers), work),)


def _matmul(call, spec, l1_tensor_bytes):
    config = call.arguments.get("program_config")
    if config is None:  # ttnn picks one on the device (matmul_program_config.cpp)
        return None
    geometry = MatmulGeometry.of(call)
    cores = matmul_cores(config, geometry, spec.dram_banks)
    buffers = matmul_buffers(config, geometry, MatmulOperands.of(call), spec.dram_banks)
    busy = cores[0] * cores[1]
    per_core = -(-geometry.mt // config.per_core_M) * -(-geometry.nt // config.per_core_N) // max(busy, 1)
    return (Program("matmul", DATAFLOW, cores, tuple(buffers), WorkSplit(busy, max(per_core, 1))),)


def _sdpa(call, spec, l1_tensor_bytes):
    grid, work = attention.sdpa_work(call, spec)
    sdpa = Program("sdpa", CIRCULAR, grid, tuple(attention.sdpa_buffers(call, spec)), work)
    if not attention.mask_prescale(call):
        return (sdpa,)
    mask = call.tensor("attn_mask")
    tiles = 1
    for d in list(mask.padded_shape):
        tiles *= d
    prescale = Program("mask prescale", CIRCULAR, spec.grid,
                       (("a", 2, 2048), ("scalar", 1, 2048), ("c", 2, 2048)), WorkSplit.of(tiles // 1024, spec.grid))
    return (prescale, sdpa)


def _grid_model(name, kind, buffers_of, work_of):
    def model(call, spec, l1_tensor_bytes):
        cores, work = work_of(call, spec.grid)
        return (Program(name, kind, cores, tuple(buffers_of(call)), work),)
    return model


def _norm(call, spec, l1_tensor_bytes):
    cores, work = normalization.norm_split(call, spec.grid)
    return (Program("norm", DATAFLOW, cores, tuple(normalization.norm_buffers(call, spec, l1_tensor_bytes)), work),)


def _data_movement(name, model_of):
    def model(call, spec, l1_tensor_bytes):
        return _program(name, DATAFLOW, model_of(call, spec.grid))
    return model


SHARDED_MODELLED = ("ttnn.linear", "ttnn.matmul")
_MODELS = {
    "ttnn.linear": _matmul,
    "ttnn.matmul": _matmul,
    "ttnn.transformer.scaled_dot_product_attention": _sdpa,
    "ttnn.rms_norm": _norm,
    "ttnn.layer_norm": _norm,
    "ttnn.add": _grid_model("binary", CIRCULAR, eltwise.binary_buffers, eltwise.binary_split),
    "ttnn.subtract": _grid_model("binary", CIRCULAR, eltwise.binary_buffers, eltwise.binary_split),
    "ttnn.multiply": _grid_model("binary", CIRCULAR, eltwise.binary_buffers, eltwise.binary_split),
    "ttnn.addcmul": _grid_model("ternary", DATAFLOW, eltwise.addcmul_buffers, eltwise.addcmul_split),
    "ttnn.gelu": _grid_model("unary", DATAFLOW, eltwise.unary_buffers, eltwise.unary_split),
    "ttnn.silu": _grid_model("unary", DATAFLOW, eltwise.unary_buffers, eltwise.unary_split),
    "ttnn.typecast": _grid_model("typecast", DATAFLOW, eltwise.typecast_buffers, eltwise.typecast_split),
    "ttnn.experimental.nlp_create_qkv_heads": _grid_model("create_qkv_heads", DATAFLOW,
                                                          attention.create_qkv_heads_buffers,
                                                          attention.create_qkv_heads_work),
    "ttnn.experimental.nlp_concat_heads": _grid_model("concat_heads", DATAFLOW, attention.concat_heads_buffers,
                                                      attention.concat_heads_work),
    "ttnn.experimental.rotary_embedding": _grid_model("rope", CIRCULAR, attention.rotary_buffers,
                                                      attention.rotary_work),
    "ttnn.embedding": _data_movement("embedding", data_movement.embedding_program),
    "ttnn.concat": _data_movement("concat", data_movement.concat_program),
    "ttnn.fill_cache": _data_movement("fill_cache", data_movement.fill_cache_program),
    "ttnn.slice": _data_movement("slice", data_movement.slice_program),
    "ttnn.split": _data_movement("split", data_movement.split_program),
}


def sharded(call) -> bool:
    """Whether a device tensor argument, or the output asked for, is sharded, or a sharded norm config is given."""
    if isinstance(call.arguments.get("program_config"), ttnn.LayerNormShardedMultiCoreProgramConfig):
        return True
    configs = [t.memory_config() for value in call.arguments.values() for t in tensors_in(value)
               if t.storage_type() == ttnn.StorageType.DEVICE]
    out = call.arguments.get("memory_config")
    return any(c.is_sharded() for c in configs + ([out] if isinstance(out, ttnn.MemoryConfig) else []))


def programs(call, spec: DeviceSpec, l1_tensor_bytes: int = 0) -> tuple[Program, ...] | None:
    """The programs the call would build on `spec` with `l1_tensor_bytes` of L1 tensors per core; None: unmodelled.
    Sharded operands or outputs select other factories (a sharded norm reduces across the cores of its shard grid,
    a sharded eltwise op works on each core's shard): only the matmul models price them."""
    if call.op in ("ttnn.unsqueeze", "ttnn.reshape"):
        return None if data_movement.view_program(call, spec.grid) is None else ()
    if call.op not in SHARDED_MODELLED and sharded(call):
        return None
    model = _MODELS.get(call.op)
    return None if model is None else model(call, spec, l1_tensor_bytes)


def check_fits(op: str, program: Program, spec: DeviceSpec, l1_tensor_bytes: int = 0) -> None:
    """Refuse a program whose buffers end past the core's L1, or reach the L1 tensors allocated from the top."""
    end = spec.l1_unreserved_base + program.bytes_per_core(spec)
    if end > spec.l1_bytes:
        raise RuleViolation(f"{op}: Statically allocated {program.kind} buffers on core range {program.core_range()} "
                            f"grow to {end} B which is beyond max L1 size of {spec.l1_bytes} B")
    lowest_l1_buffer = spec.l1_bytes - l1_tensor_bytes
    if l1_tensor_bytes and lowest_l1_buffer < end:
        raise RuleViolation(f"{op}: Statically allocated {program.kind} buffers clash with L1 buffers on core range "
                            f"{program.core_range()}. L1 buffer allocated at {lowest_l1_buffer} and static "
                            f"{program.kind} buffer region ends at {end}")
