"""ttnn.transformer.scaled_dot_product_attention as the flash-attention kernel computes it (standard path, with a
mask or with FP32 accumulation; the streaming path is not taken then).

Sources: the shipped kernels (site-packages/ttnn/ttnn/cpp/ttnn/operations/transformer/sdpa/device/kernels/compute/
sdpa.cpp and compute_common.hpp, sdpa_inner_loop) and tt-metal's SDPA program factories:
- per K chunk: S = Q @ K^T (Q in SrcB); S += mask; m = max(rowmax(S), m_prev); P = exp((S - m) * scale) with the
  scale fused into the exp, packed through a ReLU; a partial row sum of P tiles accumulated in L1; O = P @ V; when
  a previous chunk exists, alpha = exp((m_prev - m) * scale), l = l_prev * alpha + l, O += O_prev * alpha (L1
  accumulation); at the end the partial sums are reduced by a matmul with a column of ones, inverted on the SFPU
  (approximate when math_approx_mode) and multiply O (O in SrcA).
- exp: with exp_approx_mode (the factory's default when the program config leaves it unset) the approximate SFPU
  exp with the scale fused; otherwise the scale is applied by an FP32 SFPU multiply, then the accurate exp.
- buffers: S/P and the running sums are FP32 when fp32_dest_acc_en, else BF16 (compute_common.hpp: "cb_qk_im
  could be fp32"; ring_joint_sdpa_program_factory.cpp: qk_im_df and sum_df FP32 with fp32_dest_acc_en); the row
  maxima, alpha and O are BF16 (im_df = stats_df = Float16_b).
The kernel's chunking of Q does not change the arithmetic and is not modelled.
"""

from __future__ import annotations

import math

import torch

from tt.host.errors import NumericsNotModelled
from tt.host.goldens import nlp_concat_heads
from tt.host.numerics import fpu, sfpu
from tt.host.numerics.formats import BF16_MANTISSA, to_bf16, unpacked, unpacked_bits
from tt.host.numerics.kernel import ComputeConfig, is_fp32, pack, values

DEFAULT_K_CHUNK = 32  # the factory's chunk size without a program config
_UNSUPPORTED = ("sliding_window_size", "attention_sink", "cu_window_seqlens", "windowed_q_token_offset_tensor",
                "attn_mask_block_map")


