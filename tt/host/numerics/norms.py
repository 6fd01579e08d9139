"""ttnn.rms_norm / ttnn.layer_norm (interleaved, default program config) as the layernorm kernel computes them.

Sources: the shipped compute kernel (site-packages/ttnn/ttnn/cpp/ttnn/operations/normalization/layernorm/device/
kernels/compute/layernorm.cpp) and tt-metal layernorm_op_multi_core.cpp: intermediates live in buffers of FP32 when
fp32_dest_acc_en, else BF16 ("cb_data_format = fp32_dest_acc_en ? Float32 : Float16_b"); statistics are reduced in
FP32 when fp32_dest_acc_en and not legacy_reduction ("float32_reduction"), as a sum divided once by the width
(tech_reports/op_kernel_dev/accuracy_tips: sum-then-divide), else by the FPU reduce with a 1/W scaler tile
(divide-then-sum); the reduce scaler and epsilon come from the reader as BF16 tiles. Every FPU step reads its
operands from those buffers (FP32 truncated to TF32, fpu.py / formats.py) with the first operand in SrcA.
Welford statistics and the approximate rsqrt are not modelled.
"""

from __future__ import annotations

import torch
import ttnn

from tt.host.errors import NumericsNotModelled
from tt.host.numerics import fpu, sfpu
from tt.host.numerics.formats import to_bf16, to_bf16_even, unpacked
from tt.host.numerics.kernel import ComputeConfig, is_fp32, pack, values


class _Kernel:
    """The intermediate buffers and FPU steps of one norm call."""

    def __init__(self, config: ComputeConfig, float32_reduction: bool):
        self.config, self.float32_reduction = config, float32_reduction

    def buffer(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.config.fp32_dest else to_bf16(x)

    def src(self, x: torch.Tensor) -> torch.Tensor:
        return unpacked(x, self.config.fp32_dest, self.config.fp32_dest)

    def multiply(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.buffer(fpu.multiply(self.src(a), self.src(b), self.config.phases, self.config.fp32_dest))

    def add(self, a: torch.Tensor, b: torch.Tensor, subtract: bool = False) -> torch.Tensor:
        return self.buffer(fpu.add(self.src(a), self.src(b), self.config.fp32_dest, subtract))

    def mean(self, x: torch.Tensor, width: int) -> torch.Tensor:
        """Row mean over the last dim ([..., W] -> [..., 1]) by the FPU reduce (a matmul with a scaler column)."""
        rows = self.src(x[..., :width])
        if self.float32_reduction:
            total = fpu.matmul(rows, torch.ones(width, 1), self.config.phases, fp32_dest=True)
            return self.buffer(sfpu.mad(total, 1.0 / width, 0.0))
        scaler = torch.full((width, 1), float(to_bf16_even(torch.tensor(1.0 / width))))
        return self.buffer(fpu.matmul(rows, scaler, self.config.phases, self.config.fp32_dest))


def _gamma_beta(call, name: str, width: int) -> torch.Tensor | None:
    tensor = call.tensor(name)
    return None if tensor is None else values(tensor).reshape(-1)[:width]


def norm(call, dtype) -> torch.Tensor:
    program = call.arguments.get("program_config")
    if program is not None and not isinstance(program, ttnn.LayerNormDefaultProgramConfig):
        raise NumericsNotModelled(f"{call.op}: only the interleaved default program config is modelled")
    if call.tensor("input_tensor").memory_config().is_sharded():
        raise NumericsNotModelled(f"{call.op}: sharded input runs the sharded factory, which reduces across cores; "
                                  "it is not modelled")
    if program is not None and program.use_welford:
        raise NumericsNotModelled(f"{call.op}: Welford statistics are not modelled under device numerics")
    config = ComputeConfig.of(call)
    if config.approx:
        raise NumericsNotModelled(f"{call.op}: the approximate rsqrt (math_approx_mode) is not modelled")
    legacy = program is not None and program.legacy_reduction
    kernel = _Kernel(config, config.fp32_dest and not legacy)
    x_tensor = call.tensor("input_tensor")
    x = unpacked(values(x_tensor), is_fp32(x_tensor), config.fp32_dest)
    width = x.shape[-1]
    residual = call.tensor("residual_input_tensor")
    if residual is not None:
        x = kernel.add(x, values(residual))
    eps = to_bf16_even(torch.tensor(float(call.arguments["epsilon"])))
    if call.op == "ttnn.rms_norm":
        centred = x
    else:
        centred = kernel.add(x, kernel.mean(x, width), subtract=True)
    variance = kernel.add(kernel.mean(kernel.multiply(centred, centred), width), eps)
    scale = kernel.buffer(sfpu.rsqrt(kernel.src(variance)))
    result = kernel.multiply(centred, scale)
    gamma, beta = _gamma_beta(call, "weight", width), _gamma_beta(call, "bias", width)
    if gamma is not None:
        result = kernel.multiply(result, gamma)
    if beta is not None:
        result = kernel.add(result, beta)
    return pack(result, dtype)
