"""Program configs are pure functions of shapes, the grid and the L1 budget: at every full-size matmul shape the TT
tree asks for, on every modelled grid, the config tiles the output within the grid and its buffers fit the budget."""

from dataclasses import replace

import pytest

from tt.host.device import DEVICES
from tt.host.resources.attention import SdpaShape, sdpa_shape_buffers
from tt.host.resources.matmul import TWO_D, MatmulGeometry, matmul_buffers
from tt.ops import ttnn
from tt.program_configs import DEST_TILES, DEST_TILES_FP32, matmul_config, sdpa_config, tiles


@pytest.mark.parametrize("device", sorted(DEVICES))
def test_matmul_config_at_every_full_size_shape(full_size, device):
    spec = DEVICES[device]
    grid = ttnn.CoreCoord(*spec.grid)
    assert len(full_size.matmul_shapes) > 50
    for m, k, n, operands in sorted(full_size.matmul_shapes, key=str):
        cfg = matmul_config(m, k, n, grid, spec.l1_budget, operands)
        geometry = MatmulGeometry(tiles(m), tiles(k), tiles(n))
        label = f"{device} [{m}, {k}] @ [{k}, {n}]"
        assert geometry.kt % cfg.in0_block_w == 0, label
        assert cfg.per_core_M % cfg.out_block_h == 0 and cfg.per_core_N % cfg.out_block_w == 0, label
        assert cfg.out_block_h % cfg.out_subblock_h == 0 and cfg.out_block_w % cfg.out_subblock_w == 0, label
        dest = DEST_TILES_FP32 if operands.fp32_dest_acc_en else DEST_TILES
        assert cfg.out_subblock_h * cfg.out_subblock_w <= dest, label
        blocks_y, blocks_x = -(-geometry.mt // cfg.per_core_M), -(-geometry.nt // cfg.per_core_N)
        if isinstance(cfg, TWO_D):
            assert blocks_x <= grid.x and blocks_y <= grid.y, label
            assert (cfg.per_core_M - 1) * grid.y < geometry.mt, f"{label}: a core row left idle"
        else:
            assert cfg.mcast_in0 and blocks_y == 1 and blocks_x <= grid.x * grid.y, label
        used = sum(entries * size for _, entries, size in matmul_buffers(cfg, geometry, operands, spec.dram_banks))
        assert used <= spec.l1_budget, f"{label}: {used} B > {spec.l1_budget} B"


def test_a_smaller_budget_gets_smaller_blocks(full_size):
    """The gate/up projection of the pi0 VLM (3 cameras): the full budget takes larger output blocks than a third
    of it, and both fit what they were given."""
    m, k, n, operands = max((s for s in full_size.matmul_shapes if s[1:3] == (2048, 16384)), key=lambda s: s[0])
    grid, budget = ttnn.CoreCoord(8, 8), DEVICES["n150"].l1_budget
    large, small = (matmul_config(m, k, n, grid, b, operands) for b in (budget, budget // 3))
    assert small.out_block_h * small.out_block_w < large.out_block_h * large.out_block_w


MQA_PREFIX = SdpaShape(0, 0, 0, 0, 8, ttnn.bfloat16, ttnn.bfloat16, ttnn.bfloat16, True, False)  # head_dim 256


@pytest.mark.parametrize("q_len, k_len, chunks", [(51, 816, (64, 64)), (51, 800, (64, 32)), (64, 576, (64, 64)),
                                                   (37, 37, (64, 64)), (320, 320, (64, 64)), (256, 256, (128, 256))])
def test_sdpa_chunks_divide_the_padded_lengths_and_fit(q_len, k_len, chunks):
    """The largest chunks dividing the tile-padded lengths whose buffers fit: a 256-token prefix of head_dim 256 does
    not fit 256 x 256 chunks (1,691,648 B of buffers) and takes 128 x 256."""
    budget = DEVICES["n150"].l1_budget
    cfg = sdpa_config(q_len, k_len, 8, ttnn.CoreCoord(8, 8), budget, MQA_PREFIX)
    assert (cfg.q_chunk_size, cfg.k_chunk_size) == chunks
    fitted = replace(MQA_PREFIX, q_chunk=cfg.q_chunk_size, k_chunk=cfg.k_chunk_size, sq=q_len, sk=k_len)
    assert sum(n * size for _, n, size in sdpa_shape_buffers(fitted)) <= budget
