"""Run-time precision of the TTNN tree: weight dtypes and the compute kernel config of each op family.

This is the one place where math fidelity and fp32 accumulation are chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

from tt.ops import ttnn

PRECISIONS = ("bfp8", "bf16")

# RoPE's rotate-half matmul x @ R: R (SrcA) holds only 0 and +-1, exact in fidelity phase 0, but x sits in SrcB,
# whose last bf16 mantissa bit only phase 2 multiplies (tt-isa-documentation SrcASrcB.md, "Fidelity phases"), so
# HiFi3 is the lowest fidelity that keeps the rotation exact. Each output is one exact product, exact in either Dst
# width; the FP32 Dst (half the Dst tiles, immaterial for a head_dim x head_dim matmul) keeps the host path's
# device-numerics model of it vectorised instead of rounding after every 16-deep product.
ROTATION_KERNEL = ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi3, math_approx_mode=False,
                                                   fp32_dest_acc_en=True, packer_l1_acc=False)

# The fused rotary embedding (ttnn.experimental.rotary_embedding): its op default, HiFi4 with a 16-bit Dst
# (rotary_embedding.cpp's init_device_compute_kernel_config), given explicitly; bfloat16 products are exact at HiFi4.
ROPE_KERNEL = ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi4, math_approx_mode=False,
                                               fp32_dest_acc_en=False, packer_l1_acc=False)


@dataclass(frozen=True)
class Precision:
    """bfp8: large matrices in bfloat8_b (norms, embeddings, RoPE tables, biases stay bfloat16);
    bf16: every weight in bfloat16. Activations are bfloat16 in both."""

    name: str = "bfp8"

    def __post_init__(self):
        if self.name not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.name!r}")

    @property
    def matrix_dtype(self):
        return ttnn.bfloat8_b if self.name == "bfp8" else ttnn.bfloat16

    @property
    def activation_dtype(self):
        return ttnn.bfloat16

    @property
    def matmul_kernel(self):
        # bfloat8_b mantissas are 7 bits: HiFi2 uses all of them; bf16 weights need HiFi4 for full precision.
        fidelity = ttnn.MathFidelity.HiFi2 if self.name == "bfp8" else ttnn.MathFidelity.HiFi4
        return ttnn.WormholeComputeKernelConfig(math_fidelity=fidelity, math_approx_mode=False,
                                                fp32_dest_acc_en=True, packer_l1_acc=True)

    @property
    def norm_kernel(self):
        # Sums of squares over 1-2k lanes lose precision in bf16 accumulation.
        return ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi4, math_approx_mode=False,
                                                fp32_dest_acc_en=True, packer_l1_acc=False)

    @property
    def attention_kernel(self):
        return ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi4, math_approx_mode=False,
                                                fp32_dest_acc_en=True, packer_l1_acc=False)
