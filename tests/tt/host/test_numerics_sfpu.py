"""The vector-unit kernels of device numerics (tt.host.numerics.sfpu): the approximate exp by hand, and the
accuracy each shipped kernel states for itself."""

import torch

from tt.host.numerics import sfpu
from tt.host.numerics.formats import to_bf16

EXP_21F_RELATIVE = 1.75e-3  # "exp_21f's quadratic is 1.7e-3" (ckernel_sfpu_gelu.h), under half a bfloat16 ULP
SCHRAUDOLPH_RELATIVE = 0.06  # Schraudolph's bit trick with an 8-bit mantissa: a few percent
RECIP_NEWTON2_RELATIVE = 2.0 ** -22  # "sufficient for faithful FP32 rounding" (ckernel_sfpu_recip.h)
RECIP_NEWTON1_RELATIVE = 1.1e-4  # one Newton step squares the seed's 0.0101 relative error
BF16_ULP = 2.0 ** -7


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float(((actual.double() - expected.double()) / expected.double()).abs().max())


def test_schraudolph_exp_of_zero():
    """i = round(256/ln2 * 0 + 32500.818359375) = 32501; shifted left 15 bits the float has biased exponent
    32501 >> 8 = 126 and mantissa 245/256: 2^-1 * (1 + 245/256) = 0.978515625."""
    assert float(sfpu.exp_schraudolph(torch.tensor([0.0]), 1.0)) == 0.978515625


def test_schraudolph_exp_fuses_the_scale_and_goes_negative_below_its_range():
    x = torch.linspace(-40.0, 0.0, 4001)
    approx = sfpu.exp_schraudolph(x / 0.125, 0.125)
    assert relative_error(approx, torch.exp(x)) < SCHRAUDOLPH_RELATIVE
    assert float(sfpu.exp_schraudolph(torch.tensor([-100.0]), 1.0)) < 0  # cleared by the packer's ReLU in SDPA


def test_exp_21f_has_the_error_of_its_quadratic():
    x = torch.linspace(-80.0, 80.0, 16001)
    error = relative_error(sfpu.exp_21f(x), torch.exp(x.double()))
    assert EXP_21F_RELATIVE / 2 < error < EXP_21F_RELATIVE


def test_reciprocal_newton_steps():
    x = torch.cat([torch.linspace(1.0, 2.0, 1001), torch.linspace(-3e3, -1e-3, 1001)])
    assert relative_error(sfpu.reciprocal(x, 2), 1.0 / x.double()) < RECIP_NEWTON2_RELATIVE
    assert relative_error(sfpu.reciprocal(x, 1), 1.0 / x.double()) < RECIP_NEWTON1_RELATIVE
    assert relative_error(sfpu.reciprocal(x, 1), 1.0 / x.double()) > RECIP_NEWTON2_RELATIVE


def test_bf16_reciprocal_is_correctly_rounded():
    """"All 128 normalized BF16 inputs round correctly" with the BF16 seed and one Newton step."""
    mantissas = 1.0 + torch.arange(128, dtype=torch.float32) / 128
    x = torch.cat([mantissas * scale for scale in (2.0 ** -20, 0.25, 1.0, 8.0, 2.0 ** 30)])
    assert torch.equal(sfpu.reciprocal(x, 1, bf16_seed=True), to_bf16((1.0 / x.double()).float()))


def test_silu_and_gelu_are_within_a_bfloat16_ulp():
    x = torch.linspace(-8.0, 8.0, 2001).bfloat16().float()
    expected_silu = torch.nn.functional.silu(x.double())
    for fp32_dest in (True, False):
        error = (sfpu.silu(x, fp32_dest).double() - expected_silu).abs()
        assert bool((error <= BF16_ULP * expected_silu.abs().clamp(min=2 ** -10)).all())
    gelu = sfpu.gelu(x, tanh=True, fp32_dest=False)
    assert torch.equal(gelu, to_bf16(gelu))
