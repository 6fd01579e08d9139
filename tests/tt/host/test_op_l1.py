"""The buffers of every non-matmul op the TT tree uses, against the per-core sizes the 0.81.1 host code allocates
(measured by running ttnn 0.81.1's own validation and program factories on a mocked Wormhole n150 and Blackhole
p150: the kernels do not run there, the buffer allocation does). Each case is a shape-only call on the dry run's
device, read back from the op log."""

import pytest
import torch

from tt.host.device import DEVICES
from tt.ops import ttnn
from tt.runtime import dry_runtime

BF16, BFP8, F32 = ttnn.bfloat16, ttnn.bfloat8_b, ttnn.float32


def kernel(fp32: bool):
    return ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi4, math_approx_mode=False,
                                            fp32_dest_acc_en=fp32, packer_l1_acc=False)


def recorded(device: str, build):
    """cb_bytes of the last op `build(tensor)` makes, where tensor(shape, dtype) is a shape-only upload."""
    with dry_runtime(device) as runtime:
        def tensor(shape, dtype=BF16, layout=ttnn.TILE_LAYOUT):
            return ttnn.from_torch(torch.empty(shape, device="meta"), dtype=dtype, layout=layout,
                                   device=runtime.device, memory_config=ttnn.DRAM_MEMORY_CONFIG)
        with runtime.recording() as log:
            build(tensor)
    return log.select(kind="op")[-1]


def sdpa(q_shape, k_shape, dh, q_chunk, k_chunk, fp32, mask=True, kv_dtype=BF16):
    def build(tensor):
        b, heads, sq = q_shape
        kv_heads, sk = k_shape
        config = ttnn.SDPAProgramConfig(compute_with_storage_grid_size=ttnn.CoreCoord(8, 8), q_chunk_size=q_chunk,
                                        k_chunk_size=k_chunk, exp_approx_mode=False)
        ttnn.transformer.scaled_dot_product_attention(
            tensor([b, heads, sq, dh]), tensor([b, kv_heads, sk, dh], kv_dtype),
            tensor([b, kv_heads, sk, dh], kv_dtype),
            attn_mask=tensor([1, 1, sq, sk]) if mask else None, is_causal=False, scale=1.0, program_config=config,
            compute_kernel_config=kernel(fp32))
    return build


@pytest.mark.parametrize("k_chunk, fp32, expected", [(64, False, 346_112), (64, True, 327_680), (128, False, 501_760),
                                                      (128, True, 491_520), (256, False, 813_056),
                                                      (256, True, 819_200)])
def test_sdpa_action_expert_mqa(k_chunk, fp32, expected):
    """64 suffix queries, 8 heads, one KV head of 896 keys, head_dim 256, bf16 mask."""
    record = recorded("n150", sdpa((1, 8, 64), (1, 896), 256, 64, k_chunk, fp32))
    assert (record.cb_bytes, record.cores) == (expected, 8)


@pytest.mark.parametrize("sk, mask, fp32, kv, expected", [
    (896, False, False, BF16, 468_992), (896, False, True, BF16, 458_752), (880, False, False, BF16, 473_088),
    (880, False, True, BF16, 467_968), (896, True, False, BFP8, 378_880), (896, True, True, BFP8, 368_640)])
def test_sdpa_mask_and_padding_buffers(sk, mask, fp32, kv, expected):
    """Without a mask, keys padded to the chunk get a small bfloat16 mask (streaming) or a bfloat4_b one (legacy)."""
    assert recorded("n150", sdpa((1, 8, 64), (1, sk), 256, 64, 128, fp32, mask, kv)).cb_bytes == expected


@pytest.mark.parametrize("batch, mask, fp32, expected", [(1, False, False, 145_408), (1, False, True, 147_456),
                                                         (1, True, False, 161_792), (1, True, True, 163_840),
                                                         (2, True, False, 174_080), (2, True, True, 176_128)])
