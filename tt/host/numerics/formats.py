"""Number formats of the Tensix datapath: fp32 values rounded or truncated into the narrower formats that the
source registers, the destination register and the packer hold.

Every function takes and returns float32 torch tensors whose values are representable in the target format, so
the rules compose. Sources (tt-isa-documentation, WormholeB0/TensixTile/TensixCoprocessor/, commit 3930471):
- SrcASrcB.md: SrcA/SrcB hold 19-bit datums: TF32 (e8m10) or BF16 (e8m7); "FP32 can be converted to TF32, though
  the conversion involves throwing away the low 13 bits of mantissa"; BFP8/BFP4 unpack losslessly to BF16.
- Packers/FormatConversion.md: rounding conversions are "deterministic round-to-nearest with ties away from zero";
  rounding flushes denormals to zero and turns minus zero into plus zero; FP32 -> BF16 rounds in the early
  conversion; "To BFP8: converted to BF16, then round to BFP8 with one shared 8b exponent per 16 datums"; "To BFP4:
  converted to BFP8, then truncate"; a BFP datum is a sign and a magnitude (no implicit 1).
- Dst accumulation in 16-bit mode rounds twice, first to TF32, then to BF16, both with ties away from zero
  (tenstorrent/tt-metal#46101, the maintainers' analysis of Wormhole and Blackhole matmul accumulation).
"""

from __future__ import annotations

import torch

MANTISSA_BITS = 23
BF16_MANTISSA, TF32_MANTISSA = 7, 10
BLOCK = 16  # datums sharing one exponent: one 16-wide row of a 16x16 face
BFP8_MAGNITUDE, BFP4_MAGNITUDE = 7, 3  # magnitude bits per datum (the implicit 1 made explicit)
_SIGN = 0x80000000
_EXPONENT = 0x7F800000


def _bits(x: torch.Tensor) -> torch.Tensor:
    """The fp32 bit patterns as int32."""
    return x.float().contiguous().view(torch.int32)


def _int32(mask: int) -> int:
    return mask - (1 << 32) if mask >= 1 << 31 else mask


def _mantissa_mask(keep: int) -> int:
    return _int32(0xFFFFFFFF & ~((1 << (MANTISSA_BITS - keep)) - 1))


def round_away(x: torch.Tensor, keep: int) -> torch.Tensor:
    """Round to `keep` mantissa bits, nearest with ties away from zero; denormals and -0 become +0. Adding half a unit
    to the sign-magnitude bit pattern carries into the exponent as rounding should; infinities stay infinite (NaN
    payloads are not modelled)."""
    rounded = (_bits(x) + (1 << (MANTISSA_BITS - keep - 1))).bitwise_and_(_mantissa_mask(keep))
    return rounded.masked_fill_((rounded & _EXPONENT) == 0, 0).view(torch.float32)


def truncate(x: torch.Tensor, keep: int) -> torch.Tensor:
    """Drop all but `keep` mantissa bits (round toward zero)."""
    return (_bits(x) & _mantissa_mask(keep)).view(torch.float32)


def to_bf16(x: torch.Tensor) -> torch.Tensor:
    """The packer's (and SFPSTOCHRND's) rounding to BF16."""
    return round_away(x, BF16_MANTISSA)


def to_bf16_even(x: torch.Tensor) -> torch.Tensor:
    """Round to nearest, ties to even (torch's rounding; the SFPU typecast's software rounding)."""
    return x.float().to(torch.bfloat16).float()


def to_fp32(x: torch.Tensor) -> torch.Tensor:
    """Round float64 intermediate results once to fp32 (SFPMAD: a single rounding, ties to even; SFPMAD.md)."""
    return x.to(torch.float32)


def dst_round(x: torch.Tensor, fp32_dest: bool) -> torch.Tensor:
    """A value written to Dst: FP32 as is, else rounded to TF32 then BF16, ties away (tt-metal#46101)."""
    return x if fp32_dest else to_bf16(round_away(x, TF32_MANTISSA))


def unpacked(x: torch.Tensor, is_fp32: bool, fp32_dest: bool) -> torch.Tensor:
    """A circular-buffer value as the unpacker places it in SrcA/SrcB: BF16-family values are exact; FP32 values
    lose their low mantissa bits, to TF32 when Dst is 32-bit (tt-metal jit_build/data_format.cpp selects the TF32
    unpack format then) and to BF16 otherwise."""
    if not is_fp32:
        return x
    return truncate(x, TF32_MANTISSA if fp32_dest else BF16_MANTISSA)


def unpacked_bits(is_fp32: bool, fp32_dest: bool) -> int:
    """Mantissa bits of an `unpacked` value."""
    return TF32_MANTISSA if is_fp32 and fp32_dest else BF16_MANTISSA


def _blocks(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    width = x.shape[-1]
    pad = -width % BLOCK
    padded = torch.nn.functional.pad(x, (0, pad)) if pad else x
    return padded.reshape(*x.shape[:-1], -1, BLOCK), width


def block_float(x: torch.Tensor, magnitude_bits: int) -> torch.Tensor:
    """What the packer writes for a BFP8_b (7 magnitude bits) or BFP4_b (3) output: each value rounded to BF16,
    each group of 16 along the last dim given the group's largest exponent, every magnitude (implicit 1 included)
    shifted down to it with round-to-nearest, ties away from zero, then saturated at 127 (BFP8); BFP4 truncates the
    BFP8 magnitude to its top 3 bits. Groups are zero-padded at the end of a row, as in a zero-padded tile."""
    groups, width = _blocks(to_bf16(x))
    bits = _bits(groups).to(torch.int64) & 0xFFFFFFFF
    sign = (bits & _SIGN) != 0
    exponent = (bits >> MANTISSA_BITS) & 0xFF
    significand = torch.where(exponent > 0, (bits >> (MANTISSA_BITS - BF16_MANTISSA)) & 0x7F | 0x80, 0)
    shared = exponent.amax(dim=-1, keepdim=True)
    shift = (shared - exponent + 1).clamp(max=40)  # 8-bit significand -> 7-bit magnitude at the shared exponent
    magnitude = ((significand >> (shift - 1)) + 1) >> 1
    magnitude = magnitude.clamp(max=(1 << BFP8_MAGNITUDE) - 1)
    scale_exponent = shared - 127 - (BFP8_MAGNITUDE - 1)
    if magnitude_bits < BFP8_MAGNITUDE:
        dropped = BFP8_MAGNITUDE - magnitude_bits
        magnitude = magnitude >> dropped
        scale_exponent = scale_exponent + dropped
    value = magnitude.double() * torch.pow(2.0, scale_exponent.double())
    value = torch.where(sign, -value, value).float()
    return value.reshape(*x.shape[:-1], -1)[..., :width]
