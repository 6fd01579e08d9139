"""The ops the TT tree uses, through tt.ops, against torch math (on the host path here, on the card where there is
one); the executor's binding and layout checks; the op log; opening runtimes."""

import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import ttnn as real_ttnn

from tests.metrics import compare
from tests.tt.tensors import to_host
from tt.host import executor
from tt.host.device import DEVICES, HostDevice
from tt.ops import ttnn
from tt.runtime import CARD_PATH, MOCK_CLUSTER_ENV, open_runtime

BF16_PCC = 0.999  # bfloat16 activations (the host path reaches 0.99997; the card computes in bf16/HiFi)
BFP8_PCC = 0.997  # a bfloat8_b operand (shared exponent per 16 values)
EXACT = 0.0  # data movement: bit-exact against the bfloat16-rounded input
HAS_CARD = CARD_PATH.exists()
N150 = DEVICES["n150"]
N150_GRID = N150.grid
host_only = pytest.mark.skipif(HAS_CARD, reason="checks the host stand-in; this machine has a card")


@pytest.fixture(autouse=True)
def _report_mode(runtime, request):
    print(f"\n[tt] {request.node.name}: {runtime.label}")


def up(runtime, t, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT):
    return ttnn.from_torch(t, dtype=dtype, layout=layout, device=runtime.device,
                           memory_config=ttnn.DRAM_MEMORY_CONFIG)


def bf16(t: torch.Tensor) -> torch.Tensor:
    return t.bfloat16().float()


def host_tensor(t, dtype=real_ttnn.bfloat16, layout=real_ttnn.TILE_LAYOUT):
    """A host tensor built with the real ttnn, for calling the executor directly (valid in both modes)."""
    return real_ttnn.from_torch(t, dtype=dtype, layout=layout)


def execute(op, args, kwargs):
    """The host path's result for one call, as an n150 would run it."""
    return executor.execute(op, args, kwargs, N150)[0]


def matmul_kernel(fp32_acc=True):
    return ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi2, math_approx_mode=False,
                                            fp32_dest_acc_en=fp32_acc, packer_l1_acc=True)


def mcast_2d(in0_block_w=2, per_core_m=1, per_core_n=1, subblock=(1, 1), grid=N150_GRID):
    return ttnn.MatmulMultiCoreReuseMultiCastProgramConfig(
        compute_with_storage_grid_size=ttnn.CoreCoord(*grid), in0_block_w=in0_block_w, out_subblock_h=subblock[0],
        out_subblock_w=subblock[1], per_core_M=per_core_m, per_core_N=per_core_n, transpose_mcast=False,
        fused_activation=None)


def mcast_1d(in0_block_w=4):
    return ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig(
        compute_with_storage_grid_size=ttnn.CoreCoord(*N150_GRID), in0_block_w=in0_block_w, out_subblock_h=1,
        out_subblock_w=1, per_core_M=1, per_core_N=1, fuse_batch=True, fused_activation=None, mcast_in0=True)


# --- transfers --------------------------------------------------------------------------------------------------

def test_from_torch_to_torch_round_trip_keeps_logical_shape(runtime):
    t = torch.randn(1, 1, 40, 72)
    x = up(runtime, t)
    assert list(x.shape) == [1, 1, 40, 72] and list(x.padded_shape) == [1, 1, 64, 96]
    compare("bf16 round trip", to_host(x), bf16(t), max_abs=EXACT)
    x8 = up(runtime, t, dtype=ttnn.bfloat8_b)
    assert x8.dtype == ttnn.bfloat8_b and list(x8.shape) == [1, 1, 40, 72]
    compare("bfp8 round trip", to_host(x8), t, min_pcc=BFP8_PCC)


def test_to_device_and_from_device(runtime):
    t = torch.randn(1, 1, 32, 64)
    with runtime.recording() as log:
        staged = ttnn.from_torch(t, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT)
        on_device = ttnn.to_device(staged, runtime.device, memory_config=ttnn.DRAM_MEMORY_CONFIG)
        back = ttnn.from_device(on_device)
    assert log.count(kind="to_device") == 1 and log.count(kind="from_device") == 1
    compare("to_device/from_device", ttnn.to_torch(back).float(), bf16(t), max_abs=EXACT)