def test_sdpa_siglip(batch, mask, fp32, expected):
    """256 tokens, 16 heads of 96 lanes; batch 2 deals two q chunks to a core, so q is double-buffered."""
    assert recorded("n150", sdpa((batch, 16, 256), (16, 256), 96, 64, 64, fp32, mask)).cb_bytes == expected


def test_sdpa_with_a_scaled_mask_runs_a_prescale_program_first():
    def build(tensor):
        ttnn.transformer.scaled_dot_product_attention(
            tensor([1, 8, 64, 256]), tensor([1, 1, 896, 256]), tensor([1, 1, 896, 256]),
            attn_mask=tensor([1, 1, 64, 896]), is_causal=False, scale=256 ** -0.5, compute_kernel_config=kernel(True),
            program_config=ttnn.SDPAProgramConfig(compute_with_storage_grid_size=ttnn.CoreCoord(8, 8),
                                                  q_chunk_size=64, k_chunk_size=128, exp_approx_mode=False))
    record = recorded("n150", build)
    assert [p.name for p in record.programs] == ["mask prescale", "sdpa"]
    prescale, attention = record.programs
    assert prescale.bytes_per_core(DEVICES["n150"]) == 10_240 and prescale.work.busy_cores == 56, "2 x 28 mask tiles"
    assert attention.bytes_per_core(DEVICES["n150"]) == record.cb_bytes == 491_520


@pytest.mark.parametrize("op, width, residual, fp32, device, expected", [
    ("rms_norm", 2048, False, True, "n150", 622_592), ("rms_norm", 2048, True, True, "n150", 786_432),
    ("layer_norm", 1152, False, True, "n150", 622_592), ("layer_norm", 1152, True, True, "p150", 729_088),
    ("rms_norm", 2048, False, False, "n150", 487_424), ("rms_norm", 256, False, True, "n150", 163_840),
    ("rms_norm", 8192, False, True, "n150", 446_464)])
def test_norms_resident_and_streaming(op, width, residual, fp32, device, expected):
    """A row of 8192 (256 tiles) exceeds 95% of the free L1 span resident, so it streams in 28-tile chunks."""
    def build(tensor):
        x = tensor([1, 1, 64, width])
        kwargs = dict(weight=tensor([1, width]), compute_kernel_config=kernel(fp32), epsilon=1e-6)
        if op == "layer_norm":
            kwargs["bias"] = tensor([1, width])
        if residual:
            kwargs["residual_input_tensor"] = tensor([1, 1, 64, width])
        getattr(ttnn, op)(x, **kwargs)
    record = recorded(device, build)
    assert (record.cb_bytes, record.cores) == (expected, 2)


@pytest.mark.parametrize("case, expected", [("plain", 12_288), ("broadcast", 16_384), ("scalar", 10_240),
                                            ("gelu", 8_192), ("typecast", 12_288)])
def test_eltwise(case, expected):
    def build(tensor):
        x = tensor([1, 1, 64, 2048])
        {"plain": lambda: ttnn.add(x, tensor([1, 1, 64, 2048])),
         "broadcast": lambda: ttnn.multiply(x, tensor([1, 1, 1, 2048])),
         "scalar": lambda: ttnn.multiply(x, 0.5),
         "gelu": lambda: ttnn.gelu(x),
         "typecast": lambda: ttnn.typecast(x, F32)}[case]()
    record = recorded("n150", build)
    assert (record.cb_bytes, record.cores) == (expected, 64), "128 tiles over the 64 cores"


@pytest.mark.parametrize("width, expected", [(2048, 524_288), (1152, 294_912), (1024, 262_144)])
def test_embedding_of_a_tile_multiple_of_tokens(width, expected):
    def build(tensor):
        ttnn.embedding(tensor([1, 64], ttnn.uint32, ttnn.ROW_MAJOR_LAYOUT),
                       tensor([1024, width], BF16, ttnn.ROW_MAJOR_LAYOUT), layout=ttnn.TILE_LAYOUT, dtype=BF16)
    record = recorded("n150", build)
    assert (record.cb_bytes, record.cores) == (expected, 2)


