"""A policy call's predicted device time per stage, from a shape-only dry run (tt.dry_run) and tt.host.timing.

An op's elapsed time is tt.host.timing.elapsed_ns (its kernel plus the op-to-op gap, or the host's dispatch outside a
trace). The roofline of a stage is the sum over its ops of the whole-grid floor, max(FLOPs / peak at the op's
fidelity, minimal DRAM bytes / peak DRAM bandwidth).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import ttnn

from tt.dry_run import DryRun
from tt.host.device import DEVICES, DeviceSpec
from tt.host.memory import tiled_bytes
from tt.host.timing import MATMUL, arch_constants, elapsed_ns
from tt.oplog import OpRecord

TOP_OPS = 5


@dataclass(frozen=True)
class StageTime:
    name: str
    ops: int
    predicted_ns: float
    kernel_ns: float
    roofline_ns: float
    top: tuple[tuple[str, int, float], ...]  # (op at call site, calls, elapsed ns), most expensive first
    uncalibrated_share: float  # of the predicted time

    @property
    def ratio(self) -> float:
        return self.predicted_ns / self.roofline_ns if self.roofline_ns else float("inf")


def _device_ops(records: list[OpRecord]) -> list[OpRecord]:
    """The records of priced device ops (a view runs no program and is none)."""
    return [r for r in records if r.kind == "op" and r.cost is not None and r.programs]


def _stage(name: str, records: list[OpRecord], spec: DeviceSpec) -> StageTime:
    ops = _device_ops(records)
    by_site = defaultdict(lambda: [0, 0.0])
    for r in ops:
        site = f"{r.op.removeprefix('ttnn.')} at {r.call_site.split(' <- ')[-1]}"
        by_site[site][0] += 1
        by_site[site][1] += elapsed_ns(r, spec)
    predicted = sum(elapsed_ns(r, spec) for r in ops)
    uncalibrated = sum(elapsed_ns(r, spec) for r in ops if not r.cost.calibrated)
    top = sorted(((site, n, t) for site, (n, t) in by_site.items()), key=lambda x: -x[2])[:TOP_OPS]
    return StageTime(name, len(ops), predicted, sum(r.cost.kernel_ns for r in ops),
                     sum(r.cost.roofline_ns(spec) for r in ops), tuple(top),
                     uncalibrated / predicted if predicted else 0.0)


def stage_times(run: DryRun) -> list[StageTime]:
    """vision, prefix, plan (the denoising loop's per-call constants), every step, and the whole call."""
    spec = DEVICES[run.device]
    stages = [_stage(name, run.log.select(section=name), spec) for name in ("vision", "prefix", "plan")]
    stages += [_stage(f"step {i}", run.log.select(section=f"step {i}"), spec) for i in range(run.steps)]
    return stages + [_stage("total", run.log.entries, spec)]


def _weight_bytes(record: OpRecord) -> int:
    """Bytes of a matmul's second operand (its weights) as stored, when they are read from DRAM; 0 for any other
    op."""
    if record.op not in ("ttnn.linear", "ttnn.matmul") or "DRAM" not in record.operands[1].memory:
        return 0
    w = record.operands[1]
    return tiled_bytes(w.padded_shape, getattr(ttnn, w.dtype.lower()))


def op_floor_ns(record: OpRecord, spec: DeviceSpec) -> float:
    """What the traced op cannot beat under the model's constants: each program's start-up (none for a matmul, whose
    fitted costs hold it), the op-to-op gap, and the longer of the op's roofline (its FLOPs at peak on the whole grid,
    or its minimal DRAM bytes at peak bandwidth) and, for a matmul, reading its weights from DRAM at the rate the
    model gives its weights (DRAM-sharded or interleaved)."""
    arch = arch_constants(spec)
    starts = sum(MATMUL.start_ns if p.name == "matmul" else arch.start_ns for p in record.programs)
    efficiency = arch.weights_efficiency("DRAMSharded" in (record.program_config or ""))
    weights_ns = _weight_bytes(record) / (spec.dram_bandwidth * efficiency) * 1e9
    return starts + arch.traced_gap_ns + max(record.cost.roofline_ns(spec), weights_ns)


def floor_line(run: DryRun) -> str:
    """The floor of a traced call's op list (op_floor_ns summed), for the first step and the whole call."""
    spec = DEVICES[run.device]
    parts = []
    for name, records in (("step 0", run.log.select(section="step 0")), ("call", run.log.entries)):
        ops = _device_ops(records)
        weights = sum(_weight_bytes(r) for r in ops)
        parts.append(f"{name} {sum(op_floor_ns(r, spec) for r in ops) / 1e6:.2f} ms ({len(ops)} ops, "
                     f"{weights / 1e6:.0f} MB of weights)")
    return "floor (each op's start-up and gap + the longer of its roofline and its weights' DRAM read): " + \
        "; ".join(parts)


def by_op_line(run: DryRun) -> str:
    """The whole call's predicted time per op type, most expensive first: what any one kind of op could save at
    most (the call without its norms is the total less the rms_norm and layer_norm figures)."""
    spec = DEVICES[run.device]
    by_op = defaultdict(lambda: [0, 0.0])
    for r in _device_ops(run.log.entries):
        totals = by_op[r.op.removeprefix("ttnn.")]
        totals[0] += 1
        totals[1] += elapsed_ns(r, spec)
    ranked = sorted(by_op.items(), key=lambda kv: -kv[1][1])
    return "call by op (calls, ms): " + "; ".join(f"{op} ({n}, {ns / 1e6:.2f})" for op, (n, ns) in ranked)


def unmodelled(run: DryRun) -> list[str]:
    return sorted({r.op_form for r in run.log.select(kind="op") if r.cost is None and r.cb_bytes is None})


def format_stages(stages: list[StageTime], run: DryRun) -> str:
    spec = DEVICES[run.device]
    lines = [f"PREDICTED by the host path's device-time model (not measured on hardware): {spec}, "
             f"{run.cameras} camera(s), batch {run.batch}, {run.steps} steps, "
             f"{'traced (steady-state replay)' if run.traced else 'eager dispatch'}",
             f"{'stage':<8} {'ops':>6} {'predicted ms':>13} {'kernels ms':>11} {'roofline ms':>12} {'ratio':>6}"
             "  uncalibrated  most expensive ops (calls, ms)"]
    for s in stages:
        top = "; ".join(f"{site} ({n}, {t / 1e6:.2f})" for site, n, t in s.top[:3 if s.name != "total" else 5])
        lines.append(f"{s.name:<8} {s.ops:>6} {s.predicted_ns / 1e6:>13.2f} {s.kernel_ns / 1e6:>11.2f} "
                     f"{s.roofline_ns / 1e6:>12.2f} {s.ratio:>6.2f}  {s.uncalibrated_share:>11.0%}  {top}")
    return "\n".join(lines)
