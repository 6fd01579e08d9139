"""The matmul buffer formulas against cases worked by hand from the 0.81.1 program factories, and the L1 check's
refusal in the device's own words (tt/host/resources)."""

import pytest
import ttnn

from tt.host.device import DEVICES
from tt.host.errors import RuleViolation
from tt.host.resources import DATAFLOW, Program, check_fits
from tt.host.resources.cores import WorkSplit
from tt.host.resources.matmul import (MatmulGeometry, MatmulOperands, dram_sharded_blocking, matmul_buffers,
                                      matmul_cores)

WORMHOLE, BLACKHOLE = DEVICES["n150"], DEVICES["p150"]
HIFI2_FP32 = dict(fp32_dest_acc_en=True, packer_l1_acc=True)
BF16, BFP8 = ttnn.bfloat16, ttnn.bfloat8_b


def two_d(grid=(8, 8), in0_block_w=8, per_core=(4, 64), block=None, subblock=(1, 4)):
    block = block or per_core
    return ttnn.MatmulMultiCoreReuseMultiCastProgramConfig(
        compute_with_storage_grid_size=ttnn.CoreCoord(*grid), in0_block_w=in0_block_w, out_subblock_h=subblock[0],
        out_subblock_w=subblock[1], out_block_h=block[0], out_block_w=block[1], per_core_M=per_core[0],
        per_core_N=per_core[1], transpose_mcast=False, fused_activation=None)


def one_d(per_core=(2, 2), in0_block_w=8, mcast_in0=True):
    return ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig(
        compute_with_storage_grid_size=ttnn.CoreCoord(8, 8), in0_block_w=in0_block_w, out_subblock_h=1,
        out_subblock_w=2, per_core_M=per_core[0], per_core_N=per_core[1], fuse_batch=True, fused_activation=None,
        mcast_in0=mcast_in0)


def total(buffers) -> int:
    return sum(entries * size for _, entries, size in buffers)


def test_vlm_gate_up_as_configured_before_is_refused_on_every_device():
    """pi0's VLM gate/up projection (816 prefix rows, K 2048, N 16384) with the 2D config tt/program_configs.py
    used to pick: in0 4*8*2 bf16 tiles 131,072 B + in1 64*8*2 bfp8 tiles 1,114,112 B + out 4*64 bf16 tiles
    524,288 B + float32 partials (fp32 dest, packer L1 accumulation over 8 K blocks) 1,048,576 B = 2,818,048 B."""
    config, geometry = two_d(), MatmulGeometry(mt=26, kt=64, nt=512)
    buffers = matmul_buffers(config, geometry, MatmulOperands(BF16, BFP8, BF16, **HIFI2_FP32), dram_banks=12)
    assert buffers == [("in0", 64, 2048), ("in1", 1024, 1088), ("out", 256, 2048), ("intermed0", 256, 4096)]
    assert total(buffers) == 2_818_048
    alloc = Program("matmul", DATAFLOW, matmul_cores(config, geometry, 12), tuple(buffers), WorkSplit(56, 1))
    assert alloc.cores == (8, 7)
    with pytest.raises(RuleViolation, match=r"ttnn.linear: Statically allocated dataflow buffers on core range "
                                            r"\[0-0 - 7-6\] grow to 2923872 B which is beyond max L1 size of "
                                            r"1499136 B"):
        check_fits("ttnn.linear", alloc, WORMHOLE)
    with pytest.raises(RuleViolation, match="grow to 2929792 B which is beyond max L1 size of 1572864 B"):
        check_fits("ttnn.linear", alloc, BLACKHOLE)


def test_smaller_output_blocks_fit_the_same_split():
    """out_block 4x16 of the same per-core 4x64: in1 16*8*2 bfp8 = 278,528, out 64 bf16 = 131,072, partials 64 fp32
    = 262,144, in0 unchanged 131,072: 802,816 B."""
    buffers = matmul_buffers(two_d(block=(4, 16)), MatmulGeometry(26, 64, 512),
                             MatmulOperands(BF16, BFP8, BF16, **HIFI2_FP32), dram_banks=12)
    assert total(buffers) == 802_816
    check_fits("ttnn.linear", Program("matmul", DATAFLOW, (8, 7), tuple(buffers), WorkSplit(56, 1)), WORMHOLE)


def test_one_d_mcast_in0_suffix_projection():
    """64 suffix rows, K 1024, N 4096 over 64 cores: in0 2*8*2 = 32 bf16 tiles, in1 2*8*2 = 32 bfp8 tiles, out 4 bf16
    tiles, partials 4 fp32 tiles: 124,928 B; the program spans 64 cores."""
    config, geometry = one_d(), MatmulGeometry(2, 32, 128)
    buffers = matmul_buffers(config, geometry, MatmulOperands(BF16, BFP8, BF16, **HIFI2_FP32), dram_banks=12)
    assert total(buffers) == 124_928
    assert matmul_cores(config, geometry, 12) == (8, 8)


