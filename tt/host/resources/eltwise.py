"""Buffers of the eltwise programs (ttnn 0.81.1; measured on the 0.81.1 host code against a mocked device, and
binary_ng_program_factory.cpp): two-tile double-buffered inputs and output per core.

- binary (add / subtract / multiply), BinaryNgDeviceOperation: a, b and out of 2 tiles each; a broadcast tensor
  operand adds a fourth 2-tile buffer; a Python scalar operand is a 1-tile bfloat16 buffer in place of b. The
  buffers are allocated on the whole worker grid, whatever the size.
- unary (gelu, silu), UnaryDeviceOperation: in and out of 2 tiles, on the whole grid.
- typecast: in and out of 2 tiles, only on the cores that get tiles.
"""

from __future__ import annotations

import math

from tt.host.memory import TILE_BYTES
from tt.host.resources.cores import WorkSplit, extent

DOUBLE_BUFFER = 2


def _tiles(t) -> int:
    return math.prod(t.padded_shape) // 1024


def binary_buffers(call):
    a, b = call.tensor("input_tensor_a"), call.tensor("input_tensor_b")
    out_dtype = call.arguments.get("dtype") or (a or b).dtype
    if a is None or b is None:  # one operand is a Python scalar
        t = a or b
        return [("a", DOUBLE_BUFFER, TILE_BYTES[t.dtype]), ("scalar", 1, 2048),
                ("c", DOUBLE_BUFFER, TILE_BYTES[out_dtype])]
    buffers = [("a", DOUBLE_BUFFER, TILE_BYTES[a.dtype]), ("b", DOUBLE_BUFFER, TILE_BYTES[b.dtype]),
               ("c", DOUBLE_BUFFER, TILE_BYTES[out_dtype])]
    if list(a.padded_shape) != list(b.padded_shape):
        buffers.append(("broadcast", DOUBLE_BUFFER, TILE_BYTES[a.dtype]))
    return buffers


def binary_split(call, grid):
    a, b = call.tensor("input_tensor_a"), call.tensor("input_tensor_b")
    output_tiles = max(_tiles(t) for t in (a, b) if t is not None)
    return grid, WorkSplit.of(output_tiles, grid)


def addcmul_buffers(call):
    """The ternary program of a row-broadcast addcmul (ternary_program_factory.cpp): a, b, c, the output and one
    broadcast scratch buffer per input, two tiles each."""
    a, b, c = (call.tensor(n) for n in ("input_a", "input_b", "input_c"))
    inputs = [(name, DOUBLE_BUFFER, TILE_BYTES[t.dtype]) for name, t in (("a", a), ("b", b), ("c", c))]
    scratch = [(f"{name} broadcast", DOUBLE_BUFFER, size) for name, _, size in inputs]
    return inputs + [("out", DOUBLE_BUFFER, TILE_BYTES[a.dtype])] + scratch


def addcmul_split(call, grid):
    return grid, WorkSplit.of(_tiles(call.tensor("input_a")), grid)


def unary_buffers(call):
    x = call.tensor("input_tensor")
    out_dtype = call.arguments.get("dtype") or x.dtype
    return [("in", DOUBLE_BUFFER, TILE_BYTES[x.dtype]), ("out", DOUBLE_BUFFER, TILE_BYTES[out_dtype])]


def unary_split(call, grid):
    return grid, WorkSplit.of(_tiles(call.tensor("input_tensor")), grid)


def typecast_buffers(call):
    x = call.tensor("input_tensor")
    out_dtype = call.arguments.get("dtype")
    return [("in", DOUBLE_BUFFER, TILE_BYTES[x.dtype]), ("out", DOUBLE_BUFFER, TILE_BYTES[out_dtype])]


def typecast_split(call, grid):
    split = WorkSplit.of(_tiles(call.tensor("input_tensor")), grid)
    return extent(split.busy_cores, grid), split
