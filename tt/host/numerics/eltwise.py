"""Element-wise ops as the binary_ng and unary kernels compute them.

- add / subtract / multiply: two FP32 operands (tensors or scalars with an FP32 tensor) take the SFPU path, exact
  FP32 arithmetic. With fast_and_approximate_mode=False (the binding's default is True) the op takes its accurate
  path, "to round the bfloat16 result to nearest even" (the 0.81.1 binary's message for that flag). Otherwise the
  FPU computes it, input A in SrcA and B in SrcB (tt-llk llk_unpack_AB.h), with an FP32 Dst when any operand or the
  output is FP32. A float scalar beside a BF16 tensor is rounded to BF16 (ttnn binary_ng packs scalars with
  bfloat16(v), tenstorrent/tt-metal#44810). ELWMUL runs every fidelity phase of HiFi4, the element-wise default
  before tt-metal#40089, which changed it only where FP32 accumulation is on.
- addcmul (row-broadcast c): a + (value * b) * c on the SFPU in fp32, rounded to bfloat16 ties to even.
- gelu / silu: the SFPU kernels of sfpu.py, with an FP32 Dst when the input is FP32.
- rotary_embedding (prefill): the kernel negates half of the rotated input's tiles by a scalar multiply (exact),
  then multiplies x by cos and the rotated input by sin, each product packed into a buffer of the table's dtype,
  and adds the two into the output (rotary_embedding.cpp of the 0.81.1 wheel), at the call's fidelity and Dst.
"""

from __future__ import annotations

import torch
import ttnn

from tt.host.errors import NumericsNotModelled
from tt.host.goldens import rotate_half
from tt.host.numerics import fpu, sfpu
from tt.host.numerics.formats import BF16_MANTISSA, to_bf16_even, to_fp32, unpacked, unpacked_bits
from tt.host.numerics.kernel import ComputeConfig, is_fp32, pack, values

ELTWISE_PHASES = fpu.PHASES["HiFi4"]
_FUSED = ("activations", "input_tensor_a_activations", "input_tensor_b_activations")


def _operand(value) -> tuple[torch.Tensor, bool | None]:
    """(values, is_fp32) of a tensor; (value, None) of a scalar."""
    if isinstance(value, (int, float)):
        return torch.tensor(float(value)), None
    return values(value), is_fp32(value)


def binary(call, dtype) -> torch.Tensor:
    if any(call.arguments.get(name) for name in _FUSED):
        raise NumericsNotModelled(f"{call.op}: fused activations are not modelled under device numerics")
    (a, a_fp32), (b, b_fp32) = _operand(call.arguments["input_tensor_a"]), _operand(call.arguments["input_tensor_b"])
    subtract, multiply = call.op == "ttnn.subtract", call.op == "ttnn.multiply"
    accurate = call.arguments.get("fast_and_approximate_mode") is False
    if accurate or (a_fp32 is not False and b_fp32 is not False):
        a64, b64 = a.double(), b.double()
        exact = to_fp32(a64 * b64 if multiply else (a64 - b64 if subtract else a64 + b64))
        return to_bf16_even(exact) if accurate and dtype == ttnn.bfloat16 else pack(exact, dtype)
    fp32_dest = bool(a_fp32) or bool(b_fp32) or dtype == ttnn.float32
    srca = to_bf16_even(a) if a_fp32 is None else unpacked(a, a_fp32, fp32_dest)
    srcb = to_bf16_even(b) if b_fp32 is None else unpacked(b, b_fp32, fp32_dest)
    bits = tuple(BF16_MANTISSA if is32 is None else unpacked_bits(is32, fp32_dest) for is32 in (a_fp32, b_fp32))
    if multiply:
        result = fpu.multiply(srca, srcb, ELTWISE_PHASES, fp32_dest, bits=bits)
    else:
        result = fpu.add(srca, srcb, fp32_dest, subtract=subtract)
    return pack(result, dtype)


def addcmul(call, dtype) -> torch.Tensor:
    """The row-broadcast ternary kernel (ternary_addc_ops_fpu_rowbcast.cpp, the modelled form: tt.host.rules): a, b
    and c copied into a 16-bit Dst, then the SFPU (ckernel_sfpu_addcmul.h) computes value * b and a + (value * b) * c
    in fp32, one rounding each (SFPMAD), and rounds the result to bfloat16, ties to even, before storing it."""
    a, b, c = (values(call.tensor(n)) for n in ("input_a", "input_b", "input_c"))
    scaled = sfpu.mad(b, float(torch.tensor(call.arguments.get("value", 1.0), dtype=torch.float32)), 0.0)
    return pack(to_bf16_even(sfpu.mad(c, scaled, a)), dtype)


def gelu(call, dtype) -> torch.Tensor:
    variant = call.arguments.get("variant")
    if variant == ttnn.GeluVariant.FastLut or call.arguments.get("fast_and_approximate_mode"):
        raise NumericsNotModelled("ttnn.gelu: the lookup-table (fast) gelu is not modelled under device numerics")
    x = call.tensor("input_tensor")
    fp32_dest = is_fp32(x) or dtype == ttnn.float32
    return pack(sfpu.gelu(values(x), tanh=variant == ttnn.GeluVariant.Tanh, fp32_dest=fp32_dest), dtype)


def silu(call, dtype) -> torch.Tensor:
    x = call.tensor("input_tensor")
    return pack(sfpu.silu(values(x), fp32_dest=is_fp32(x) or dtype == ttnn.float32), dtype)


def rotary_embedding(call, dtype) -> torch.Tensor:
    if call.arguments.get("token_index") is not None:
        raise NumericsNotModelled("ttnn.experimental.rotary_embedding: the decode form (token_index) is not modelled")
    config = ComputeConfig.of(call)
    x, cos, sin = (call.tensor(n) for n in ("input_tensor", "cos_cache", "sin_cache"))
    if any(t.dtype != ttnn.bfloat16 for t in (x, cos, sin)):
        raise NumericsNotModelled("ttnn.experimental.rotary_embedding: only bfloat16 operands are modelled")
    rows = list(x.shape)[-2]
    xv, cv, sv = values(x), values(cos)[..., :rows, :], values(sin)[..., :rows, :]
    rotated = rotate_half(xv)
    x_cos = pack(fpu.multiply(xv, cv, config.phases, config.fp32_dest, bits=(BF16_MANTISSA, BF16_MANTISSA)),
                 cos.dtype)
    rotated_sin = pack(fpu.multiply(rotated, sv, config.phases, config.fp32_dest, bits=(BF16_MANTISSA, BF16_MANTISSA)),
                       sin.dtype)
    return pack(fpu.add(x_cos, rotated_sin, config.fp32_dest), dtype)