def test_as_tensor_uploads_and_caches(runtime, tmp_path):
    t = torch.randn(64, 96)
    with runtime.recording() as log:
        first, second = (ttnn.as_tensor(t, dtype=ttnn.bfloat8_b, layout=ttnn.TILE_LAYOUT, device=runtime.device,
                                        memory_config=ttnn.DRAM_MEMORY_CONFIG, cache_file_name=tmp_path / "w")
                         for _ in range(2))
    assert len(list(tmp_path.iterdir())) == 1 and log.count(kind="to_device") == 2
    compare("as_tensor cached", to_host(second), to_host(first), max_abs=EXACT)
    compare("as_tensor", to_host(first), t, min_pcc=BFP8_PCC)


# --- matmul family -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["2d", "1d"])
def test_linear_with_bias_program_and_kernel_configs(runtime, variant):
    rows = 64 if variant == "2d" else 32
    x_t, w_t, b_t = torch.randn(1, 1, rows, 128), torch.randn(128, 256) / 8, torch.randn(1, 256)
    config = mcast_2d() if variant == "2d" else mcast_1d()
    y = ttnn.linear(up(runtime, x_t), up(runtime, w_t, ttnn.bfloat8_b), bias=up(runtime, b_t), transpose_b=False,
                    program_config=config, compute_kernel_config=matmul_kernel(), dtype=ttnn.bfloat16,
                    memory_config=ttnn.DRAM_MEMORY_CONFIG)
    assert y.dtype == ttnn.bfloat16 and list(y.shape) == [1, 1, rows, 256]
    compare(f"linear {variant}", to_host(y), x_t @ w_t + b_t, min_pcc=BFP8_PCC)


def test_matmul_batched_with_output_dtype(runtime):
    a, b = torch.randn(1, 2, 64, 32), torch.randn(1, 2, 32, 64)
    y = ttnn.matmul(up(runtime, a), up(runtime, b), dtype=ttnn.bfloat8_b, compute_kernel_config=matmul_kernel())
    assert y.dtype == ttnn.bfloat8_b
    compare("matmul", to_host(y), a @ b, min_pcc=BFP8_PCC)


# --- eltwise ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("b_shape", [(1, 1, 1, 64), (1, 1, 32, 1), (1, 2, 32, 64)])
def test_binary_tensor_tensor_broadcast(runtime, b_shape):
    a, b = torch.randn(1, 2, 32, 64), torch.randn(*b_shape)
    ta, tb = up(runtime, a), up(runtime, b)
    for op, fn in ((ttnn.add, torch.add), (ttnn.subtract, torch.sub), (ttnn.multiply, torch.mul)):
        compare(f"{op.__name__} {list(b_shape)}", to_host(op(ta, tb)), fn(bf16(a), bf16(b)), min_pcc=BF16_PCC)


def test_binary_tensor_scalar(runtime):
    a = torch.randn(1, 1, 32, 64)
    x = up(runtime, a)
    compare("add scalar", to_host(ttnn.add(x, 2.5)), bf16(a) + 2.5, min_pcc=BF16_PCC)
    compare("multiply scalar", to_host(ttnn.multiply(x, 0.5)), bf16(a) * 0.5, min_pcc=BF16_PCC)
    compare("scalar minus tensor", to_host(ttnn.subtract(1.0, x)), 1.0 - bf16(a), min_pcc=BF16_PCC)


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "silu", "softmax", "sin", "cos"])
def test_unary(runtime, name):
    a = torch.randn(1, 1, 32, 128)
    x = up(runtime, a)
    ops = {
        "gelu": (lambda: ttnn.gelu(x), lambda t: F.gelu(t)),
        "gelu_tanh": (lambda: ttnn.gelu(x, variant=ttnn.GeluVariant.Tanh), lambda t: F.gelu(t, approximate="tanh")),
        "silu": (lambda: ttnn.silu(x), F.silu),
        "softmax": (lambda: ttnn.softmax(x, dim=-1), lambda t: torch.softmax(t, -1)),
        "sin": (lambda: ttnn.sin(x), torch.sin),
        "cos": (lambda: ttnn.cos(x), torch.cos),
    }
    run, reference = ops[name]
    compare(name, to_host(run()), reference(bf16(a)), min_pcc=BF16_PCC)


