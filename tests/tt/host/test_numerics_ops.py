"""Device numerics through ttnn ops on the host path: the operand wiring of matmul, the packer's block-float
activations, RoPE's exactness at its fidelity, SDPA's exp modes, and what is refused rather than guessed."""

import pytest
import torch
import torch.nn.functional as F

from models.metrics import pcc
from models.prepare import rotate_half_matrix
from tests.tt.host.test_numerics_fpu import PRODUCT_BY_FIDELITY, SRCA, SRCB
from tests.tt.tensors import to_host
from tt.host.errors import NumericsNotModelled
from tt.ops import ttnn
from tt.precision import ROTATION_KERNEL

ACCURATE_SDPA_PCC = 0.9999  # accurate exp, FP32 accumulation, against float32 attention
APPROX_SDPA_PCC = 0.999  # the approximate (Schraudolph) exp


def up(runtime, t, dtype=ttnn.bfloat16):
    return ttnn.from_torch(t, dtype=dtype, layout=ttnn.TILE_LAYOUT, device=runtime.device,
                           memory_config=ttnn.DRAM_MEMORY_CONFIG)


def kernel(fidelity: str, fp32_dest: bool = True, approx: bool = False):
    return ttnn.WormholeComputeKernelConfig(math_fidelity=getattr(ttnn.MathFidelity, fidelity),
                                            math_approx_mode=approx, fp32_dest_acc_en=fp32_dest, packer_l1_acc=True)


@pytest.fixture
def host(runtime):
    """The session's host runtime computing with device numerics for the test."""
    if runtime.mode != "host":
        pytest.skip("device numerics are a host-path model; a card computes itself")
    with runtime.using_numerics("device"):
        yield runtime


@pytest.mark.parametrize("fidelity", ["LoFi", "HiFi4"])
def test_linear_feeds_activations_to_srcb(host, fidelity):
    """x's value lands in SrcB and w's in SrcA: LoFi keeps 6 bits of the first and 4 of the second."""
    x, w = torch.zeros(1, 1, 32, 32), torch.zeros(32, 32)
    x[0, 0, 0, 0], w[0, 0] = SRCB, SRCA
    y = ttnn.linear(up(host, x), up(host, w, ttnn.bfloat8_b), compute_kernel_config=kernel(fidelity),
                    dtype=ttnn.float32)
    assert float(to_host(y)[0, 0, 0, 0]) == PRODUCT_BY_FIDELITY[fidelity]
    with host.using_numerics("exact"):
        exact = ttnn.linear(up(host, x), up(host, w, ttnn.bfloat8_b), compute_kernel_config=kernel(fidelity),
                            dtype=ttnn.float32)
    assert float(to_host(exact)[0, 0, 0, 0]) == PRODUCT_BY_FIDELITY["HiFi4"]


def test_addcmul_rounds_its_fp32_result_once(host):
    """a + b * c on the SFPU in fp32, rounded to bfloat16 once (ties to even), where a multiply and an add would round
    b * c first."""
    torch.manual_seed(3)
    a, b, c = (torch.randn(1, 1, 64, 128).bfloat16().float() for _ in range(3))
    c = c[:, :, :1]
    out = to_host(ttnn.addcmul(up(host, a), up(host, b), up(host, c)))
    once = (a.double() + b.double() * c.double()).float().bfloat16().float()
    twice = to_host(ttnn.add(up(host, a), ttnn.multiply(up(host, b), up(host, c))))
    assert torch.equal(out, once) and not torch.equal(out, twice)


