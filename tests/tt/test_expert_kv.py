"""tt.attention.ExpertKV: the keys and values a denoising step attends over, [prefix | suffix] along the sequence."""

from __future__ import annotations

import torch

from tests.metrics import compare
from tests.tt.tensors import to_host
from tt.attention import ExpertKV, PrefixKVCache
from tt.common import upload
from tt.ops import ttnn

# Per the device-time model, filling beats concatenating for many key heads (fill_cache deals out whole rows of
# tiles, one head's 32 rows each) and loses for one head.
MANY_HEADS, ONE_HEAD = (8, 64, 128), (1, 64, 256)


def _steps(runtime, batch: int, heads_rows_width: tuple, steps: int = 3):
    """Per step: the ops ExpertKV issued and the tensors it returned, each checked against [prefix | rows]."""
    heads, rows, width = heads_rows_width
    prefix = [torch.randn(batch, heads, 320, width) for _ in range(2)]
    kv = ExpertKV(PrefixKVCache(*([upload(runtime, p, ttnn.bfloat16)] for p in prefix)))
    for _ in range(steps):
        suffix = [torch.randn(batch, heads, rows, width) for _ in range(2)]
        with runtime.recording() as log:
            keys, values = kv.extended(0, *(upload(runtime, s, ttnn.bfloat16) for s in suffix))
        for name, got, p, s in zip(("keys", "values"), (keys, values), prefix, suffix, strict=True):
            compare(f"[{runtime.label}] expert {name}, batch {batch}, {heads} heads", to_host(got),
                    torch.cat([p, s], dim=2).bfloat16().float(), max_abs=0.0)
        yield [r.op for r in log.select(kind="op")], (keys, values)


def test_one_batch_row_concatenates_once_then_fills_the_suffix_rows_in_place(runtime):
    (first_ops, first), *later = list(_steps(runtime, 1, MANY_HEADS))
    assert first_ops == ["ttnn.concat", "ttnn.concat"]
    for ops, tensors in later:
        assert ops == ["ttnn.fill_cache", "ttnn.fill_cache"]
        assert all(a is b for a, b in zip(tensors, first)), "the first step's tensors are written in place"


def test_concatenation_stays_where_it_is_predicted_faster(runtime):
    for ops, _ in _steps(runtime, 1, ONE_HEAD):
        assert ops == ["ttnn.concat", "ttnn.concat"]


def test_several_batch_rows_concatenate_every_step(runtime):
    for ops, _ in _steps(runtime, 2, MANY_HEADS):
        assert ops == ["ttnn.concat", "ttnn.concat"]