class _Kernel:
    def __init__(self, config: ComputeConfig, exp_approx: bool, scale: float):
        self.config, self.exp_approx = config, exp_approx
        self.scale = float(torch.tensor(scale, dtype=torch.float32))  # the FP32 scale the kernel receives
        self.wide = config.fp32_dest  # S, P and the running sums in FP32 buffers
        self.wide_bits = unpacked_bits(self.wide, config.fp32_dest)  # their mantissa bits in a source register

    def wide_buffer(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.wide else to_bf16(x)

    def src(self, x: torch.Tensor, wide: bool) -> torch.Tensor:
        return unpacked(x, wide, self.config.fp32_dest)

    def matmul(self, srcb: torch.Tensor, srca: torch.Tensor, bits: tuple[int, int]) -> torch.Tensor:
        return fpu.matmul(srcb, srca, self.config.phases, self.config.fp32_dest, bits=bits)

    def exp(self, srca: torch.Tensor, srcb: torch.Tensor) -> torch.Tensor:
        """exp((srca - srcb) * scale) in Dst, through the packer's ReLU."""
        fp32_dest = self.config.fp32_dest
        diff = fpu.add(srca, srcb, fp32_dest, subtract=True)
        if self.exp_approx:
            result = sfpu.store(sfpu.exp_schraudolph(diff, self.scale), fp32_dest)
        else:
            scaled = sfpu.store(diff * self.scale, fp32_dest)
            result = sfpu.exp_accurate(scaled) if fp32_dest else to_bf16(sfpu.exp_21f(scaled))
        return result.clamp(min=0.0)

    def multiply(self, srca: torch.Tensor, srcb: torch.Tensor, bits: tuple[int, int]) -> torch.Tensor:
        return fpu.multiply(srca, srcb, self.config.phases, self.config.fp32_dest, bits=bits)

    def reciprocal(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.approx:
            return sfpu.reciprocal(x, newton_steps=0)
        if self.config.fp32_dest:
            return sfpu.reciprocal(x, newton_steps=2)
        return sfpu.reciprocal(x, newton_steps=1, bf16_seed=True)


def _tile_sum(p: torch.Tensor) -> torch.Tensor:
    """The sum of a chunk's 32-wide column tiles of P, [..., Q, 32]."""
    return p.reshape(*p.shape[:-1], -1, fpu.TILE).sum(dim=-2)


def _padded_keys(k, v, mask, chunk: int):
    """K and V zero-padded, the mask -inf on the padded keys, to a whole number of chunks."""
    pad = -k.shape[-2] % chunk
    if not pad:
        return k, v, mask
    k = torch.nn.functional.pad(k, (0, 0, 0, pad))
    v = torch.nn.functional.pad(v, (0, 0, 0, pad))
    mask = torch.nn.functional.pad(mask, (0, pad), value=-math.inf)
    return k, v, mask


def scaled_dot_product_attention(call, dtype) -> torch.Tensor:
    if any(call.arguments.get(name) for name in _UNSUPPORTED):
        raise NumericsNotModelled(f"{call.op}: only plain (masked or causal) attention is modelled under device "
                                  "numerics")
    config = ComputeConfig.of(call)
    q_t, k_t, v_t = (call.tensor(n) for n in ("input_tensor_q", "input_tensor_k", "input_tensor_v"))
    q, k, v = (unpacked(values(t), is_fp32(t), config.fp32_dest) for t in (q_t, k_t, v_t))
    q_bits, k_bits, v_bits = (unpacked_bits(is_fp32(t), config.fp32_dest) for t in (q_t, k_t, v_t))
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    sq, sk = q.shape[-2], k.shape[-2]
    mask_t = call.tensor("attn_mask")
    mask = torch.zeros(1, 1, sq, sk) if mask_t is None else values(mask_t)
    if call.arguments.get("is_causal"):
        mask = mask.masked_fill(torch.ones(sq, sk, dtype=torch.bool).triu(1), -math.inf)
    program = call.arguments.get("program_config")
    chunk = DEFAULT_K_CHUNK if program is None else program.k_chunk_size
    exp_approx = True if program is None or program.exp_approx_mode is None else program.exp_approx_mode
    scale = call.arguments.get("scale")
    kernel = _Kernel(config, exp_approx, 1.0 / math.sqrt(list(q_t.padded_shape)[-1]) if scale is None else scale)
    k, v, mask = _padded_keys(k, v, mask, chunk)

    m_prev = l_prev = o_prev = None
    for start in range(0, k.shape[-2], chunk):
        span = slice(start, start + chunk)
        keys, vals, bias = k[..., span, :], v[..., span, :], mask[..., span]
        s = kernel.wide_buffer(kernel.matmul(q, keys.transpose(-1, -2), (q_bits, k_bits)))
        s = kernel.wide_buffer(fpu.add(kernel.src(s, kernel.wide), bias, config.fp32_dest))
        s = kernel.src(s, kernel.wide)
        m = s.amax(dim=-1, keepdim=True)
        m = to_bf16(m if m_prev is None else torch.maximum(m, m_prev))
        p = kernel.src(kernel.wide_buffer(kernel.exp(s, m)), kernel.wide)
        partial = kernel.wide_buffer(_tile_sum(p))
        o = to_bf16(kernel.matmul(p, vals, (kernel.wide_bits, v_bits)))
        if m_prev is not None:
            alpha = to_bf16(kernel.exp(m_prev, m))
            rescaled = kernel.wide_buffer(kernel.multiply(kernel.src(l_prev, kernel.wide), alpha,
                                                          (kernel.wide_bits, BF16_MANTISSA)))
            partial = kernel.wide_buffer(fpu.add(kernel.src(partial, kernel.wide), kernel.src(rescaled, kernel.wide),
                                                 config.fp32_dest))
            o = to_bf16(o + kernel.multiply(o_prev, alpha, (BF16_MANTISSA, BF16_MANTISSA)))
        m_prev, l_prev, o_prev = m, partial, o
    row_sum = kernel.wide_buffer(kernel.matmul(kernel.src(l_prev, kernel.wide), torch.ones(fpu.TILE, 1),
                                               (kernel.wide_bits, BF16_MANTISSA)))
    inverse = kernel.src(kernel.wide_buffer(kernel.reciprocal(row_sum)), kernel.wide)
    out = pack(kernel.multiply(o_prev, inverse, (BF16_MANTISSA, kernel.wide_bits)), dtype)
    # output_concat_heads: the writer puts the heads side by side, as nlp_concat_heads would
    return nlp_concat_heads(out) if call.arguments.get("output_concat_heads") else out
