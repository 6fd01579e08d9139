"""The matrix unit (FPU): SrcB @ SrcA matrix products and SrcA (op) SrcB element-wise operations, accumulated into
Dst, with the operand bits each math-fidelity phase consumes.

Sources (tt-isa-documentation WormholeB0/TensixTile/TensixCoprocessor/, commit 3930471):
- MVMUL.md: `Dst += SrcB @ SrcA` on an 8x16 by 16x16 block: each instruction sums 16 products and adds them to Dst;
  the multipliers consume at most 5 bits of SrcA and 7 bits of SrcB per phase.
- SrcASrcB.md / ELWMUL.md (`SrcAFidelityBits`, `SrcBFidelityBits`): phase p multiplies SrcA's high part (implicit 1
  and 4 most significant mantissa bits) when p & 1 == 0, else its next 5 bits; and SrcB's high part (implicit 1
  and 6 mantissa bits) when p & 2 == 0, else its next 4 bits. The last TF32 bit of SrcA is never consumed.
- ELWADD.md: `Dst = SrcA + SrcB` has no fidelity phases; ELWMUL.md: `Dst += SrcA * SrcB` per phase.
- tt-llk llk_lib/llk_unpack_AB_matmul.h: "in0/inA - loaded to SrcB, in1/inB - loaded to SrcA"; llk_math_matmul.h:
  one pass over the tile's MVMULs per fidelity phase, phases counted up from 0, LoFi one phase and HiFi2/3/4 two,
  three and four (llk_defs.h MathFidelity values); llk_unpack_AB.h: binary ops unpack input A to SrcA, B to SrcB.
- tt-metal tech_reports/matrix_engine/matrix_engine.md: the same phase table and SrcA = 5 bits, SrcB = 7 bits.
"""

from __future__ import annotations

import torch

from tt.host.numerics.formats import TF32_MANTISSA, dst_round, truncate

TILE = 32
MVMUL_DEPTH = 16  # products summed by one MVMUL before they reach Dst
PHASES = {"LoFi": (0,), "HiFi2": (0, 1), "HiFi3": (0, 1, 2), "HiFi4": (0, 1, 2, 3)}
SRCA_HIGH, SRCA_USED = 4, 9  # mantissa bits of SrcA in its high part, and in both parts
SRCB_HIGH, SRCB_USED = 6, 10


def _keep(x: torch.Tensor, keep: int, bits: int) -> torch.Tensor:
    """x's `keep` most significant mantissa bits (x itself when it has no more than `keep`)."""
    return x if bits <= keep else truncate(x, keep)


def _operand(x: torch.Tensor, bits: int, parts: frozenset[str], high: int, used: int) -> torch.Tensor:
    """The sum of the named parts ("high", "low") of an operand with `bits` mantissa bits."""
    if parts == {"high", "low"}:
        return _keep(x, used, bits)
    if parts == {"high"}:
        return _keep(x, high, bits)
    return _keep(x, used, bits) - _keep(x, high, bits)


def _srca(x: torch.Tensor, bits: int, parts) -> torch.Tensor:
    return _operand(x, bits, frozenset(parts), SRCA_HIGH, SRCA_USED)


def _srcb(x: torch.Tensor, bits: int, parts) -> torch.Tensor:
    return _operand(x, bits, frozenset(parts), SRCB_HIGH, SRCB_USED)


def _srca_part(phase: int) -> str:
    return "low" if phase & 1 else "high"


def _srcb_part(phase: int) -> str:
    return "low" if phase & 2 else "high"


def _products(phases: tuple[int, ...]) -> list[tuple[frozenset, frozenset]]:
    """(SrcB parts, SrcA parts) pairs whose products sum to the phases' products. With an FP32 Dst the phases add
    up exactly (each product of a <= 5-bit and a <= 7-bit significand is exact in FP32), so the phases sharing a
    SrcB part fold into one product, and two such groups with the same SrcA parts fold into one."""
    srca_by_srcb: dict[str, set] = {}
    for phase in phases:
        srca_by_srcb.setdefault(_srcb_part(phase), set()).add(_srca_part(phase))
    if len(srca_by_srcb) == 2 and srca_by_srcb["high"] == srca_by_srcb["low"]:
        return [(frozenset({"high", "low"}), frozenset(srca_by_srcb["high"]))]
    return [(frozenset({b}), frozenset(a)) for b, a in srca_by_srcb.items()]


def matmul(srcb_MK: torch.Tensor, srca_KN: torch.Tensor, phases: tuple[int, ...], fp32_dest: bool,
           dest_MN: torch.Tensor | None = None, bits: tuple[int, int] = (TF32_MANTISSA, TF32_MANTISSA)) -> torch.Tensor:
    """Dst after `Dst += SrcB @ SrcA` over all of K, the operands as the source registers hold them with `bits` =
    (SrcB, SrcA) mantissa bits. An FP32 Dst is modelled as FP32 accumulation; a 16-bit Dst is rounded after every
    MVMUL of every phase, in the LLK's order: per 32-deep K tile, each phase over both 16-deep halves."""
    srcb_bits, srca_bits = bits
    if fp32_dest:
        total = sum(_srcb(srcb_MK, srcb_bits, b) @ _srca(srca_KN, srca_bits, a) for b, a in _products(phases))
        return total if dest_MN is None else dest_MN + total
    k = srcb_MK.shape[-1]
    if dest_MN is None:
        batch = torch.broadcast_shapes(srcb_MK.shape[:-2], srca_KN.shape[:-2])
        dest_MN = torch.zeros(*batch, srcb_MK.shape[-2], srca_KN.shape[-1])
    dest = dest_MN
    parts = {p: (_srcb(srcb_MK, srcb_bits, {_srcb_part(p)}), _srca(srca_KN, srca_bits, {_srca_part(p)}))
             for p in phases}
    for tile in range(0, k, TILE):
        for phase in phases:
            b, a = parts[phase]
            for start in range(tile, min(tile + TILE, k), MVMUL_DEPTH):
                depth = slice(start, start + MVMUL_DEPTH)
                dest = dst_round(dest + b[..., depth] @ a[..., depth, :], fp32_dest=False)
    return dest


def multiply(srca: torch.Tensor, srcb: torch.Tensor, phases: tuple[int, ...], fp32_dest: bool,
             bits: tuple[int, int] = (TF32_MANTISSA, TF32_MANTISSA)) -> torch.Tensor:
    """Dst after ELWMUL over the fidelity phases, from a zeroed Dst (broadcasting as torch does); `bits` =
    (SrcA, SrcB) mantissa bits."""
    srca_bits, srcb_bits = bits
    if fp32_dest:
        return sum(_srca(srca, srca_bits, a) * _srcb(srcb, srcb_bits, b) for b, a in _products(phases))
    dest = torch.zeros(torch.broadcast_shapes(srca.shape, srcb.shape))
    for phase in phases:
        product = _srca(srca, srca_bits, {_srca_part(phase)}) * _srcb(srcb, srcb_bits, {_srcb_part(phase)})
        dest = dst_round(dest + product, fp32_dest=False)
    return dest


def add(srca: torch.Tensor, srcb: torch.Tensor, fp32_dest: bool, subtract: bool = False) -> torch.Tensor:
    """Dst after ELWADD / ELWSUB (no fidelity phases): the sum rounded into Dst. The FP32 sum of two source-register
    values (at most 11 significant bits each) is exact when their exponents differ by at most 12; otherwise the
    smaller is under half a TF32 unit of the larger, and the FP32 and the exact sum round to the same Dst value."""
    return dst_round(srca - srcb if subtract else srca + srcb, fp32_dest)
