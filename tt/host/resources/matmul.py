"""The buffers a matmul program allocates in each core's L1, per program config (ttnn 0.81.1, Metal 2.0 factories).

Pure functions of the config, the shapes and the operands, so tt.program_configs can size its choices with the same
formulas the host path checks them with. Sources (tenstorrent/tt-metal, ttnn/cpp/ttnn/operations/matmul/device/):
factory/matmul_multicore_reuse_mcast_2d_program_factory.cpp, ..._mcast_1d_program_factory.cpp
(create_program_mcast_in0_artifacts / create_program_mcast_in1_artifacts), ..._mcast_dram_sharded_program_factory.cpp
(the version whose messages the 0.81.1 binary holds: "Multi-reader DRAM-sharded matmul requires ...", "a multi-shard
in0 block gathers one tile row per shard ..."), ..._reuse_optimized_program_factory.cpp;
utilities/matmul_utilities.hpp (MCAST_INPUT_BUFFERING_DEPTH = 2).
Rules shared by all of them:
- an input block is double-buffered when the core loops over more than one K block (batch * num_blocks > 1);
- the partials ("intermed0") are float32 with fp32_dest_acc_en, else bfloat16 when packer L1 accumulation is
  active, else the output format; they share the output's region unless the formats differ;
- a buffer backed by a sharded tensor borrows that tensor's L1 and costs nothing more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ttnn

from models.prepare import TILE
from tt.host.memory import TILE_BYTES

INPUT_BUFFERING = 2  # MCAST_INPUT_BUFFERING_DEPTH
DRAM_SHARDED_IN1_BUFFERING = 3
TWO_D = ttnn.MatmulMultiCoreReuseMultiCastProgramConfig
ONE_D = ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig
DRAM_SHARDED = ttnn.MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig
REUSE = ttnn.MatmulMultiCoreReuseProgramConfig
# config/matmul_program_config.cpp SUBBLOCK_HW_CHOICES, (h, w) in the order they are tried
SUBBLOCK_CHOICES = ((4, 2), (2, 4), (8, 1), (1, 8), (7, 1), (1, 7), (3, 2), (2, 3), (6, 1), (1, 6), (5, 1), (1, 5),
                    (2, 2), (4, 1), (1, 4), (3, 1), (1, 3), (2, 1), (1, 2), (1, 1))


@dataclass(frozen=True)
class MatmulGeometry:
    """A matmul in tiles: [batch x] [Mt, Kt] @ [Kt, Nt], as the program config sees it."""

    mt: int  # rows of the output the config tiles (the batch folded in when fused)
    kt: int
    nt: int
    batch: int = 1  # batches the program loops over (1 when the batch is fused into M)
    mt_per_batch: int | None = None

    @property
    def total_mt(self) -> int:
        """Output tile rows over every batch."""
        return self.mt if self.batch == 1 or self.mt != self.mt_per_batch else self.mt * self.batch

    @classmethod
    def of(cls, call) -> "MatmulGeometry":
        a, b = call.tensor("input_tensor_a"), call.tensor("input_tensor_b")
        a_shape, b_shape = list(a.padded_shape), list(b.padded_shape)
        m, k = (a_shape[-1], a_shape[-2]) if call.arguments.get("transpose_a") else (a_shape[-2], a_shape[-1])
        n = b_shape[-2] if call.arguments.get("transpose_b") else b_shape[-1]
        batch = math.prod(a_shape[:-2])
        config = call.arguments.get("program_config")
        if isinstance(config, REUSE):  # loops over the batch, M split per batch
            return cls(batch * m // TILE, k // TILE, n // TILE, batch, m // TILE)
        if getattr(config, "fuse_batch", True):
            return cls(batch * m // TILE, k // TILE, n // TILE, 1, batch * m // TILE)
        return cls(m // TILE, k // TILE, n // TILE, batch, m // TILE)


@dataclass(frozen=True)
class MatmulOperands:
    """What of the operands and the compute kernel config decides the buffers."""

    in0_dtype: object
    in1_dtype: object
    out_dtype: object
    fp32_dest_acc_en: bool
    packer_l1_acc: bool
    bias_dtype: object | None = None
    in0_sharding: object | None = None  # TensorMemoryLayout of a sharded in0, else None
    in1_l1_sharded: bool = False
    out_sharded: bool = False
    transpose_a: bool = False

    @classmethod
    def of(cls, call) -> "MatmulOperands":
        a, b, bias = call.tensor("input_tensor_a"), call.tensor("input_tensor_b"), call.tensor("bias")
        kernel = call.arguments.get("compute_kernel_config")  # ttnn's matmul default has neither flag
        out_config = call.arguments.get("memory_config")
        b_config = b.memory_config()
        return cls(a.dtype, b.dtype, call.arguments.get("dtype") or a.dtype,
                   kernel is not None and kernel.fp32_dest_acc_en, kernel is not None and kernel.packer_l1_acc,
                   None if bias is None else bias.dtype,
                   a.memory_config().memory_layout if a.memory_config().is_sharded() else None,
                   b_config.is_sharded() and b_config.buffer_type == ttnn.BufferType.L1,
                   out_config is not None and out_config.is_sharded(), bool(call.arguments.get("transpose_a")))


def _interm_tile(ops: MatmulOperands, l1_acc: bool) -> int:
    if ops.fp32_dest_acc_en:
        return TILE_BYTES[ttnn.float32]
    return TILE_BYTES[ttnn.bfloat16] if l1_acc else TILE_BYTES[ops.out_dtype]


def matmul_buffers(config, g: MatmulGeometry, ops: MatmulOperands, dram_banks: int) -> list[tuple[str, int, int]]:
    """(name, entries, bytes per entry) of every buffer the program allocates in the L1 of each core it runs on
    (0 entries: borrowed from a sharded tensor, or sharing another buffer's region)."""
    if isinstance(config, DRAM_SHARDED):
        return _dram_sharded_buffers(config, g, ops, dram_banks)
    in0_tile, in1_tile, out_tile = TILE_BYTES[ops.in0_dtype], TILE_BYTES[ops.in1_dtype], TILE_BYTES[ops.out_dtype]
    num_blocks = g.kt // config.in0_block_w
    buffering = INPUT_BUFFERING if g.batch * num_blocks > 1 else 1
    bias = ops.bias_dtype is not None
    if isinstance(config, REUSE):
        l1_acc = ops.packer_l1_acc and num_blocks > 2
        per_core_m_per_batch = min(config.per_core_M, g.mt_per_batch or g.mt)
        block_h, block_w = config.per_core_M, config.per_core_N
        in0_entries = 0 if ops.in0_sharding else per_core_m_per_batch * config.in0_block_w * INPUT_BUFFERING
        bias_entries = per_core_m_per_batch * block_w
    else:
        mcast_in1 = isinstance(config, ONE_D) and not config.mcast_in0
        if isinstance(config, TWO_D) or mcast_in1:
            l1_acc = ops.packer_l1_acc and ((bias and num_blocks > 1) or num_blocks > 2)
        else:
            l1_acc = ops.packer_l1_acc and num_blocks > 1
        block_h, block_w = config.out_block_h, config.out_block_w
        in0_entries = block_h * config.in0_block_w * buffering
        if (isinstance(config, TWO_D) and ops.in0_sharding == ttnn.TensorMemoryLayout.HEIGHT_SHARDED) \
                or (mcast_in1 and ops.in0_sharding):
            in0_entries = 0
        bias_entries = block_w
    in1_entries = 0 if ops.in1_l1_sharded else block_w * config.in0_block_w * (
        INPUT_BUFFERING if isinstance(config, REUSE) else buffering)
    interm_tile = _interm_tile(ops, l1_acc)
    buffers = [("in0", in0_entries, in0_tile), ("in1", in1_entries, in1_tile),
               ("out", 0 if ops.out_sharded else block_h * block_w, out_tile),
               ("intermed0", block_h * block_w if interm_tile != out_tile else 0, interm_tile)]
    if bias:
        buffers.append(("bias", bias_entries, TILE_BYTES[ops.bias_dtype]))
    if ops.transpose_a:
        buffers.append(("in0_transposed", in0_entries, in0_tile))
    return buffers


def dram_sharded_width(nt: int, config, dram_banks: int) -> int:
    """The DRAM-sharded factory sizes its blocks from the DRAM banks, not from per_core_N (which only sets the width
    of the output shard): each worker reads ceil(Nt / (banks * workers_per_bank)) weight tiles per K step."""
    return -(-nt // (dram_banks * config.num_workers_per_dram_bank))


def default_subblock(per_core_m: int, per_core_n: int, fp32_dest_acc_en: bool) -> tuple[int, int]:
    """bmm_op_utils::get_matmul_subblock_params without its constraints: the first of SUBBLOCK_CHOICES that fits
    the dest register (4 tiles with fp32_dest_acc_en) and divides the block, else (1, 1)."""
    for h, w in SUBBLOCK_CHOICES:
        if (h * w <= 4 or not fp32_dest_acc_en) and per_core_m % h == 0 and per_core_n % w == 0:
            return h, w
    return 1, 1


def dram_sharded_blocking(config, g: MatmulGeometry, ops: MatmulOperands, dram_banks: int) -> tuple[int, int, int]:
    """(out_subblock_h, out_subblock_w, output width in tiles) each DRAM-sharded worker computes with. The factory
    takes the default subblock of its width and, when that is one tile high, widens it up to the dest register
    (4 tiles with fp32_dest_acc_en, else 8) wherever fewer subblocks then cover the width, padding the width to a
    whole number of subblocks (a prime width of 11 computes as 3 subblocks of 4)."""
    width = dram_sharded_width(g.nt, config, dram_banks)
    h, w = default_subblock(config.per_core_M, width, ops.fp32_dest_acc_en)
    widest = 4 if ops.fp32_dest_acc_en else 8
    if h == 1 and w < widest:
        count = width // w
        for wider in range(w + 1, widest + 1):
            if -(-width // wider) < count:
                count, w = -(-width // wider), wider
        width = w * count
    return h, w, width


def _dram_sharded_buffers(config, g: MatmulGeometry, ops: MatmulOperands, dram_banks: int):
    per_core_n = dram_sharded_width(g.nt, config, dram_banks)
    computed = dram_sharded_blocking(config, g, ops, dram_banks)[2]
    num_blocks = g.kt // config.in0_block_w
    looped = g.batch * num_blocks > 1
    interm_tile = _interm_tile(ops, ops.packer_l1_acc and num_blocks > 1)
    out_tile = TILE_BYTES[ops.out_dtype]
    buffers = [("in0", config.per_core_M * config.in0_block_w * (INPUT_BUFFERING if looped else 1),
                TILE_BYTES[ops.in0_dtype]),
               ("in1", per_core_n * config.in0_block_w * (DRAM_SHARDED_IN1_BUFFERING if looped else 1),
                TILE_BYTES[ops.in1_dtype]),
               ("out", config.per_core_M * computed, out_tile),
               ("intermed0", config.per_core_M * computed if interm_tile != out_tile else 0, interm_tile)]
    if ops.bias_dtype is not None:
        buffers.append(("bias", computed, TILE_BYTES[ops.bias_dtype]))
    return buffers


def matmul_cores(config, g: MatmulGeometry, dram_banks: int) -> tuple[int, int]:
    """(x, y) extent of the cores the program runs on (a row-major fill of the grid where it is not 2D)."""
    if isinstance(config, DRAM_SHARDED):
        return dram_banks * config.num_workers_per_dram_bank, 1
    blocks_y, blocks_x = -(-g.mt // config.per_core_M), -(-g.nt // config.per_core_N)
    if isinstance(config, TWO_D):
        return (blocks_y, blocks_x) if config.transpose_mcast else (blocks_x, blocks_y)
    grid = config.compute_with_storage_grid_size
    count = blocks_y * blocks_x
    return min(count, grid.x), -(-count // grid.x)
