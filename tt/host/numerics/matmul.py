"""ttnn.linear / ttnn.matmul as the multicast matmul kernel computes them.

Sources: the shipped compute kernel (site-packages/ttnn/ttnn/cpp/ttnn/operations/matmul/device/kernels/compute/
bmm_large_block_zm_fused_bias_activation.cpp) and tt-metal's matmul program factories
(matmul_op_multi_core_reuse_mcast_{1d,2d}_program_factory.cpp):
- in0 (activations) feeds SrcB and in1 (weights) SrcA (fpu.py); K runs in blocks of in0_block_w tiles.
- Partials between K blocks go to an intermediate buffer of FP32 when fp32_dest_acc_en, else BF16
  ("interm0_data_format = packer_l1_acc_en ? (fp32 ? Float32 : Float16_b) : (fp32 ? Float32 : output format)").
  With packer_l1_acc the packer accumulates blocks 1.. onto that buffer (tech_reports/matrix_engine: "the packer will
  read the input address, and accumulate it with the values read from dest") and the last block is reloaded into
  Dst; without it every block reloads the previous partial. An FP32 partial reloads exactly (UnpackToDestFp32 on the
  partials buffer or its alias), a BF16 one exactly into a BF16 Dst.
- A fused bias is added after the last block: the partials buffer is unpacked to SrcA (FP32 truncated to TF32),
  the bias row to SrcB, added by ELWADD into Dst, then packed to the output dtype.
- A fused activation (the program config's fused_activation) runs on the SFPU over Dst after the bias, before the
  pack: the same SFPU function the standalone unary op runs (sfpu.py).
The packer's L1 addition is taken to round once into the buffer's format (not stated in the sources).
"""

from __future__ import annotations

import torch
import ttnn

from tt.host.errors import NumericsNotModelled
from tt.host.numerics import fpu, sfpu
from tt.host.numerics.formats import to_bf16, unpacked, unpacked_bits
from tt.host.numerics.kernel import ComputeConfig, is_fp32, pack, values


def _k_block(call, k: int) -> int:
    """Elements of K per block: in0_block_w tiles from the program config; without one, ttnn chooses a config that
    is not modelled, so K is taken as one block."""
    config = call.arguments.get("program_config")
    return k if config is None else config.in0_block_w * fpu.TILE


def _accumulate(srcb: torch.Tensor, srca: torch.Tensor, config: ComputeConfig, block: int,
                bits: tuple[int, int]) -> torch.Tensor:
    k = srcb.shape[-1]
    if config.fp32_dest or not config.packer_l1_acc or block >= k:
        return fpu.matmul(srcb, srca, config.phases, config.fp32_dest, bits=bits)
    starts = list(range(0, k, block))
    partial = None
    for start in starts[:-1]:
        part = fpu.matmul(srcb[..., start:start + block], srca[..., start:start + block, :], config.phases, False,
                          bits=bits)
        partial = part if partial is None else to_bf16(partial + part)
    last = starts[-1]
    return fpu.matmul(srcb[..., last:], srca[..., last:, :], config.phases, False, dest_MN=partial, bits=bits)


def matmul(call, dtype) -> torch.Tensor:
    """The device result of a ttnn.linear / ttnn.matmul call, packed to `dtype`."""
    if call.arguments.get("activation") is not None:
        raise NumericsNotModelled(f"{call.op}: a fused activation is not modelled under device numerics")
    config = ComputeConfig.of(call)
    a, b, bias = call.tensor("input_tensor_a"), call.tensor("input_tensor_b"), call.tensor("bias")
    x, w = values(a), values(b)
    if call.arguments.get("transpose_a"):
        x = x.transpose(-1, -2)
    if call.arguments.get("transpose_b"):
        w = w.transpose(-1, -2)
    srcb = unpacked(x, is_fp32(a), config.fp32_dest)
    srca = unpacked(w, is_fp32(b), config.fp32_dest)
    bits = (unpacked_bits(is_fp32(a), config.fp32_dest), unpacked_bits(is_fp32(b), config.fp32_dest))
    result = _accumulate(srcb, srca, config, _k_block(call, x.shape[-1]), bits)
    if bias is not None:
        partial = result if config.fp32_dest else to_bf16(result)
        result = fpu.add(unpacked(partial, config.fp32_dest, config.fp32_dest),
                         unpacked(values(bias), is_fp32(bias), config.fp32_dest), config.fp32_dest)
    return pack(_activated(call, result, config.fp32_dest), dtype)


def _activated(call, dst: torch.Tensor, fp32_dest: bool) -> torch.Tensor:
    fused = getattr(call.arguments.get("program_config"), "fused_activation", None)
    if fused is None:
        return dst
    if fused.op_type == ttnn.UnaryOpType.GELU_TANH:
        return sfpu.gelu(dst, tanh=True, fp32_dest=fp32_dest)
    if fused.op_type == ttnn.UnaryOpType.SILU:
        return sfpu.silu(dst, fp32_dest=fp32_dest)
    raise NumericsNotModelled(f"{call.op}: the fused activation {fused.op_type} is not modelled under device numerics")
