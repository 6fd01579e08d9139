"""Matmul and SDPA program configs as pure functions of shapes, the device grid and the L1 budget (never a
hard-coded grid).

m, k, n are element counts of x [m, k] @ w [k, n]; everything is computed in 32x32 tiles. A matmul config is sized
with the buffer formulas of tt.host.resources.matmul (the 0.81.1 program factories), so it fits the core's L1 by
construction: the output block each core computes in one pass (out_block_h x out_block_w) and the K block
(in0_block_w) are chosen as large as the budget allows. Between 1D and 2D multicast and the number of cores each
spreads the output over (for 2D, the core rows and the core columns), the device-time model (tt.host.timing)
decides.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from models.prepare import TILE
from tt.host.device import DeviceSpec
from tt.host.resources.attention import SdpaShape, sdpa_shape_buffers
from tt.host.resources.matmul import MatmulGeometry, MatmulOperands, matmul_buffers
from tt.host.timing import matmul_kernel_ns, sdpa_kernel_ns, sdpa_traffic
from tt.ops import ttnn

MAX_IN0_BLOCK_W = 8
SDPA_CHUNKS = (256, 128, 64, 32)
DEST_TILES, DEST_TILES_FP32 = 8, 4  # dest register tiles per subblock in half-sync mode (get_dest_reg_count)


def tiles(elements: int) -> int:
    return -(-elements // TILE)


def _divisors(value: int, at_most: int | None = None) -> list[int]:
    return [d for d in range(1, min(value, at_most or value) + 1) if value % d == 0]


def _subblock(block_h: int, block_w: int, dest: int) -> tuple[int, int]:
    """(out_subblock_h, out_subblock_w): dividing the block, at most `dest` tiles, widest."""
    best = (1, 1)
    for w in _divisors(block_w, dest):
        for h in _divisors(block_h, dest // w):
            if (h * w, w) > (best[0] * best[1], best[1]):
                best = (h, w)
    return best


def _bytes_of(buffers, alignment: int = 64) -> int:
    """Bytes per core of static buffers, each start aligned (64 covers Wormhole's 32 and Blackhole's 64)."""
    return sum(-(-entries * size // alignment) * alignment for _, entries, size in buffers if entries)


def _bytes(config, geometry: MatmulGeometry, operands: MatmulOperands) -> int:
    return _bytes_of(matmul_buffers(config, geometry, operands, dram_banks=1))


def matmul_config(m: int, k: int, n: int, grid, spec: DeviceSpec, operands: MatmulOperands, fidelity: str,
                  activation=None):
    """The config tt.host.timing predicts fastest (its fused activation included) among 2D multicast over every number
    of core rows and core columns that split the output rows and columns (fewer columns can mean wider subblocks:
    SigLIP's 135-tile MLP width spreads over 8 columns only as 17, a prime), and 1D multicast of in0 over every
    number of cores that splits the output columns; each with the largest output block (then K block) whose buffers
    fit the device's L1 budget.
    `activation` (a ttnn.UnaryOpType) is fused: applied to each output tile before it is packed."""
    return _matmul_config(m, k, n, (grid.x, grid.y), spec, operands, fidelity, activation)


def _splits(count: int, parts: int) -> list[int]:
    """Tiles per core for each distinct way of spreading `count` tiles over at most `parts` cores."""
    return sorted({-(-count // used) for used in range(1, min(count, parts) + 1)})


def _largest_fitting_blocks(geometry: MatmulGeometry, grid, l1_budget: int, operands: MatmulOperands, two_d: bool,
                            per_core_m: int, per_core_n: int, activation):
    dest = DEST_TILES_FP32 if operands.fp32_dest_acc_en else DEST_TILES
    candidates = sorted(((h * w, w, in0_block_w, h) for h in _divisors(per_core_m) for w in _divisors(per_core_n)
                         for in0_block_w in _divisors(geometry.kt, MAX_IN0_BLOCK_W)), reverse=True)
    for _, block_w, in0_block_w, block_h in candidates:
        sub_h, sub_w = _subblock(block_h, block_w, dest)
        common = dict(compute_with_storage_grid_size=grid, in0_block_w=in0_block_w, out_subblock_h=sub_h,
                      out_subblock_w=sub_w, out_block_h=block_h, out_block_w=block_w, per_core_M=per_core_m,
                      per_core_N=per_core_n,
                      fused_activation=None if activation is None else ttnn.UnaryWithParam(activation))
        if two_d:
            config = ttnn.MatmulMultiCoreReuseMultiCastProgramConfig(transpose_mcast=False, **common)
        else:
            config = ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig(fuse_batch=True, mcast_in0=True, **common)
        if _bytes(config, geometry, operands) <= l1_budget:
            return config
    return None


@functools.cache
def _matmul_config(m: int, k: int, n: int, grid_xy: tuple[int, int], spec: DeviceSpec, operands: MatmulOperands,
                   fidelity: str, activation):
    grid = ttnn.CoreCoord(*grid_xy)
    geometry = MatmulGeometry(tiles(m), tiles(k), tiles(n))
    shapes = [(True, per_core_m, per_core_n) for per_core_m in _splits(geometry.mt, grid.y)
              for per_core_n in _splits(geometry.nt, grid.x)]
    shapes += [(False, geometry.mt, per_core_n) for per_core_n in _splits(geometry.nt, grid.x * grid.y)]
    best = None
    for two_d, per_core_m, per_core_n in shapes:
        config = _largest_fitting_blocks(geometry, grid, spec.l1_budget, operands, two_d, per_core_m, per_core_n,
                                         activation)
        if config is None:
            continue
        predicted = matmul_kernel_ns(config, geometry, operands, fidelity, spec, True, True)
        busy_cores = -(-geometry.mt // per_core_m) * -(-geometry.nt // per_core_n)
        # on a tie (DRAM-bound shapes) more cores win: the model puts no per-core limit on DRAM reads, a card does
        key = (round(predicted), -busy_cores)
        if best is None or key < best[0]:
            best = key, config
    if best is None:
        raise ValueError(f"no matmul program config for [{m}, {k}] @ [{k}, {n}] fits {spec.l1_budget} B of L1 per "
                         f"core on a {grid.x}x{grid.y} grid")
    return best[1]


def _chunk_sizes(length: int) -> list[int]:
    padded = tiles(length) * TILE
    return [c for c in SDPA_CHUNKS if padded % c == 0]


@dataclass(frozen=True)
class SdpaCall:
    """What, besides the buffers, decides an SDPA call's predicted time (tt.host.timing)."""

    heads: int  # batch x query heads
    q_per_kv: int  # query heads sharing one K/V head
    kv_bytes: int  # K and V bytes in DRAM
    fidelity: str


def sdpa_config(q_len: int, k_len: int, call: SdpaCall, grid, spec: DeviceSpec, shape: SdpaShape):
    """The q and k chunks (of 256 / 128 / 64 / 32 rows, dividing the tile-padded lengths) whose attention buffers fit
    the device's L1 budget and whose predicted time is least (the larger chunks on a tie). `shape` gives head tiles,
    dtypes, mask and accumulation (its chunk and length fields are filled in here)."""
    return _sdpa_config(q_len, k_len, call, (grid.x, grid.y), spec, shape)


@functools.cache
def _sdpa_config(q_len: int, k_len: int, call: SdpaCall, grid_xy: tuple[int, int], spec: DeviceSpec,
                 shape: SdpaShape):
    cores = grid_xy[0] * grid_xy[1]
    best = None
    for q_chunk in _chunk_sizes(q_len):
        for k_chunk in _chunk_sizes(k_len):
            units = call.heads * -(-q_len // q_chunk)
            candidate = replace(shape, q_chunk=q_chunk, k_chunk=k_chunk, sq=q_len, sk=k_len,
                                q_double_buffered=units > cores)
            if _bytes_of(sdpa_shape_buffers(candidate)) > spec.l1_budget:
                continue
            traffic = sdpa_traffic(call.kv_bytes, call.q_per_kv, -(-q_len // q_chunk))
            predicted = sdpa_kernel_ns(-(-units // cores), q_chunk, k_chunk, tiles(k_len) * TILE, shape.dh_tiles,
                                       call.fidelity, traffic, spec)
            key = (predicted, -q_chunk * k_chunk, -k_chunk)
            if best is None or key < best[0]:
                best = key, q_chunk, k_chunk
    if best is None:
        raise ValueError(f"no SDPA chunking of {q_len} queries over {k_len} keys fits {spec.l1_budget} B of L1 per "
                         "core")
    return ttnn.SDPAProgramConfig(compute_with_storage_grid_size=ttnn.CoreCoord(*grid_xy), q_chunk_size=best[1],
                                  k_chunk_size=best[2], exp_approx_mode=False)
