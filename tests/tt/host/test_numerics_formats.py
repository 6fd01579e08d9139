"""The number formats of device numerics (tt.host.numerics.formats) on values worked out by hand from the cited
rules: ties away from zero, two-step Dst rounding, TF32 truncation, block-float shared exponents."""

import torch

from tt.host.numerics.formats import (BFP4_MAGNITUDE, BFP8_MAGNITUDE, TF32_MANTISSA, block_float, dst_round, to_bf16,
                                      to_bf16_even, truncate)

TIE = 1 + 2 ** -8  # exactly halfway between the bfloat16 neighbours 1 and 1 + 2^-7


def t(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def test_packer_rounds_ties_away_from_zero():
    """tt-metal#17018 packed 1.0039063 (1 + 2^-8) from an FP32 Dst to bfloat16 on a Wormhole and got 1.0078125."""
    assert torch.equal(to_bf16(t(TIE, -TIE)), t(1 + 2 ** -7, -(1 + 2 ** -7)))
    assert torch.equal(to_bf16_even(t(TIE, -TIE)), t(1.0, -1.0))
    assert torch.equal(to_bf16(t(1 + 2 ** -8 - 2 ** -20)), t(1.0))


def test_rounding_flushes_denormals_and_minus_zero():
    flushed = to_bf16(t(1e-40, -1e-40, -0.0))
    assert torch.equal(flushed.view(torch.int32), torch.zeros(3, dtype=torch.int32))


def test_unpacking_fp32_to_tf32_truncates():
    assert torch.equal(truncate(t(1 + 2 ** -10 + 2 ** -11, -(1 + 2 ** -10 + 2 ** -11)), TF32_MANTISSA),
                       t(1 + 2 ** -10, -(1 + 2 ** -10)))


def test_bf16_dst_rounds_through_tf32():
    """1 + 2^-9 + 2^-10 + 2^-11 + 2^-12: rounded once to bfloat16 it is below the tie and becomes 1; rounded to TF32
    first (bit 11 is a half) it becomes 1 + 2^-8, an exact tie, which rounds away to 1 + 2^-7 (tt-metal#46101)."""
    x = t(1 + 2 ** -9 + 2 ** -10 + 2 ** -11 + 2 ** -12)
    assert torch.equal(to_bf16(x), t(1.0))
    assert torch.equal(dst_round(x, fp32_dest=False), t(1 + 2 ** -7))
    assert torch.equal(dst_round(x, fp32_dest=True), x)


def test_bfp8_shares_the_largest_exponent_and_rounds_magnitudes():
    """With 1.0 in the group the magnitude unit is 2^-6: 0.75 units round up, a half unit rounds away, 0.375 units
    round to 0 (Packers/FormatConversion.md)."""
    group = torch.zeros(16)
    group[:4] = t(1.0, 0.75 * 2 ** -6, 0.5 * 2 ** -6, 0.375 * 2 ** -6)
    expected = torch.zeros(16)
    expected[:3] = t(1.0, 2 ** -6, 2 ** -6)
    assert torch.equal(block_float(group, BFP8_MAGNITUDE), expected)


def test_bfp8_rounds_twice_where_the_host_rounds_once():
    """1 + 2^-7 - 2^-10 rounds to bfloat16 1 + 2^-7 first, whose 7-bit magnitude is a tie that rounds away to
    1 + 2^-6; rounded once (ttnn's host packing) it stays 1 (tt-metal#52155)."""
    group = torch.ones(16)
    group[1] = 1 + 2 ** -7 - 2 ** -10
    assert float(block_float(group, BFP8_MAGNITUDE)[1]) == 1 + 2 ** -6


def test_bfp8_saturates_and_groups_by_sixteen():
    rows = torch.zeros(2, 32)
    rows[0, 0] = 1.9921875  # bfloat16 1.1111111: its 7-bit magnitude rounds to 128 and saturates at 127
    rows[0, 16] = 2 ** -6  # its own group: keeps full precision
    rows[1, 1] = 3.0
    packed = block_float(rows, BFP8_MAGNITUDE)
    assert float(packed[0, 0]) == 127 * 2 ** -6 and float(packed[0, 16]) == 2 ** -6 and float(packed[1, 1]) == 3.0


def test_bfp4_truncates_the_bfp8_magnitude():
    """1.75, 1.25 keep their 3 magnitude bits; 0.4375 (7-bit magnitude 28) truncates to 1 unit of 2^-2."""
    group = torch.zeros(16)
    group[:3] = t(1.75, 1.25, 0.4375)
    expected = torch.zeros(16)
    expected[:3] = t(1.75, 1.25, 0.25)
    assert torch.equal(block_float(group, BFP4_MAGNITUDE), expected)
