"""Program configs are pure functions of shapes, the grid and the L1 budget: at every full-size matmul shape the TT
tree asks for, on every modelled grid, the config tiles the output within the grid and its buffers fit the budget."""

from dataclasses import replace

import pytest
import torch

from tt.attention import Rope, Rotation
from tt.common import upload
from tt.host.device import DEVICES
from tt.host.pricing import Pricing
from tt.host.resources.attention import SdpaShape, sdpa_shape_buffers
from tt.host.resources.matmul import TWO_D, MatmulGeometry, MatmulOperands, matmul_buffers
from tt.ops import ttnn
from tt.host.timing import arch_constants, matmul_kernel_ns, sdpa_kernel_ns, sdpa_traffic
from tt.precision import ROPE_KERNEL, ROTATION_KERNEL
from tt.runtime import dry_runtime
from tt.program_configs import DEST_TILES, DEST_TILES_FP32, SdpaCall, matmul_config, sdpa_config, tiles


def _alternatives(geometry, grid, spec, operands, activation):
    """Hand-made configs of each family: 2D over every core row, 1D over every core, both with one-tile subblocks
    and blocks; each that fits the budget."""
    act = None if activation is None else ttnn.UnaryWithParam(activation)
    common = dict(compute_with_storage_grid_size=grid, in0_block_w=1, out_subblock_h=1, out_subblock_w=1,
                  out_block_h=1, out_block_w=1, fused_activation=act)
    two_d = ttnn.MatmulMultiCoreReuseMultiCastProgramConfig(
        transpose_mcast=False, per_core_M=-(-geometry.mt // grid.y), per_core_N=-(-geometry.nt // grid.x), **common)
    one_d = ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig(
        fuse_batch=True, mcast_in0=True, per_core_M=geometry.mt, per_core_N=-(-geometry.nt // (grid.x * grid.y)),
        **common)
    for cfg in (two_d, one_d):
        if sum(n * size for _, n, size in matmul_buffers(cfg, geometry, operands, spec.dram_banks)) <= spec.l1_budget:
            yield cfg


@pytest.mark.parametrize("device", sorted(DEVICES))
def test_matmul_config_at_every_full_size_shape(full_size, device):
    """The config tiles the output within the grid, its buffers fit, and neither family's plain config (every core
    row or every core, single-tile blocks) is predicted faster (to the nanosecond the choice rounds to)."""
    spec = DEVICES[device]
    grid = ttnn.CoreCoord(*spec.grid)
    assert len(full_size.matmul_shapes) > 50
    families = set()
    for m, k, n, operands, fidelity, activation in sorted(full_size.matmul_shapes, key=str):
        cfg = matmul_config(m, k, n, grid, spec, operands, fidelity, activation)
        families.add(type(cfg).__name__)
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
            assert (cfg.per_core_M - 1) * blocks_y < geometry.mt, f"{label}: a core row left idle"
        else:
            assert cfg.mcast_in0 and cfg.per_core_M == geometry.mt and blocks_x <= grid.x * grid.y, label
        used = sum(entries * size for _, entries, size in matmul_buffers(cfg, geometry, operands, spec.dram_banks))
        assert used <= spec.l1_budget, f"{label}: {used} B > {spec.l1_budget} B"
        chosen = matmul_kernel_ns(cfg, geometry, operands, fidelity, spec, True, True)
        for other in _alternatives(geometry, grid, spec, operands, activation):
            assert round(chosen) <= round(matmul_kernel_ns(other, geometry, operands, fidelity, spec, True, True)), \
                label
    assert families == {"MatmulMultiCoreReuseMultiCastProgramConfig", "MatmulMultiCoreReuseMultiCast1DProgramConfig"}


@pytest.mark.parametrize("device", ["n150", "p150"])
def test_a_dram_bound_projection_uses_every_core_it_can(device):
    """The action expert's QKV projection (64 x 1024 @ 1024 x 4096, bfloat8_b weights) is DRAM-bound: configs over
    16 or 64 cores are predicted alike, and the one spreading the weights over the most cores is taken."""
    spec = DEVICES[device]
    operands = MatmulOperands(ttnn.bfloat16, ttnn.bfloat8_b, ttnn.bfloat16, True, True)
    cfg = matmul_config(64, 1024, 4096, ttnn.CoreCoord(*spec.grid), spec, operands, "HiFi2")
    assert -(-2 // cfg.per_core_M) * -(-128 // cfg.per_core_N) == min(128, spec.cores)


def test_a_smaller_budget_gets_smaller_blocks(full_size):
    """The gate/up projection of the pi0 VLM (3 cameras): the full budget takes larger output blocks than a third
    of it, and both fit what they were given."""
    m, k, n, operands, fidelity, activation = max((s for s in full_size.matmul_shapes if s[1:3] == (2048, 16384)),
                                                  key=lambda s: s[0])
    grid, spec = ttnn.CoreCoord(8, 8), DEVICES["n150"]
    small_spec = replace(spec, l1_bytes=spec.l1_unreserved_base + spec.l1_budget // 3)
    large, small = (matmul_config(m, k, n, grid, s, operands, fidelity, activation) for s in (spec, small_spec))
    assert small.out_block_h * small.out_block_w < large.out_block_h * large.out_block_w


MQA_PREFIX = SdpaShape(0, 0, 0, 0, 8, ttnn.bfloat16, ttnn.bfloat16, ttnn.bfloat16, True, False)  # head_dim 256


def _predicted(q_len, k_len, call, spec, q_chunk, k_chunk):
    cores = spec.cores
    units = call.heads * -(-q_len // q_chunk)
    traffic = sdpa_traffic(call.kv_bytes, call.q_per_kv, -(-q_len // q_chunk))
    return sdpa_kernel_ns(-(-units // cores), q_chunk, k_chunk, tiles(k_len) * 32, 8, call.fidelity, traffic, spec)


@pytest.mark.parametrize("device", ["n150", "n300", "p150"])
@pytest.mark.parametrize("q_len, k_len, heads", [(51, 816, 8), (64, 576, 8), (64, 384, 8), (37, 37, 8),
                                                 (320, 320, 8), (256, 256, 8), (816, 816, 32)])
def test_sdpa_chunks_fit_and_are_the_fastest_that_fit(device, q_len, k_len, heads):
    """The chunks divide the tile-padded lengths, their buffers fit, and no other fitting chunking is predicted
    faster; a 256-token prefix of head_dim 256 does not fit 256 x 256 chunks (1,691,648 B of buffers)."""
    spec = DEVICES[device]
    grid = ttnn.CoreCoord(*spec.grid)
    call = SdpaCall(heads, 8, 2 * tiles(k_len) * 8 * 2048, "HiFi4")
    cfg = sdpa_config(q_len, k_len, call, grid, spec, MQA_PREFIX)
    q_chunk, k_chunk = cfg.q_chunk_size, cfg.k_chunk_size
    assert tiles(q_len) * 32 % q_chunk == 0 and tiles(k_len) * 32 % k_chunk == 0
    fitted = replace(MQA_PREFIX, q_chunk=q_chunk, k_chunk=k_chunk, sq=q_len, sk=k_len)
    assert sum(n * size for _, n, size in sdpa_shape_buffers(fitted)) <= spec.l1_budget
    chosen = _predicted(q_len, k_len, call, spec, q_chunk, k_chunk)
    for q_other in (32, 64, 128, 256):
        for k_other in (32, 64, 128, 256):
            other = replace(MQA_PREFIX, q_chunk=q_other, k_chunk=k_other, sq=q_len, sk=k_len)
            if tiles(q_len) * 32 % q_other or tiles(k_len) * 32 % k_other or \
                    sum(n * size for _, n, size in sdpa_shape_buffers(other)) > spec.l1_budget:
                continue
            assert chosen <= _predicted(q_len, k_len, call, spec, q_other, k_other)
    too_big = replace(MQA_PREFIX, q_chunk=256, k_chunk=256, sq=256, sk=256)
    assert sum(n * size for _, n, size in sdpa_shape_buffers(too_big)) > DEVICES["n150"].l1_budget


@pytest.mark.parametrize("device", ["n150", "p150"])
def test_rope_takes_the_form_quoted_faster(device):
    """At the full-size suffix's shapes (64 rows; 8 query heads and 1 key head of 256), RoPE runs fused exactly when
    the fused op is quoted faster than the rotate-half matmul, two multiplies and an add; on a Wormhole n150 both
    forms occur (one core per 32 rows of a head leaves most of the grid idle for the single key head)."""
    spec = DEVICES[device]
    quote = Pricing.of(spec)
    forms = {}
    with dry_runtime(device) as runtime:
        rotation = Rotation.upload(runtime, 256)
        rope = Rope.upload(runtime, torch.arange(64)[None], 10_000.0, rotation)
        for heads in (8, 1):
            x = upload(runtime, torch.empty(1, heads, 64, 256, device="meta"), ttnn.bfloat16)
            with runtime.recording() as log:
                rope(x)
            ops = [r.op for r in log.select(kind="op")]
            q = {t: quote.like(t) for t in (x, rope.cos, rope.sin, rotation.matrix)}
            fused = quote.ns("ttnn.experimental.rotary_embedding", q[x], q[rope.cos], q[rope.sin],
                             compute_kernel_config=ROPE_KERNEL)
            unfused = (quote.ns("ttnn.matmul", q[x], q[rotation.matrix], program_config=rope._rotation_config(x),
                                compute_kernel_config=ROTATION_KERNEL)
                       + 2 * quote.ns("ttnn.multiply", q[x], q[rope.cos]) + quote.ns("ttnn.add", q[x], q[x]))
            print(f"{device}, {heads} head(s): {ops}, fused quoted {fused / 1e3:.1f} us, the four ops "
                  f"{unfused / 1e3:.1f} us")
            if fused < unfused:
                assert ops == ["ttnn.experimental.rotary_embedding"]
            else:
                assert ops == ["ttnn.matmul", "ttnn.multiply", "ttnn.multiply", "ttnn.add"]
                recorded = sum(r.cost.kernel_ns + arch_constants(spec).traced_gap_ns for r in log.select(kind="op"))
                assert recorded == pytest.approx(unfused), "the quotes are the recorded four ops"
            forms[heads] = len(ops)
    if device == "n150":
        assert forms == {8: 1, 1: 4}