@pytest.mark.parametrize("fp32, packer, blocks, interm", [(True, True, 4, 4096), (False, True, 4, 2048),
                                                           (False, False, 4, None), (False, True, 1, None)])
def test_partials_format_and_sharing(fp32, packer, blocks, interm):
    """Partials are float32 with fp32 dest; bfloat16 when packer L1 accumulation is on (more than one K block on
    mcast_in0), else the output format; they share the output's region when the formats agree (here bfloat8_b
    output so bfloat16 partials need their own)."""
    config = one_d(in0_block_w=32 // blocks)
    buffers = dict((name, (entries, size)) for name, entries, size in matmul_buffers(
        config, MatmulGeometry(2, 32, 128), MatmulOperands(BF16, BFP8, BFP8, fp32, packer), dram_banks=12))
    if interm is None:
        assert buffers["intermed0"][0] == 0
    else:
        assert buffers["intermed0"] == (4, interm)


def test_single_k_block_is_not_double_buffered_and_bias_adds_a_row():
    """K in one block (Kt = in0_block_w = 8): in0 2*8 and in1 2*8 tiles, single-buffered; bias: out_block_w tiles."""
    buffers = matmul_buffers(one_d(in0_block_w=8), MatmulGeometry(2, 8, 128),
                             MatmulOperands(BF16, BF16, BF16, False, False, bias_dtype=BF16), dram_banks=12)
    assert buffers == [("in0", 16, 2048), ("in1", 16, 2048), ("out", 4, 2048), ("intermed0", 0, 2048),
                       ("bias", 2, 2048)]


def test_dram_sharded_sizes_blocks_from_the_banks():
    """DRAM-sharded, M one tile, K 1024 (in0_block_w 4: 8 blocks), N 4096 = 128 tiles: each of the 12 Wormhole
    workers reads ceil(128 / 12) = 11 weight tiles per K step, in1 triple-buffered: in0 1*4*2 bf16, in1 11*4*3 bfp8.
    It computes 12: 11 is prime, so the default subblock is 1x1, widened to 1x4 (fp32 dest) as 3 subblocks: out 12
    bf16, partials 12 fp32. On Blackhole's 8 banks 16 tiles."""
    config = ttnn.MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig(in0_block_w=4, per_core_M=1, per_core_N=16)
    ops = MatmulOperands(BF16, BFP8, BF16, **HIFI2_FP32)
    geometry = MatmulGeometry(1, 32, 128)
    assert matmul_buffers(config, geometry, ops, dram_banks=12) == [
        ("in0", 8, 2048), ("in1", 132, 1088), ("out", 12, 2048), ("intermed0", 12, 4096)]
    assert dram_sharded_blocking(config, geometry, ops, dram_banks=12) == (1, 4, 12)
    assert matmul_buffers(config, geometry, ops, dram_banks=8)[1] == ("in1", 192, 1088)
    assert matmul_cores(config, geometry, 12) == (12, 1)


@pytest.mark.parametrize("width, fp32, expected", [
    (16, False, (1, 8, 16)),  # the default 1x8 divides 16: nothing to widen
    (16, True, (1, 4, 16)),
    (11, False, (1, 6, 12)),  # 1x1 -> 1x6: 2 subblocks (1x7 and 1x8 also need 2, and are not fewer)
    (20, False, (1, 7, 21)),  # 1x5 (4 subblocks) -> 1x7 (3): the width padded to 21
    (10, True, (1, 4, 12)),  # 1x2 (5 subblocks) -> 1x3 (4) -> 1x4 (3)
])
def test_dram_sharded_subblocks_widen_as_the_factory_does(width, fp32, expected):
    config = ttnn.MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig(in0_block_w=1, per_core_M=1, per_core_N=width)
    ops = MatmulOperands(BF16, BFP8, BF16, fp32_dest_acc_en=fp32, packer_l1_acc=True)
    assert dram_sharded_blocking(config, MatmulGeometry(1, 8, width), ops, dram_banks=1) == expected


def test_l1_tensors_below_the_buffers_clash():
    alloc = Program("matmul", DATAFLOW, (8, 8), (("in0", 100, 2048),), WorkSplit(64, 1))
    check_fits("ttnn.linear", alloc, WORMHOLE, l1_tensor_bytes=1_000_000)
    with pytest.raises(RuleViolation, match=r"clash with L1 buffers on core range \[0-0 - 7-7\]. L1 buffer allocated "
                                            r"at 99136 and static dataflow buffer region ends at 310624"):
        check_fits("ttnn.linear", alloc, WORMHOLE, l1_tensor_bytes=1_400_000)


def test_l1_budget_figures():
    """HAL DEFAULT_UNRESERVED = MEM_MAP_END + 69 KiB kernel config, aligned; L1 from dev_mem_map.h."""
    assert (WORMHOLE.l1_unreserved_base, WORMHOLE.l1_bytes, WORMHOLE.l1_budget) == (105_824, 1_499_136, 1_393_312)
    assert (BLACKHOLE.l1_unreserved_base, BLACKHOLE.l1_bytes, BLACKHOLE.l1_budget) == (111_744, 1_572_864, 1_461_120)
