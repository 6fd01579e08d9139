"""Pricing a call before it is made (tt/host/pricing.py): the time it quotes is the time the dry run records for the
same call, quoting records nothing, and a call the device would refuse, or whose device time is not modelled, is
refused."""

import pytest
import torch

from tt.common import upload
from tt.host.device import DEVICES
from tt.host.pricing import Pricing
from tt.host.timing import elapsed_ns
from tt.ops import ttnn
from tt.precision import ROPE_KERNEL
from tt.runtime import dry_runtime


def _meta(runtime, *shape, dtype=ttnn.bfloat16):
    return upload(runtime, torch.empty(shape, device="meta"), dtype)


@pytest.mark.parametrize("device", ["n150", "p150"])
def test_a_quote_is_what_the_dry_run_records_for_the_same_call(device):
    spec = DEVICES[device]
    quote = Pricing.of(spec)
    with dry_runtime(device) as runtime, runtime.recording() as log:
        x, table = _meta(runtime, 1, 8, 64, 256), _meta(runtime, 1, 1, 64, 256)
        cache, rows = _meta(runtime, 1, 8, 320, 128), _meta(runtime, 1, 8, 64, 128)
        ttnn.experimental.rotary_embedding(x, table, table, compute_kernel_config=ROPE_KERNEL)
        ttnn.concat([cache, rows], dim=2)
        ttnn.fill_cache(cache, rows, 0, update_idx=256)
        ttnn.add(x, x)
        records = log.select(kind="op")
        quotes = [quote.ns("ttnn.experimental.rotary_embedding", quote.like(x), quote.like(table), quote.like(table),
                           compute_kernel_config=ROPE_KERNEL),
                  quote.ns("ttnn.concat", [quote.like(cache), quote.like(rows)], dim=2),
                  quote.ns("ttnn.fill_cache", quote.like(cache), quote.like(rows), 0, update_idx=256),
                  quote.ns("ttnn.add", quote.like(x), quote.like(x))]
        assert len(log.select(kind="op")) == len(records) == 4, "a quote was recorded as an op"
    recorded = [elapsed_ns(r, spec, traced=True) for r in records]
    print(f"{device}: quoted {[round(q) for q in quotes]} ns, recorded {[round(r) for r in recorded]} ns")
    assert quotes == recorded


def test_a_quote_keeps_a_shape_it_is_given_and_a_view_costs_nothing():
    quote = Pricing.of(DEVICES["n150"])
    with dry_runtime("n150") as runtime:
        rows = _meta(runtime, 1, 8, 64, 128)
        cache = quote.like(rows, (1, 8, 320, 128))
        assert tuple(cache.shape) == (1, 8, 320, 128) and cache.dtype == rows.dtype
        assert quote.ns("ttnn.reshape", quote.like(rows), (1, 1, 512, 128)) == 0.0
        assert quote.ns("ttnn.fill_cache", cache, quote.like(rows), 0, update_idx=256) > 0.0


def test_a_call_the_device_refuses_is_refused_when_quoted():
    quote = Pricing.of(DEVICES["n150"])
    with dry_runtime("n150") as runtime:
        rows = _meta(runtime, 1, 8, 64, 128)
        with pytest.raises(ValueError, match="must be a multiple of TILE_HEIGHT"):
            quote.ns("ttnn.fill_cache", quote.like(rows, (1, 8, 320, 128)), quote.like(rows), 0, update_idx=16)


def test_an_op_without_a_device_time_model_cannot_be_quoted():
    quote = Pricing.of(DEVICES["n150"])
    with dry_runtime("n150") as runtime:
        x = quote.like(_meta(runtime, 1, 1, 64, 256))
        with pytest.raises(NotImplementedError, match="ttnn.exp: the host path has no device-time model"):
            quote.ns("ttnn.exp", x)


def test_sharded_calls_outside_matmuls_cannot_be_quoted():
    """A width-sharded norm or add runs another program factory (a norm reducing across the shard grid's cores, an
    add on each core's shard) than the interleaved one the host path prices: it is refused, not priced as that one."""
    quote = Pricing.of(DEVICES["n150"])
    grid = ttnn.CoreRangeSet({ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(7, 3))})
    width_sharded = ttnn.MemoryConfig(ttnn.TensorMemoryLayout.WIDTH_SHARDED, ttnn.BufferType.L1,
                                      ttnn.ShardSpec(grid, [64, 32], ttnn.ShardOrientation.ROW_MAJOR))
    x = quote.tensor((1, 1, 64, 1024), ttnn.bfloat16, memory_config=width_sharded)
    interleaved = quote.tensor((1, 1, 64, 1024), ttnn.bfloat16)
    refused = "the host path has no device-time model of this call .* or of its sharded form"
    with pytest.raises(NotImplementedError, match="ttnn.rms_norm: " + refused):
        quote.ns("ttnn.rms_norm", x, epsilon=1e-6)
    with pytest.raises(NotImplementedError, match="ttnn.add: " + refused):
        quote.ns("ttnn.add", x, x)
    with pytest.raises(NotImplementedError, match="ttnn.add: " + refused):
        quote.ns("ttnn.add", interleaved, interleaved, memory_config=width_sharded)
    sharded_config = ttnn.LayerNormShardedMultiCoreProgramConfig(compute_with_storage_grid_size=(8, 4), subblock_w=1,
                                                                 block_h=2, block_w=1, inplace=False)
    with pytest.raises(NotImplementedError, match="ttnn.rms_norm: " + refused):
        quote.ns("ttnn.rms_norm", interleaved, epsilon=1e-6, program_config=sharded_config)
    assert quote.ns("ttnn.rms_norm", interleaved, epsilon=1e-6) > 0.0