def test_bfp8_activations_are_packed_by_the_packer(host):
    """1 + 2^-7 - 2^-10 through an identity matmul into a bfloat8_b output: the packer rounds it to bfloat16 and then
    to its block (1 + 2^-6); ttnn's host packing, which exact numerics use, rounds once (1)."""
    x = torch.zeros(1, 1, 32, 32)
    x[0, 0, 0, :2] = torch.tensor([1.0, 1 + 2 ** -7 - 2 ** -10])
    args = (up(host, x, ttnn.float32), up(host, torch.eye(32)))
    options = dict(compute_kernel_config=kernel("HiFi4"), dtype=ttnn.bfloat8_b)
    assert float(to_host(ttnn.linear(*args, **options))[0, 0, 0, 1]) == 1 + 2 ** -6
    with host.using_numerics("exact"):
        assert float(to_host(ttnn.linear(*args, **options))[0, 0, 0, 1]) == 1.0


def test_rope_rotation_is_exact_at_its_fidelity(host):
    x = torch.randn(1, 2, 64, 64)
    rotation = up(host, rotate_half_matrix(64, 64))
    expected = torch.cat([-x[..., 32:], x[..., :32]], dim=-1).bfloat16().float()
    rotated = to_host(ttnn.matmul(up(host, x), rotation, compute_kernel_config=ROTATION_KERNEL))
    assert torch.equal(rotated, expected)
    lofi = to_host(ttnn.matmul(up(host, x), rotation, compute_kernel_config=kernel("LoFi")))
    assert not torch.equal(lofi, expected)  # SrcB's last bfloat16 mantissa bit is only read in phase 2


def _attention(runtime, q, k, v, mask, exp_approx_mode):
    config = ttnn.SDPAProgramConfig(compute_with_storage_grid_size=runtime.device.compute_with_storage_grid_size(),
                                    q_chunk_size=32, k_chunk_size=32, exp_approx_mode=exp_approx_mode)
    out = ttnn.transformer.scaled_dot_product_attention(
        up(runtime, q), up(runtime, k), up(runtime, v), attn_mask=up(runtime, mask), is_causal=False, scale=0.125,
        program_config=config, compute_kernel_config=kernel("HiFi4"))
    return to_host(out)


def test_sdpa_exp_modes(host):
    """Without exp_approx_mode the factory takes the approximate exp; the accurate one is closer to float32."""
    gen = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(1, 2, 64, 64, generator=gen) for _ in range(3))
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 50:] = -1e30
    expected = F.scaled_dot_product_attention(q.bfloat16().float(), k.bfloat16().float(), v.bfloat16().float(),
                                              attn_mask=mask, scale=0.125)
    default, approx = (_attention(host, q, k, v, mask, mode) for mode in (None, True))
    accurate = _attention(host, q, k, v, mask, False)
    assert torch.equal(default, approx)
    assert pcc(accurate, expected) >= ACCURATE_SDPA_PCC > pcc(approx, expected) >= APPROX_SDPA_PCC


def test_unmodelled_configurations_are_refused(host):
    x = up(host, torch.randn(1, 1, 32, 64))
    w = up(host, torch.randn(64, 32))
    with pytest.raises(NumericsNotModelled, match="ttnn.linear: device numerics need an explicit compute_kernel"):
        ttnn.linear(x, w)
    with pytest.raises(NumericsNotModelled, match="lookup-table"):
        ttnn.gelu(x, variant=ttnn.GeluVariant.FastLut)
    with pytest.raises(NumericsNotModelled, match="approximate rsqrt"):
        ttnn.rms_norm(x, epsilon=1e-6, compute_kernel_config=kernel("HiFi4", approx=True))
    grid = ttnn.CoreRangeSet({ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(1, 0))})
    width_sharded = ttnn.MemoryConfig(ttnn.TensorMemoryLayout.WIDTH_SHARDED, ttnn.BufferType.L1,
                                      ttnn.ShardSpec(grid, [32, 32], ttnn.ShardOrientation.ROW_MAJOR))
    with pytest.raises(NumericsNotModelled, match="ttnn.rms_norm: sharded input runs the sharded factory"):
        ttnn.rms_norm(ttnn.to_memory_config(x, width_sharded), epsilon=1e-6, compute_kernel_config=kernel("HiFi4"))
