"""How the host path computes an op's values: "exact" (the op's golden in FP32, the result rounded by ttnn's host
packing) or "device" (what the Tensix hardware computes, as far as public sources state it).

Under "device" numerics each modelled op is recomputed from its inputs by the rules of the matrix unit (fpu.py:
operand bits per fidelity phase, which operand sits in SrcA/SrcB, Dst accumulation in FP32 or BF16), the vector unit
(sfpu.py: the shipped exp, reciprocal and activation kernels) and the packer (formats.py, kernel.pack: rounding to
BF16 with ties away from zero, block-float outputs with shared exponents), following the op's kernel (matmul.py,
attention.py, norms.py, eltwise.py). Every rule names its source there. Ops that only move data are exact by
nature; other ops without a model run their golden and are packed as the device packs (logged once per op).
The rules are Wormhole B0's; the modelled Blackhole (p150) is given the same ones.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from loguru import logger

from tt.host.numerics import attention, eltwise, matmul, norms
from tt.host.numerics.kernel import pack

NUMERICS = ("exact", "device")

DEVICE_OPS: dict[str, Callable] = {
    "ttnn.linear": matmul.matmul,
    "ttnn.matmul": matmul.matmul,
    "ttnn.transformer.scaled_dot_product_attention": attention.scaled_dot_product_attention,
    "ttnn.rms_norm": norms.norm,
    "ttnn.layer_norm": norms.norm,
    "ttnn.add": eltwise.binary,
    "ttnn.subtract": eltwise.binary,
    "ttnn.multiply": eltwise.binary,
    "ttnn.addcmul": eltwise.addcmul,
    "ttnn.gelu": eltwise.gelu,
    "ttnn.silu": eltwise.silu,
    "ttnn.experimental.rotary_embedding": eltwise.rotary_embedding,
}
# Ops whose device result equals the golden's: data movement, and typecast, whose SFPU FP32 -> BF16 rounds to
# nearest even in software (ckernel_sfpu_typecast.h) and which rounds block-float outputs once (tt-metal#52155).
EXACT_OPS = frozenset({
    "ttnn.concat", "ttnn.fill_cache", "ttnn.slice", "ttnn.split", "ttnn.reshape", "ttnn.permute", "ttnn.transpose",
    "ttnn.pad", "ttnn.squeeze", "ttnn.unsqueeze", "ttnn.embedding", "ttnn.to_layout", "ttnn.to_memory_config",
    "ttnn.clone", "ttnn.repeat_interleave", "ttnn.typecast", "ttnn.experimental.nlp_create_qkv_heads",
    "ttnn.experimental.nlp_concat_heads", "ttnn.transformer.concatenate_heads",
    "ttnn.transformer.split_query_key_value_and_split_heads",
})
_warned: set[str] = set()


def check(numerics: str) -> str:
    if numerics not in NUMERICS:
        raise ValueError(f"numerics must be one of {NUMERICS}, got {numerics!r}")
    return numerics


def _packed(result, dtype):
    if isinstance(result, torch.Tensor):
        return pack(result.float(), dtype) if result.is_floating_point() else result
    if isinstance(result, (list, tuple)):
        return type(result)(_packed(r, dtype) for r in result)
    return result


def compute(call, golden: Callable[[], object], dtype):
    """The values the device would hold for `call`'s output of `dtype` (torch, float32 for float outputs)."""
    model = DEVICE_OPS.get(call.op)
    if model is not None:
        return model(call, dtype)
    if call.op in EXACT_OPS:
        return golden()
    if call.op not in _warned:
        _warned.add(call.op)
        logger.warning("device numerics: no model of {}; its golden runs in FP32 and only the output is packed as "
                       "the device packs", call.op)
    return _packed(golden(), dtype)
