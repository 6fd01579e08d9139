"""The vector unit (SFPU): the exp, reciprocal and activation kernels of the 0.81.1 wheel, on fp32 lanes.

Sources are the shipped kernels (site-packages/ttnn/tt_metal/hw/ckernels/wormhole_b0/metal/llk_api/llk_sfpu/):
- ckernel_sfpu_exp.h: the FP32 "accurate" exp (modelled as exact: the file states ~1 FP32 ULP); `exp_21f`, the
  BF16-accurate Moroz et al. algorithm (its constants below); and the approximate path, Schraudolph's bit trick
  i = A*x + (B - C) with A = 256/ln2 (times the fused scale), B - C = 32500.818359375, rounded to a 16-bit
  sign-magnitude integer (SFPSTOCHRND, nearest with ties away; SFPSTOCHRND_FloatInt.md) and shifted left 15 bits
  into the float's exponent and mantissa; no input clamp on the SDPA path, whose packer ReLU clears negatives.
- ckernel_sfpu_recip.h: quadratic seed y = k2 - k1*x + k0*x^2 on the mantissa in [1, 2) and Newton steps
  y += y*(1 - x*y): 2 steps with an FP32 Dst, 1 step plus a BF16 rounding otherwise, 1 step in approximate mode.
- ckernel_sfpu_silu.h / ckernel_sfpu_sigmoid.h: silu = x * sigmoid(x), sigmoid = recip(1 + exp(-x)) with the
  accurate exp and 2 Newton steps for an FP32 Dst, exp_21f and 1 Newton step otherwise; silu has no approximate
  path ("calculate_silu always uses the non-approx sigmoid").
- ckernel_sfpu_gelu.h: gelu (erf) and gelu_tanh are evaluated to within 1 BF16 ULP (stated there) and rounded to
  BF16 with convert<vFloat16b>(Nearest) when Dst is 16-bit; modelled as exact then so rounded.
- tt-isa-documentation SFPMAD.md: a multiply-add rounds once, to nearest with ties to even (`mad` below);
  ckernel_defs.h DstRoundingMode: "SFPSTORE truncates fp32->bf16" into a 16-bit Dst.
"""

from __future__ import annotations

import math

import torch

from tt.host.numerics.formats import BF16_MANTISSA, to_bf16, to_fp32, truncate

ONE_LN2_21F = 1.4426950216293334961
EXP_21F = (1.0017248, 7.839635491371155e-08, 4.791750143340323e-15)
SCHRAUDOLPH_A = 256.0 * 1.4426950408889634
SCHRAUDOLPH_B_MINUS_C = 32500.818359375
INT16_MAX = 32767
RECIP_SEED = (0.3232325017452239990234375, 1.4545459747314453125, 2.121212482452392578125)
RECIP_SEED_BF16 = (0.32133400440216064453125, 1.4514148235321044921875, 2.1200883388519287109375)
_EXPONENT_MASK = 0x7F800000


def _f32(value: float) -> float:
    return float(torch.tensor(value, dtype=torch.float32))


def mad(a, b, c) -> torch.Tensor:
    """a * b + c with one rounding to fp32."""
    return to_fp32(torch.as_tensor(a, dtype=torch.float64) * torch.as_tensor(b, dtype=torch.float64)
                   + torch.as_tensor(c, dtype=torch.float64))


def store(x: torch.Tensor, fp32_dest: bool) -> torch.Tensor:
    """An SFPU result written to Dst without an explicit rounding step."""
    return x if fp32_dest else truncate(x, BF16_MANTISSA)


def exp_accurate(x: torch.Tensor) -> torch.Tensor:
    return to_fp32(torch.exp(x.double()))


def _set_exponent(x: torch.Tensor, biased: torch.Tensor) -> torch.Tensor:
    bits = x.contiguous().view(torch.int32)
    return ((bits & ~_EXPONENT_MASK) | (biased.to(torch.int32) << 23)).view(torch.float32)


def exp_21f(x: torch.Tensor) -> torch.Tensor:
    """exp_21f: 2^(x/ln2) split at the binary point of x/ln2 + 127, a quadratic for the fractional part."""
    xlog2 = mad(x, _f32(ONE_LN2_21F), 127.0).clamp(0.0, 255.0)
    z = torch.floor(xlog2.double() * 2.0 ** 23).to(torch.int64)
    c0, c1, c2 = (_f32(c) for c in EXP_21F)
    fraction = (z & 0x7FFFFF).float()
    poly = mad(mad(c2, fraction, c1), fraction, c0)
    return _set_exponent(poly, z >> 23)


def exp_schraudolph(x: torch.Tensor, scale: float) -> torch.Tensor:
    """The approximate exp of exp(scale * x) (before the packer's ReLU)."""
    a = _f32(_f32(SCHRAUDOLPH_A) * _f32(scale))
    y = mad(a, x, SCHRAUDOLPH_B_MINUS_C)
    magnitude = torch.floor(y.abs().double() + 0.5).clamp(max=INT16_MAX).to(torch.int32)
    value = (magnitude << 15).view(torch.float32)
    return torch.where(y < 0, -value, value)


def reciprocal(x: torch.Tensor, newton_steps: int, bf16_seed: bool = False) -> torch.Tensor:
    """sfpu_reciprocal_iter on normal inputs: the seeded Newton iteration on the mantissa, then the exponent."""
    k0, k1, k2 = RECIP_SEED_BF16 if bf16_seed else RECIP_SEED
    bits = x.float().contiguous().view(torch.int32)
    exponent = (bits >> 23) & 0xFF
    negative = -((bits & 0x007FFFFF) | (127 << 23)).view(torch.float32)
    y = mad(mad(k0, negative, k1), negative, k2)
    for _ in range(max(newton_steps, 1)):
        y = mad(y, mad(negative, y, 1.0), y)
    if bf16_seed:
        y = to_bf16(y)
    y = (y.double() * torch.pow(2.0, (127 - exponent).double())).float()
    return torch.where(x < 0, -y, y)


def sigmoid(x: torch.Tensor, fp32_dest: bool) -> torch.Tensor:
    exp_neg = exp_accurate(-x) if fp32_dest else exp_21f(-x)
    return reciprocal(to_fp32(1.0 + exp_neg.double()), 2 if fp32_dest else 1)


def silu(x: torch.Tensor, fp32_dest: bool) -> torch.Tensor:
    result = to_fp32(x.double() * sigmoid(x, fp32_dest).double())
    return result if fp32_dest else to_bf16(result)


def gelu(x: torch.Tensor, tanh: bool, fp32_dest: bool) -> torch.Tensor:
    x64 = x.double()
    if tanh:
        inner = math.sqrt(2.0 / math.pi) * (x64 + 0.044715 * x64 ** 3)
        result = to_fp32(0.5 * x64 * (1.0 + torch.tanh(inner)))
    else:
        result = to_fp32(0.5 * x64 * (1.0 + torch.erf(x64 / math.sqrt(2.0))))
    return result if fp32_dest else to_bf16(result)


def rsqrt(x: torch.Tensor) -> torch.Tensor:
    return to_fp32(torch.rsqrt(x.double()))
