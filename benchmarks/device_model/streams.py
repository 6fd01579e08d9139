"""The DRAM rate of ttnn's streaming ops, fitted on profiler captures (benchmarks/data/op_streams.csv, see
benchmarks/data/README.md), and checked on captured ops it was not fitted on.

The "fit" rows are large data-movement ops whose operands are all DRAM-interleaved, so their kernel time is their
DRAM traffic (every input read once, the output written once) at the rate the chip sustains for ttnn's own
interleaved reads and writes, after the op's start-up. tt.host.timing's `dram_efficiency` of each architecture is the
median of its rows, as a fraction of the chip's peak DRAM bandwidth. The "held out" rows (RMS norms) are priced by
the device-time model (tt.host.pricing) and compared with their captured time.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass
from pathlib import Path

import ttnn

from tt.host.device import DEVICES, DeviceSpec
from tt.host.memory import tiled_bytes
from tt.host.pricing import Pricing
from tt.host.timing import arch_constants

ROWS = Path(__file__).resolve().parent.parent / "data" / "op_streams.csv"
SPECS = {"wormhole_b0": DEVICES["n150"], "blackhole": DEVICES["p150"]}
HELD_OUT_OPS = {"LayerNormDeviceOperation": "ttnn.rms_norm"}


def _shape_dtype(text: str) -> tuple[tuple[int, ...], object]:
    """"1x1x3200x576:BFLOAT16" -> ((1, 1, 3200, 576), ttnn.bfloat16)."""
    shape, dtype = text.split(":")
    return tuple(int(d) for d in shape.split("x")), getattr(ttnn, dtype.lower())


def _tile_bytes(text: str) -> int:
    return tiled_bytes(*_shape_dtype(text))


@dataclass(frozen=True)
class StreamRow:
    arch: str
    role: str  # "fit" | "held out"
    op: str
    cores: int
    inputs: tuple[str, ...]
    output: str
    kernel_ns: float

    @property
    def spec(self) -> DeviceSpec:
        return SPECS[self.arch]

    @property
    def dram_bytes(self) -> int:
        """Inputs read once, the output written once."""
        return sum(_tile_bytes(t) for t in (*self.inputs, self.output))

    @property
    def efficiency(self) -> float:
        """Bytes over the kernel time after start-up, as a fraction of the chip's peak DRAM bandwidth."""
        seconds = (self.kernel_ns - arch_constants(self.spec).start_ns) * 1e-9
        return self.dram_bytes / seconds / self.spec.dram_bandwidth

    def predicted_ns(self) -> float:
        """The device-time model's kernel time for a held-out norm: ttnn.rms_norm of the captured input with a
        weight row of its width (as the TT tree passes it)."""
        quote = Pricing.of(self.spec)
        shape, dtype = _shape_dtype(self.inputs[0])
        x, weight = quote.tensor(shape, dtype), quote.tensor((1, shape[-1]), dtype)
        return quote.cost(HELD_OUT_OPS[self.op], x, epsilon=1e-6, weight=weight).kernel_ns


def load_rows() -> list[StreamRow]:
    with ROWS.open() as f:
        return [StreamRow(row["arch"], row["role"], row["op"], int(row["cores"]), tuple(row["inputs"].split()),
                          row["output"], float(row["kernel_ns"])) for row in csv.DictReader(f)]


def fitted_efficiency(rows: list[StreamRow], arch: str) -> float:
    return statistics.median(r.efficiency for r in rows if r.arch == arch and r.role == "fit")


def held_out(rows: list[StreamRow]) -> list[tuple[StreamRow, float, float]]:
    """Per held-out shape: (its first row, the median captured kernel ns, the predicted kernel ns)."""
    shapes: dict[tuple, list[StreamRow]] = {}
    for row in rows:
        if row.role == "held out":
            shapes.setdefault((row.arch, row.op, row.inputs), []).append(row)
    return [(same[0], statistics.median(r.kernel_ns for r in same), same[0].predicted_ns())
            for same in shapes.values()]


def report(rows: list[StreamRow]) -> str:
    lines = []
    for arch, spec in SPECS.items():
        fit = [r for r in rows if r.arch == arch and r.role == "fit"]
        fitted, stored = fitted_efficiency(rows, arch), arch_constants(spec).dram_efficiency
        ops = sorted({r.op for r in fit})
        rate = fitted * spec.dram_bandwidth / 1e9
        lines.append(f"{arch} streaming DRAM rate: {fitted:.3f} of peak ({rate:.0f} GB/s), median of {len(fit)} "
                     f"captured ops ({', '.join(ops)}); stored {stored:.3f}")
    for row, measured, predicted in held_out(rows):
        lines.append(f"held out: {row.arch} {row.op} {row.inputs[0]} on {row.cores} cores: captured "
                     f"{measured / 1e3:.1f} us, predicted {predicted / 1e3:.1f} us ({predicted / measured - 1:+.0%})")
    return "\n".join(lines)
