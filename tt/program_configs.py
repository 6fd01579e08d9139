"""Matmul and SDPA program configs as pure functions of shapes and the device grid (never a hard-coded grid).

m, k, n are element counts of x [m, k] @ w [k, n]; everything is computed in 32x32 tiles.
"""

from __future__ import annotations

from models.prepare import TILE
from tt.ops import ttnn

MAX_IN0_BLOCK_W = 8
MAX_SUBBLOCK_TILES = 4  # dest register holds 4 tiles when fp32 accumulation is on


def tiles(elements: int) -> int:
    return -(-elements // TILE)


def _largest_divisor(value: int, at_most: int) -> int:
    return max(d for d in range(1, min(value, at_most) + 1) if value % d == 0)


def _subblock(per_core_m: int, per_core_n: int) -> tuple[int, int]:
    """(out_subblock_h, out_subblock_w): dividing the per-core block, at most MAX_SUBBLOCK_TILES tiles, widest."""
    best = (1, 1)
    for w in range(1, per_core_n + 1):
        for h in range(1, per_core_m + 1):
            if per_core_n % w or per_core_m % h or h * w > MAX_SUBBLOCK_TILES:
                continue
            if (h * w, w) > (best[0] * best[1], best[1]):
                best = (h, w)
    return best


def matmul_config(m: int, k: int, n: int, grid):
    """2D multicast when the rows fill the grid's height, else 1D multicast of in0 over every core."""
    mt, kt, nt = tiles(m), tiles(k), tiles(n)
    in0_block_w = _largest_divisor(kt, MAX_IN0_BLOCK_W)
    if mt >= grid.y:
        per_core_m, per_core_n = -(-mt // grid.y), -(-nt // grid.x)
        h, w = _subblock(per_core_m, per_core_n)
        return ttnn.MatmulMultiCoreReuseMultiCastProgramConfig(
            compute_with_storage_grid_size=grid, in0_block_w=in0_block_w, out_subblock_h=h, out_subblock_w=w,
            per_core_M=per_core_m, per_core_N=per_core_n, transpose_mcast=False, fused_activation=None)
    per_core_n = -(-nt // (grid.x * grid.y))
    h, w = _subblock(mt, per_core_n)
    return ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig(
        compute_with_storage_grid_size=grid, in0_block_w=in0_block_w, out_subblock_h=h, out_subblock_w=w,
        per_core_M=mt, per_core_N=per_core_n, fuse_batch=True, fused_activation=None, mcast_in0=True)


def sdpa_config(q_len: int, k_len: int, grid):
    """Chunk sizes are the largest of 256/128/64/32 that divide the (tile-padded) sequence lengths."""
    def chunk(length: int) -> int:
        padded = tiles(length) * TILE
        return next(c for c in (256, 128, 64, 32) if padded % c == 0)
    return ttnn.SDPAProgramConfig(compute_with_storage_grid_size=grid, q_chunk_size=chunk(q_len),
                                  k_chunk_size=chunk(k_len), exp_approx_mode=False)
