"""Fitting the matmul constants of tt.host.timing on tt-metal's GEMM_FLOPS measurements, and the errors per row.

The rows (benchmarks/data/gemm_flops.csv, see benchmarks/data/README.md) give, per shape, dtype and fidelity, the
device-based utilisation: ideal cycles / the math core's (TRISC1) kernel cycles, where ideal cycles =
m * k * n / 32^3 * cycles per tile product / cores. The measured device time is therefore
ideal / utilisation / clock. Only the "Manually Tuned" tables state their program configs; the "Out of Box" ones let
ttnn choose at run time, so the model cannot replay them and they are reported apart. The constants are fitted on the
Wormhole N150 rows alone; every Blackhole P150 row is held out.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import ttnn

from tt.host.device import DEVICES, DeviceSpec
from tt.host.resources.matmul import MatmulGeometry, MatmulOperands
from tt.host.timing import MATMUL, TILE_PRODUCT_CYCLES, MatmulConstants, matmul_kernel_ns

ROWS = Path(__file__).resolve().parent.parent / "data" / "gemm_flops.csv"
DTYPES = {"BFLOAT16": ttnn.bfloat16, "BFLOAT8_B": ttnn.bfloat8_b, "BFLOAT4_B": ttnn.bfloat4_b}
FIT_DEVICE = "N150"
HELD_OUT_TARGET = 0.25  # median absolute relative error on the held-out rows (issue 11)


@dataclass(frozen=True)
class GemmRow:
    device: str
    table: str
    cores: int
    m: int
    k: int
    n: int
    dtype: str
    fidelity: str
    in0_dram: bool
    out_dram: bool
    util_pct: float
    config: object | None  # the stated 2D program config; None for the out-of-box rows

    @property
    def spec(self) -> DeviceSpec:
        spec = DEVICES["n150" if self.device == "N150" else "p150"]
        return spec if self.cores == spec.cores else replace(spec, grid=(11, 10))

    @property
    def measured_ns(self) -> float:
        ideal = self.m * self.k * self.n / 32 ** 3 * TILE_PRODUCT_CYCLES[self.fidelity] / self.cores
        return ideal / (self.util_pct / 100) / self.spec.clock_hz * 1e9

    def predicted_ns(self, constants: MatmulConstants = MATMUL) -> float:
        dtype = DTYPES[self.dtype]
        operands = MatmulOperands(dtype, dtype, dtype, False, False)
        geometry = MatmulGeometry(self.m // 32, self.k // 32, self.n // 32)
        return matmul_kernel_ns(self.config, geometry, operands, self.fidelity, self.spec, self.in0_dram,
                                self.out_dram, constants)


def _config(row: dict, grid: tuple[int, int]):
    if not row["per_core_M"]:
        return None
    value = {k: int(row[k]) for k in ("in0_block_w", "per_core_M", "per_core_N", "out_block_h", "out_block_w",
                                       "out_subblock_h", "out_subblock_w")}
    return ttnn.MatmulMultiCoreReuseMultiCastProgramConfig(
        compute_with_storage_grid_size=ttnn.CoreCoord(*grid), transpose_mcast=False, fused_activation=None, **value)


def load_rows() -> list[GemmRow]:
    rows = []
    with ROWS.open() as f:
        for row in csv.DictReader(f):
            grid = {"64": (8, 8), "130": (13, 10), "110": (11, 10)}[row["cores"]]
            rows.append(GemmRow(row["device"], row["table"], int(row["cores"]), int(row["m"]), int(row["k"]),
                                int(row["n"]), row["dtype"], row["fidelity"], row["in0"] == "DRAM",
                                row["out"] == "DRAM", float(row["device_util_pct"]), _config(row, grid)))
    return rows


def _log_errors(rows: list[GemmRow], constants: MatmulConstants) -> np.ndarray:
    return np.array([math.log(r.predicted_ns(constants) / r.measured_ns) for r in rows])


def _constants(log_params: np.ndarray) -> MatmulConstants:
    return MatmulConstants(*(float(v) for v in np.exp(log_params)))


def fit(rows: list[GemmRow], iterations: int = 600) -> MatmulConstants:
    """Nelder-Mead in log space on the mean squared log error of the fit device's tuned rows; deterministic."""
    train = [r for r in rows if r.device == FIT_DEVICE and r.config is not None]

    def loss(x):
        return float(np.mean(_log_errors(train, _constants(x)) ** 2))

    start = np.log([40.0, 10.0, 500.0, 100.0])
    simplex = [start] + [start + np.eye(len(start))[i] * 0.5 for i in range(len(start))]
    values = [loss(x) for x in simplex]
    for _ in range(iterations):
        order = np.argsort(values)
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        centroid = np.mean(simplex[:-1], axis=0)
        reflected = centroid + (centroid - simplex[-1])
        r = loss(reflected)
        if r < values[0]:
            expanded = centroid + 2 * (centroid - simplex[-1])
            e = loss(expanded)
            simplex[-1], values[-1] = (expanded, e) if e < r else (reflected, r)
        elif r < values[-2]:
            simplex[-1], values[-1] = reflected, r
        else:
            contracted = centroid + 0.5 * (simplex[-1] - centroid)
            c = loss(contracted)
            if c < values[-1]:
                simplex[-1], values[-1] = contracted, c
            else:
                simplex = [simplex[0] + 0.5 * (x - simplex[0]) for x in simplex]
                values = [loss(x) for x in simplex]
    return _constants(simplex[int(np.argmin(values))])


@dataclass(frozen=True)
class Errors:
    rows: list[tuple[GemmRow, float, float]]  # (row, measured ns, predicted ns)

    def relative(self) -> np.ndarray:
        return np.array([abs(p / m - 1) for _, m, p in self.rows])

    @property
    def median(self) -> float:
        return float(np.median(self.relative()))

    @property
    def worst(self) -> float:
        return float(self.relative().max())


def errors(rows: list[GemmRow], constants: MatmulConstants = MATMUL) -> dict[str, Errors]:
    """Per split ("fit": N150 tuned, "held out": P150 tuned), every row's measured and predicted device time."""
    split = {"fit": [], "held out": []}
    for r in rows:
        if r.config is not None:
            split["fit" if r.device == FIT_DEVICE else "held out"].append((r, r.measured_ns, r.predicted_ns(constants)))
    return {name: Errors(values) for name, values in split.items()}


def report(rows: list[GemmRow], constants: MatmulConstants = MATMUL, per_row: bool = True) -> str:
    lines = [f"matmul constants: {constants}"]
    for name, result in errors(rows, constants).items():
        if per_row:
            lines.append(f"\n{name} rows ({len(result.rows)}): device table m k n dtype fidelity in0 | measured us "
                         "| predicted us | error")
            for r, measured, predicted in result.rows:
                lines.append(f"  {r.device} {r.table:<20} {r.m:>5} {r.k:>5} {r.n:>5} {r.dtype:<9} {r.fidelity:<5} "
                             f"{'DRAM' if r.in0_dram else 'L1':<4} | {measured / 1e3:10.1f} | {predicted / 1e3:10.1f} "
                             f"| {predicted / measured - 1:+6.1%}")
        lines.append(f"{name}: {len(result.rows)} rows, median |error| {result.median:.1%}, worst {result.worst:.1%}")
    skipped = sum(r.config is None for r in rows)
    lines.append(f"out-of-box rows not replayed (ttnn picks their program config at run time): {skipped}")
    return "\n".join(lines)