def test_gelu_tanh_variant_selects_the_tanh_formula():
    a = bf16(torch.linspace(-4, 4, 32 * 64).reshape(32, 64))
    x = host_tensor(a)
    tanh = real_ttnn.to_torch(execute(real_ttnn.gelu, (x,), {"variant": real_ttnn.GeluVariant.Tanh}))
    exact = real_ttnn.to_torch(execute(real_ttnn.gelu, (x,), {}))
    compare("gelu tanh", tanh.float(), bf16(F.gelu(a, approximate="tanh")), max_abs=EXACT)
    compare("gelu exact", exact.float(), bf16(F.gelu(a)), max_abs=EXACT)
    assert not torch.equal(tanh, exact)


@pytest.mark.parametrize("gamma_layout", ["tile", "row_major"])
def test_norms(runtime, gamma_layout):
    d = 256
    a, gamma, beta = torch.randn(1, 1, 64, d), torch.rand(d) + 0.5, torch.randn(d) / 4
    shape, layout = ((1, d), ttnn.TILE_LAYOUT) if gamma_layout == "tile" else ((d // 32, 32), ttnn.ROW_MAJOR_LAYOUT)
    w, b = up(runtime, gamma.reshape(shape), layout=layout), up(runtime, beta.reshape(shape), layout=layout)
    x, eps = up(runtime, a), 1e-6
    rms = ttnn.rms_norm(x, weight=w, epsilon=eps, compute_kernel_config=matmul_kernel())
    xr = bf16(a)
    compare("rms_norm", to_host(rms), xr * torch.rsqrt(xr.pow(2).mean(-1, keepdim=True) + eps) * bf16(gamma),
            min_pcc=BF16_PCC)
    ln = ttnn.layer_norm(x, weight=w, bias=b, epsilon=eps, compute_kernel_config=matmul_kernel())
    compare("layer_norm", to_host(ln), F.layer_norm(xr, (d,), bf16(gamma), bf16(beta), eps), min_pcc=BF16_PCC)


def test_where(runtime):
    a, b = torch.randn(1, 1, 32, 64), torch.randn(1, 1, 32, 64)
    predicate = (torch.rand(1, 1, 32, 64) > 0.5).float()
    out = ttnn.where(up(runtime, predicate), up(runtime, a), up(runtime, b))
    compare("where", to_host(out), torch.where(predicate > 0, bf16(a), bf16(b)), max_abs=EXACT)


# --- data movement ---------------------------------------------------------------------------------------------

def test_embedding(runtime):
    table, ids = torch.randn(100, 64), torch.randint(0, 100, (2, 8), dtype=torch.int32)
    w = up(runtime, table, layout=ttnn.ROW_MAJOR_LAYOUT)
    idx = up(runtime, ids, dtype=ttnn.uint32, layout=ttnn.ROW_MAJOR_LAYOUT)
    rows = ttnn.embedding(idx, w)
    assert rows.layout == ttnn.ROW_MAJOR_LAYOUT
    compare("embedding", to_host(rows), bf16(table)[ids.long()], max_abs=EXACT)
    tiled = ttnn.embedding(idx, w, layout=ttnn.TILE_LAYOUT)
    assert tiled.layout == ttnn.TILE_LAYOUT
    compare("embedding tiled", to_host(tiled), bf16(table)[ids.long()], max_abs=EXACT)


def test_concat_slice_reshape_permute(runtime):
    a, b, c = torch.randn(1, 1, 32, 64), torch.randn(1, 1, 32, 32), torch.randn(1, 1, 64, 64)
    ta = up(runtime, a)
    compare("concat -1", to_host(ttnn.concat([ta, up(runtime, b)], dim=-1)), bf16(torch.cat([a, b], -1)),
            max_abs=EXACT)
    compare("concat 2", to_host(ttnn.concat([ta, up(runtime, c)], dim=2)), bf16(torch.cat([a, c], 2)), max_abs=EXACT)
    big = torch.randn(1, 1, 64, 128)
    compare("slice", to_host(ttnn.slice(up(runtime, big), [0, 0, 32, 0], [1, 1, 64, 64])), bf16(big[:, :, 32:, :64]),
            max_abs=EXACT)
    compare("reshape", to_host(ttnn.reshape(ta, (1, 2, 16, 64))), bf16(a.reshape(1, 2, 16, 64)), max_abs=EXACT)
    compare("permute", to_host(ttnn.permute(ta, (0, 2, 1, 3))), bf16(a.permute(0, 2, 1, 3)), max_abs=EXACT)
    compare("unsqueeze", to_host(ttnn.unsqueeze(up(runtime, a[0]), 0)), bf16(a), max_abs=EXACT)
    compare("squeeze", to_host(ttnn.squeeze(ta, 0)), bf16(a[0]), max_abs=EXACT)


def test_layout_memory_and_dtype_conversions(runtime):
    a = torch.randn(1, 1, 40, 64)
    x = up(runtime, a)
    rm = ttnn.to_layout(x, ttnn.ROW_MAJOR_LAYOUT)
    assert rm.layout == ttnn.ROW_MAJOR_LAYOUT
    tiled = ttnn.to_layout(rm, ttnn.TILE_LAYOUT)
    assert tiled.layout == ttnn.TILE_LAYOUT and list(tiled.shape) == [1, 1, 40, 64]
    compare("to_layout", to_host(tiled), bf16(a), max_abs=EXACT)
    compare("to_memory_config", to_host(ttnn.to_memory_config(x, ttnn.L1_MEMORY_CONFIG)), bf16(a), max_abs=EXACT)
    x8 = ttnn.typecast(x, ttnn.bfloat8_b)
    assert x8.dtype == ttnn.bfloat8_b
    compare("typecast bfp8", to_host(x8), a, min_pcc=BFP8_PCC)
    back = ttnn.typecast(x8, ttnn.bfloat16)
    assert back.dtype == ttnn.bfloat16
    compare("typecast bf16", to_host(back), to_host(x8), max_abs=EXACT)


# --- attention ---------------------------------------------------------------------------------------------------

def heads(x_B1SW, n, d):
    b, _, s, _ = x_B1SW.shape
    return x_B1SW.reshape(b, s, n, d).permute(0, 2, 1, 3)


@pytest.mark.parametrize("transpose_k", [None, False])
def test_nlp_create_qkv_heads_fused(runtime, transpose_k):
    h, kv, d, s = 4, 2, 32, 64
    fused = torch.randn(1, 1, s, (h + 2 * kv) * d)
    kwargs = {} if transpose_k is None else {"transpose_k_heads": transpose_k}
    q, k, v = ttnn.experimental.nlp_create_qkv_heads(up(runtime, fused), num_heads=h, num_kv_heads=kv, **kwargs)
    ref = bf16(fused)
    k_ref = heads(ref[..., h * d:(h + kv) * d], kv, d)
    compare("q heads", to_host(q), heads(ref[..., : h * d], h, d), max_abs=EXACT)
    # the docstring's default transposes K to [B, K, hd, S]
    compare("k heads", to_host(k), k_ref.transpose(-2, -1) if transpose_k is None else k_ref, max_abs=EXACT)
    compare("v heads", to_host(v), heads(ref[..., (h + kv) * d:], kv, d), max_abs=EXACT)


def test_nlp_create_qkv_heads_separate_kv(runtime):
    h, kv, d, s = 4, 2, 32, 64
    q_in, kv_in = torch.randn(1, 1, s, h * d), torch.randn(1, 1, s, 2 * kv * d)
    q, k, v = ttnn.experimental.nlp_create_qkv_heads(up(runtime, q_in), up(runtime, kv_in), num_heads=h,
                                                     num_kv_heads=kv, transpose_k_heads=False)
    compare("q", to_host(q), heads(bf16(q_in), h, d), max_abs=EXACT)
    compare("k", to_host(k), heads(bf16(kv_in)[..., : kv * d], kv, d), max_abs=EXACT)
    compare("v", to_host(v), heads(bf16(kv_in)[..., kv * d:], kv, d), max_abs=EXACT)


def test_concat_heads(runtime):
    x = torch.randn(1, 4, 64, 32)
    merged = bf16(x).permute(0, 2, 1, 3).reshape(1, 64, 128)
    compare("nlp_concat_heads", to_host(ttnn.experimental.nlp_concat_heads(up(runtime, x))), merged.unsqueeze(1),
            max_abs=EXACT)
    compare("concatenate_heads", to_host(ttnn.transformer.concatenate_heads(up(runtime, x))), merged, max_abs=EXACT)


def test_sdpa_with_additive_mask(runtime):
    b, h, kv, s, d = 1, 4, 2, 64, 32
    q, k, v = torch.randn(b, h, s, d), torch.randn(b, kv, s, d), torch.randn(b, kv, s, d)
    mask = torch.zeros(b, 1, s, s)
    mask[..., 48:] = float("-inf")  # padded keys
    scale = d ** -0.5
    config = ttnn.SDPAProgramConfig(compute_with_storage_grid_size=ttnn.CoreCoord(*N150_GRID), q_chunk_size=32,
                                    k_chunk_size=32, exp_approx_mode=False)
    out = ttnn.transformer.scaled_dot_product_attention(
        up(runtime, q), up(runtime, k), up(runtime, v), attn_mask=up(runtime, mask), is_causal=False, scale=scale,
        program_config=config, compute_kernel_config=matmul_kernel())
    k_rep, v_rep = (bf16(t).repeat_interleave(h // kv, dim=1) for t in (k, v))
    expected = F.scaled_dot_product_attention(bf16(q), k_rep, v_rep, attn_mask=mask, scale=scale)
    compare("sdpa", to_host(out), expected, min_pcc=BF16_PCC)
    side_by_side = ttnn.transformer.scaled_dot_product_attention(
        up(runtime, q), up(runtime, k), up(runtime, v), attn_mask=up(runtime, mask), is_causal=False, scale=scale,
        program_config=config, compute_kernel_config=matmul_kernel(), output_concat_heads=True)
    assert tuple(side_by_side.shape) == (b, 1, s, h * d)
    compare("sdpa output_concat_heads", to_host(side_by_side), to_host(ttnn.experimental.nlp_concat_heads(out)),
            max_abs=EXACT)


# --- the executor's checks (host tensors, called directly: the same in both modes) -------------------------------

def test_binding_rejects_unknown_keyword():
    x, w = host_tensor(torch.randn(32, 64)), host_tensor(torch.randn(64, 32))
    with pytest.raises(TypeError, match=r"ttnn\.linear: unexpected keyword argument 'bias_tensor'"):
        execute(real_ttnn.linear, (x, w), {"bias_tensor": None})


def test_binding_rejects_wrongly_typed_configs():
    x, w = host_tensor(torch.randn(32, 64)), host_tensor(torch.randn(64, 32))
    sdpa_config = real_ttnn.SDPAProgramConfig(compute_with_storage_grid_size=real_ttnn.CoreCoord(8, 8),
                                              q_chunk_size=32, k_chunk_size=32)
    with pytest.raises(TypeError, match=r"ttnn\.linear: argument 'program_config' expects .*"
                                        r"MatmulMultiCoreReuseMultiCastProgramConfig.*found .*SDPAProgramConfig"):
        execute(real_ttnn.linear, (x, w), {"program_config": sdpa_config})
    with pytest.raises(TypeError, match=r"argument 'memory_config' expects MemoryConfig \| None, found .*str"):
        execute(real_ttnn.linear, (x, w), {"memory_config": "DRAM"})
    with pytest.raises(TypeError, match=r"argument 'compute_kernel_config' expects WormholeComputeKernelConfig"):
        execute(real_ttnn.linear, (x, w), {"compute_kernel_config": mcast_1d()})


def test_binding_rejects_missing_argument():
    fused = host_tensor(torch.randn(1, 1, 32, 96))
    with pytest.raises(TypeError, match=r"nlp_create_qkv_heads: missing required argument 'num_heads'"):
        execute(real_ttnn.experimental.nlp_create_qkv_heads, (fused,), {})


def test_fill_cache_writes_rows_of_one_batch_entry_in_place(runtime):
    cache, rows = torch.randn(2, 2, 96, 64), torch.randn(1, 2, 32, 64)
    t_cache = up(runtime, cache)
    ttnn.fill_cache(t_cache, up(runtime, rows), 1, update_idx=64)
    expected = cache.clone()
    expected[1:, :, 64:] = rows
    compare("fill_cache", to_host(t_cache), bf16(expected), max_abs=EXACT)


@host_only
@pytest.mark.parametrize(("rows", "batch_idx", "update_idx", "message"), [
    ((2, 2, 32, 64), 0, 0, "Input tensor batch size must be 1 but got 2"),
    ((1, 2, 32, 32), 0, 0, r"Input tensor width \(32\) must equal cache tensor width \(64\)"),
    ((1, 1, 32, 64), 0, 0, r"Input tensor height \(1\) must equal cache tensor height \(2\)"),
    ((1, 2, 128, 64), 0, 0, r"Input tensor height \(128\) must be <= cache tensor height \(96\)"),
    ((1, 2, 32, 64), 2, 0, r"Batch index \(2\) must be less than cache tensor batch size \(2\)"),
    ((1, 2, 32, 64), 0, 16, "must be a multiple of TILE_HEIGHT"),
    ((1, 2, 64, 64), 0, 64, "run past the cache's 96 rows"),
])
def test_fill_cache_refuses_what_the_device_refuses(runtime, rows, batch_idx, update_idx, message):
    cache = up(runtime, torch.zeros(2, 2, 96, 64))
    with pytest.raises(ValueError, match=message):
        ttnn.fill_cache(cache, up(runtime, torch.zeros(rows)), batch_idx, update_idx=update_idx)


@host_only
def test_fill_cache_needs_the_cache_dtype(runtime):
    cache = up(runtime, torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match="Input and cache tensors must have same dtype"):
        ttnn.fill_cache(cache, up(runtime, torch.zeros(1, 1, 32, 64), dtype=ttnn.bfloat8_b), 0)


def test_addcmul_with_a_row_of_gates(runtime):
    a, b, c = torch.randn(2, 1, 64, 96), torch.randn(2, 1, 64, 96), torch.randn(2, 1, 1, 96)
    out = ttnn.addcmul(up(runtime, a), up(runtime, b), up(runtime, c), value=0.5)
    expected = bf16(a) + 0.5 * bf16(b) * bf16(c)
    compare("addcmul", to_host(out), expected, max_abs=float(expected.abs().max()) * 2 ** -8)


@host_only
@pytest.mark.parametrize(("c_shape", "dtype"), [((1, 1, 64, 96), ttnn.bfloat16), ((1, 1, 1, 96), ttnn.bfloat8_b)])
def test_addcmul_forms_other_than_a_bfloat16_row_broadcast_are_refused(runtime, c_shape, dtype):
    a = up(runtime, torch.randn(1, 1, 64, 96))
    with pytest.raises(ValueError, match="is modelled on the host path"):
        ttnn.addcmul(a, a, up(runtime, torch.randn(c_shape), dtype=dtype))


def test_layout_rules():
    w = host_tensor(torch.randn(64, 32))
    row_major = host_tensor(torch.randn(32, 64), layout=real_ttnn.ROW_MAJOR_LAYOUT)
    with pytest.raises(ValueError, match=r"ttnn\.linear: argument 'input_tensor_a': layout must be TILE"):
        execute(real_ttnn.linear, (row_major, w), {})
    x8 = host_tensor(torch.randn(32, 64), dtype=real_ttnn.bfloat8_b)
    with pytest.raises(ValueError, match="BFLOAT8_B result needs TILE"):
        execute(real_ttnn.to_layout, (x8, real_ttnn.ROW_MAJOR_LAYOUT), {})
    tiled_ids = host_tensor(torch.zeros(1, 32, dtype=torch.int32), dtype=real_ttnn.uint32)
    table = host_tensor(torch.randn(10, 32), layout=real_ttnn.ROW_MAJOR_LAYOUT)
    with pytest.raises(ValueError, match="'input_tensor': layout must be ROW_MAJOR"):
        execute(real_ttnn.embedding, (tiled_ids, table), {})


def test_program_config_rules():
    x, w = host_tensor(torch.randn(1, 1, 64, 128)), host_tensor(torch.randn(128, 256))
    cases = [(mcast_2d(in0_block_w=3), "in0_block_w"),
             (mcast_2d(grid=(8, 9)), "exceeds the n150 grid 8x8"),
             (mcast_2d(per_core_m=2, per_core_n=4, subblock=(2, 4)), "dest tiles"),
             (mcast_2d(per_core_n=1, per_core_m=1, in0_block_w=2, grid=(4, 8)), "do not fit the grid")]
    for config, message in cases:
        with pytest.raises(ValueError, match=message):
            execute(real_ttnn.linear, (x, w), {"program_config": config,
                                                             "compute_kernel_config": matmul_kernel()})


def test_sdpa_rules():
    q = host_tensor(torch.randn(1, 2, 64, 32))
    mask = host_tensor(torch.zeros(1, 1, 64, 64))
    sdpa = real_ttnn.transformer.scaled_dot_product_attention
    with pytest.raises(ValueError, match="mutually exclusive"):
        execute(sdpa, (q, q, q), {"attn_mask": mask})
    odd = host_tensor(torch.randn(1, 2, 64, 72))
    with pytest.raises(ValueError, match="head_dim 72 must be a multiple of 32"):
        execute(sdpa, (odd, odd, odd), {"is_causal": False})
    sharded = real_ttnn.create_sharded_memory_config((64, 64), real_ttnn.CoreGrid(y=1, x=1),
                                                     real_ttnn.ShardStrategy.HEIGHT)
    with pytest.raises(ValueError, match="output_concat_heads into a sharded output is not modelled"):
        execute(sdpa, (q, q, q), {"is_causal": False, "output_concat_heads": True, "memory_config": sharded})


def test_ops_without_golden_are_refused():
    x = host_tensor(torch.randn(1, 1, 32, 64))
    with pytest.raises(NotImplementedError, match="no golden function"):
        execute(real_ttnn.experimental.attn_matmul, (x, x), {"compute_with_storage_grid_size":
                                                                          real_ttnn.CoreCoord(8, 8)})


# --- proxy, log, runtime ----------------------------------------------------------------------------------------

def test_proxy_passes_non_ops_through():
    assert ttnn.bfloat8_b is real_ttnn.bfloat8_b and ttnn.TILE_LAYOUT == real_ttnn.TILE_LAYOUT
    assert ttnn.MatmulMultiCoreReuseMultiCastProgramConfig is real_ttnn.MatmulMultiCoreReuseMultiCastProgramConfig
    assert ttnn.DRAM_MEMORY_CONFIG == real_ttnn.DRAM_MEMORY_CONFIG
    assert ttnn.experimental.nlp_create_qkv_heads.__name__ == "ttnn.experimental.nlp_create_qkv_heads"


def test_op_log_records_ops_transfers_and_sections(runtime):
    with runtime.recording() as log:
        with runtime.section("block"):
            x, w = up(runtime, torch.randn(1, 1, 32, 64)), up(runtime, torch.randn(64, 32))
            with runtime.section("matmul"):
                y = ttnn.linear(x, w, memory_config=ttnn.DRAM_MEMORY_CONFIG, compute_kernel_config=matmul_kernel())
            ttnn.to_torch(y)
        ttnn.add(x, 1.0)
    backend = "device" if runtime.mode == "device" else "host"
    # the executor's own to_torch/from_torch inside linear and add are not transfers
    assert (log.count(kind="to_device"), log.count(kind="from_device"), log.count(kind="op")) == (2, 1, 2)
    assert log.count(section="block") == 4 and log.count(section="matmul") == 1
    assert log.count(op="linear") == log.count(op="ttnn.linear") == 1 and log.count(op="add", section="block") == 0
    record = next(e for e in log.entries if e.op == "ttnn.linear")
    assert record.kind == "op" and record.backend == backend and record.sections == ("block", "matmul")
    assert record.inputs[0].startswith("BFLOAT16/TILE[1, 1, 32, 64]")
    assert record.kwargs == ("memory_config", "compute_kernel_config")
    assert record.call_site.startswith("tests/tt/host/test_executor.py:")
    ttnn.add(x, 1.0)
    assert len(log) == 5, "nothing is recorded once the recording has ended"


def test_only_one_runtime_at_a_time(runtime):
    with pytest.raises(RuntimeError, match="already open"):
        open_runtime("auto")


@host_only
def test_device_mode_without_card_raises(runtime):
    with pytest.raises(RuntimeError, match=r"no Tenstorrent card"):
        open_runtime("device")


@host_only
def test_auto_runtime_is_host_with_n150_grid(runtime):
    assert runtime.mode == "host" and isinstance(runtime.device, HostDevice)
    grid = runtime.device.compute_with_storage_grid_size()
    assert (grid.x, grid.y) == N150_GRID == (8, 8)
    assert (runtime.device.core_grid.x, runtime.device.core_grid.y) == N150_GRID
    assert runtime.device.arch() == real_ttnn.Arch.WORMHOLE_B0
    assert Path(os.environ[MOCK_CLUSTER_ENV]).read_text().count("n150") == 2
    yaml = pytest.importorskip("yaml")
    descriptors = Path(real_ttnn.__file__).parent / "tt_metal" / "core_descriptors" / "wormhole_b0_80_arch.yaml"
    n150 = yaml.safe_load(descriptors.read_text())["nebula_x1"]["row"][1]["compute_with_storage_grid_range"]
    assert (n150["end"][0] + 1, n150["end"][1] + 1) == N150_GRID
