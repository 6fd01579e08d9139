"""The matrix unit of device numerics (tt.host.numerics.fpu) against values worked out by hand from the fidelity
table of tt-isa-documentation SrcASrcB.md, and against results tt-metal issues report from Wormhole hardware."""

import pytest
import torch

from tt.host.numerics import fpu

# SrcB (matmul in0) gets 1 + 2^-5 + 2^-7: bit 5 is in its 6-bit high part, bit 7 in its low part.
# SrcA (matmul in1) gets 1 + 2^-2 + 2^-6: bit 2 is in its 4-bit high part, bit 6 in its next 5 bits.
SRCB, SRCA = 1 + 2 ** -5 + 2 ** -7, 1 + 2 ** -2 + 2 ** -6
PRODUCT_BY_FIDELITY = {
    "LoFi": (1 + 2 ** -5) * (1 + 2 ** -2),  # phase 0: A high x B high = 1.2890625
    "HiFi2": (1 + 2 ** -5) * SRCA,  # + phase 1: A low x B high = 1.30517578125
    "HiFi3": (1 + 2 ** -5) * SRCA + (1 + 2 ** -2) * 2 ** -7,  # + phase 2: A high x B low = 1.31494140625
    "HiFi4": SRCB * SRCA,  # + phase 3: A low x B low, the exact product 1.3150634765625
}
# The same phases into a bfloat16 Dst, rounded after each (TF32 then BF16, ties away): phase 1's sum
# 1.30517578125 becomes 1.3046875; phase 2 brings it to 1.314453125 -> 1.3125; phase 3 (+2^-13) leaves 1.3125.
BF16_DEST_BY_FIDELITY = {"LoFi": 1.2890625, "HiFi2": 1.3046875, "HiFi3": 1.3125, "HiFi4": 1.3125}
SWAPPED_LOFI = SRCA * 1.0  # SRCA's value in SrcB keeps all its bits; SRCB's in SrcA keeps only its implicit 1


def one_product(b_value: float, a_value: float):
    """A 1x16 @ 16x1 product with a single nonzero term."""
    b, a = torch.zeros(1, 16), torch.zeros(16, 1)
    b[0, 3], a[3, 0] = b_value, a_value
    return b, a


@pytest.mark.parametrize("fidelity", PRODUCT_BY_FIDELITY)
def test_each_fidelity_phase_adds_its_operand_bits(fidelity):
    b, a = one_product(SRCB, SRCA)
    assert float(fpu.matmul(b, a, fpu.PHASES[fidelity], fp32_dest=True)) == PRODUCT_BY_FIDELITY[fidelity]
    assert float(fpu.matmul(b, a, fpu.PHASES[fidelity], fp32_dest=False)) == BF16_DEST_BY_FIDELITY[fidelity]
    assert float(fpu.multiply(torch.tensor([SRCA]), torch.tensor([SRCB]), fpu.PHASES[fidelity], fp32_dest=True)) \
        == PRODUCT_BY_FIDELITY[fidelity]


def test_operands_are_not_interchangeable():
    b, a = one_product(SRCA, SRCB)
    assert float(fpu.matmul(b, a, fpu.PHASES["LoFi"], True)) == SWAPPED_LOFI != PRODUCT_BY_FIDELITY["LoFi"]


@pytest.mark.parametrize("srca, srcb, fidelity, device_result, issue", [
    (1.3125, 7.96875, "HiFi2", 10.4375, "tt-metal#12923"),
    (1.3125, 7.96875, "HiFi4", 10.5, "tt-metal#12923"),
    (-3.640625, 0.298828125, "HiFi4", -1.09375, "tt-metal#16448"),
    (-3.640625, 0.30078125, "HiFi4", -1.1015625, "tt-metal#16448"),
])
def test_bf16_multiply_matches_wormhole_results(srca, srcb, fidelity, device_result, issue):
    """mul_tiles with a bfloat16 Dst, as reported from Wormhole B0 hardware. By hand for 1.3125 x 7.96875: SrcB's
    low part is 2^-5 (7.96875 = 1.1111111b x 4); phase 0 gives 1.3125 x 7.9375 = 10.41796875 -> 10.4375 in Dst;
    phase 2 adds 1.3125 x 2^-5 = 0.041015625 -> 10.478515625 -> 10.5 (one rounding at the end would give 10.4375)."""
    product = fpu.multiply(torch.tensor([srca]), torch.tensor([srcb]), fpu.PHASES[fidelity], fp32_dest=False)
    assert float(product) == device_result, issue


@pytest.mark.parametrize("k, bf16_dest_sum", [(2048, 2048.0), (4096, 4096.0), (6144, 8192.0)])
def test_bf16_accumulation_error_grows_with_k(k, bf16_dest_sum):
    """ones @ ones: each MVMUL adds a 16-term partial of 16. Below 4096 every sum is a bfloat16; above, the spacing
    is 32, so + 16 lands on a tie that rounds away to + 32: the last 128 of 384 MVMULs at K = 6144 add 4096 too
    much. An FP32 Dst stays exact."""
    ones_b, ones_a = torch.ones(1, k), torch.ones(k, 1)
    assert float(fpu.matmul(ones_b, ones_a, fpu.PHASES["HiFi4"], fp32_dest=True)) == k
    assert float(fpu.matmul(ones_b, ones_a, fpu.PHASES["HiFi4"], fp32_dest=False)) == bf16_dest_sum


def test_add_has_no_fidelity_and_rounds_into_dst():
    a, b = torch.tensor([256.0]), torch.tensor([1.0])
    assert float(fpu.add(a, b, fp32_dest=False)) == 258.0  # 257 is a bfloat16 tie: away from zero
    assert float(fpu.add(a, b, fp32_dest=True)) == 257.0