def test_tile_aligned_data_movement():
    def concat(tensor):
        ttnn.concat([tensor([1, 1, 832, 256]), tensor([1, 1, 64, 256])], dim=2)
    assert recorded("n150", concat).cb_bytes == 4_096

    def slice_rows(tensor):
        ttnn.slice(tensor([1, 1, 128, 256]), [0, 0, 32, 0], [1, 1, 96, 256])
    assert recorded("n150", slice_rows).cb_bytes == 4_096

    def split(tensor):
        ttnn.split(tensor([1, 1, 1, 3072]), 1024, dim=3)
    assert recorded("n150", split).cb_bytes == 4_096


def test_partial_tile_cuts_are_reported_unmodelled():
    """ttnn runs untilize / row-major / tilize composites for these; the host path does not size them."""
    def concat(tensor):
        ttnn.concat([tensor([1, 1, 50, 256]), tensor([1, 1, 14, 256])], dim=2)
    assert recorded("n150", concat).cb_bytes is None

    def slice_rows(tensor):
        ttnn.slice(tensor([1, 1, 64, 256]), [0, 0, 1, 0], [1, 1, 51, 256])
    assert recorded("n150", slice_rows).cb_bytes is None


def test_sharded_operands_outside_matmuls_are_reported_unmodelled():
    """Sharded operands select other factories than the interleaved ones sized here; the op log names the form."""
    grid = ttnn.CoreRangeSet({ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(7, 3))})
    width_sharded = ttnn.MemoryConfig(ttnn.TensorMemoryLayout.WIDTH_SHARDED, ttnn.BufferType.L1,
                                      ttnn.ShardSpec(grid, [64, 32], ttnn.ShardOrientation.ROW_MAJOR))

    def norm(tensor):
        ttnn.rms_norm(ttnn.to_memory_config(tensor([1, 1, 64, 1024]), width_sharded), epsilon=1e-6)

    def add_into_shards(tensor):
        x = tensor([1, 1, 64, 1024])
        ttnn.add(x, x, memory_config=width_sharded)

    def norm_with_a_sharded_config(tensor):
        config = ttnn.LayerNormShardedMultiCoreProgramConfig(compute_with_storage_grid_size=(8, 4), subblock_w=1,
                                                             block_h=2, block_w=1, inplace=False)
        ttnn.rms_norm(tensor([1, 1, 64, 1024]), epsilon=1e-6, program_config=config)
    for build in (norm, add_into_shards, norm_with_a_sharded_config):
        record = recorded("n150", build)
        assert (record.cb_bytes, record.cost, record.op_form) == (None, None, f"{record.op} (sharded)")


@pytest.mark.parametrize("heads, kv, dim, expected", [(8, 1, 256, 32_768), (16, 8, 128, 16_384), (16, 16, 96, 8_192)])
def test_create_qkv_heads(heads, kv, dim, expected):
    def build(tensor):
        ttnn.experimental.nlp_create_qkv_heads(tensor([1, 1, 64, (heads + 2 * kv) * dim]), num_heads=heads,
                                               num_kv_heads=kv, transpose_k_heads=False)
    assert recorded("n150", build).cb_bytes == expected


@pytest.mark.parametrize("heads, dim, expected", [(8, 256, 262_144), (16, 96, 196_608), (16, 64, 131_072)])
def test_concat_heads(heads, dim, expected):
    assert recorded("n150", lambda tensor: ttnn.experimental.nlp_concat_heads(
        tensor([1, heads, 64, dim]))).cb_bytes == expected


def test_views_run_no_program():
    record = recorded("n150", lambda tensor: ttnn.unsqueeze(tensor([1, 64, 256]), 1))
    assert (record.cb_bytes, record.cores) == (0, 0)
