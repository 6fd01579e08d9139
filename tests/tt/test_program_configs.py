"""Program configs are pure functions of shapes and the grid: their tiling invariants hold on every grid."""

import pytest

from tt.ops import ttnn
from tt.program_configs import MAX_SUBBLOCK_TILES, matmul_config, sdpa_config, tiles

GRIDS = [(8, 8), (8, 7), (7, 10), (13, 10), (1, 1)]
SHAPES = [(51 * 2, 1024, 4096), (816, 2048, 16384), (256, 1152, 4304), (37, 128, 2560), (64, 4304, 1152),
          (1, 1024, 3072), (288, 144, 288)]


@pytest.mark.parametrize("grid_xy", GRIDS)
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_matmul_config_tiles_the_output(grid_xy, m, k, n):
    grid = ttnn.CoreCoord(*grid_xy)
    cfg = matmul_config(m, k, n, grid)
    mt, kt, nt = tiles(m), tiles(k), tiles(n)
    assert kt % cfg.in0_block_w == 0
    assert cfg.per_core_M % cfg.out_subblock_h == 0 and cfg.per_core_N % cfg.out_subblock_w == 0
    assert cfg.out_subblock_h * cfg.out_subblock_w <= MAX_SUBBLOCK_TILES
    assert cfg.compute_with_storage_grid_size.x == grid.x and cfg.compute_with_storage_grid_size.y == grid.y
    if isinstance(cfg, ttnn.MatmulMultiCoreReuseMultiCastProgramConfig):
        assert mt >= grid.y
        assert cfg.per_core_M * grid.y >= mt and cfg.per_core_N * grid.x >= nt
        assert (cfg.per_core_M - 1) * grid.y < mt  # no core row is left idle by an oversized block
    else:
        assert mt < grid.y and cfg.per_core_M == mt
        assert cfg.per_core_N * grid.x * grid.y >= nt


@pytest.mark.parametrize("q_len, k_len, chunks", [(51, 816, (64, 64)), (51, 800, (64, 32)), (256, 256, (256, 256)),
                                                   (64, 576, (64, 64)), (37, 37, (64, 64))])
def test_sdpa_chunks_divide_the_padded_lengths(q_len, k_len, chunks):
    cfg = sdpa_config(q_len, k_len, ttnn.CoreCoord(8, 8))
    assert (cfg.q_chunk_size, cfg.k_chunk_size) == chunks
