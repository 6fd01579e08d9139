"""DRAM-sharded matmuls: the device-time model's price of the published Blackhole DRAM-sharded decode matmuls
(benchmarks/data/dram_sharded_matmuls.csv, see benchmarks/data/README.md) against their traced time. Only the sharded
weights' DRAM rate comes from them; the per-step and per-block costs are the GEMM fit's (1D and 2D multicast rows), so
these rows check how far that fit carries to the DRAM-sharded factory's blocking.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import ttnn

from tt.host.device import DEVICES, DeviceSpec
from tt.host.pricing import Pricing

ROWS = Path(__file__).resolve().parent.parent / "data" / "dram_sharded_matmuls.csv"
SPECS = {"blackhole": DEVICES["p150"]}
GRID_X = 8  # the benchmark's activation grid is 8 cores wide


@dataclass(frozen=True)
class DramShardedRow:
    arch: str
    dtype: str
    fidelity: str
    m: int
    k: int
    n: int
    in0_cores: int
    in0_block_w: int
    per_core_n: int
    trace_us: float

    @property
    def spec(self) -> DeviceSpec:
        return SPECS[self.arch]

    def predicted_ns(self, in0_block_w: int | None = None, m: int | None = None) -> float:
        """The model's kernel time of the row's call (optionally with another in0_block_w or activation height); a
        call the device would refuse raises."""
        m = m or self.m
        quote, banks = Pricing.of(self.spec), self.spec.dram_banks
        cores = ttnn.CoreRangeSet({ttnn.CoreRange(ttnn.CoreCoord(0, 0),
                                                  ttnn.CoreCoord(GRID_X - 1, self.in0_cores // GRID_X - 1))})
        bank_row = ttnn.CoreRangeSet({ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(banks - 1, 0))})

        def width_sharded(grid, shard, buffer=ttnn.BufferType.L1):
            return ttnn.MemoryConfig(ttnn.TensorMemoryLayout.WIDTH_SHARDED, buffer,
                                     ttnn.ShardSpec(grid, shard, ttnn.ShardOrientation.ROW_MAJOR))

        x = quote.tensor((1, 1, m, self.k), ttnn.bfloat16,
                         memory_config=width_sharded(cores, [m, self.k // self.in0_cores]))
        weights = quote.tensor((self.k, self.n), getattr(ttnn, self.dtype.lower()), memory_config=width_sharded(
            bank_row, [self.k, -(-self.n // (32 * banks)) * 32], ttnn.BufferType.DRAM))
        config = ttnn.MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig(
            in0_block_w=in0_block_w or self.in0_block_w, per_core_M=m // 32, per_core_N=self.per_core_n)
        kernel = ttnn.WormholeComputeKernelConfig(math_fidelity=getattr(ttnn.MathFidelity, self.fidelity),
                                                  math_approx_mode=True, fp32_dest_acc_en=False, packer_l1_acc=True)
        return quote.cost("ttnn.matmul", x, weights, program_config=config, compute_kernel_config=kernel,
                          memory_config=width_sharded(cores, [m, self.n // self.in0_cores])).kernel_ns


def load_rows() -> list[DramShardedRow]:
    with ROWS.open() as f:
        return [DramShardedRow(r["arch"], r["dtype"], r["fidelity"], int(r["m"]), int(r["k"]), int(r["n"]),
                               int(r["in0_cores"]), int(r["in0_block_w"]), int(r["per_core_n"]), float(r["trace_us"]))
                for r in csv.DictReader(f)]


def report(rows: list[DramShardedRow]) -> str:
    lines = []
    for row in rows:
        predicted = row.predicted_ns() / 1e3
        lines.append(f"DRAM-sharded: {row.arch} {row.dtype} {row.fidelity} {row.m}x{row.k}x{row.n}: published "
                     f"{row.trace_us:.1f} us, predicted {predicted:.1f} us ({predicted / row.trace_us - 1:+.0%})")
    return "\n".join(lines)
