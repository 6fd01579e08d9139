"""Buffers of ttnn.rms_norm / ttnn.layer_norm on interleaved tensors (ttnn 0.81.1, LayerNormMultiCoreProgramFactory,
a Metal 2.0 factory whose source is not public at that version: every size below was measured on the 0.81.1 host
code against a mocked device, Wormhole and Blackhole alike).

The factory keeps a whole row of tiles resident when it fits 95% of the free L1 span, else streams the row in chunks
of C tiles; B, the block, is 4 tiles with fp32 dest accumulation and 8 without, and widths are rounded up to it.
"""

from __future__ import annotations

from tt.host.errors import RuleViolation
from tt.host.memory import TILE_BYTES
from tt.host.resources.cores import WorkSplit, extent

SPAN_FRACTION = 0.95  # of the L1 between the buffer base and the lowest L1 tensor


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _plan(call, chunk: int | None):
    """(name, tiles, tile bytes) of the resident plan (chunk None) or of the streaming plan with `chunk` tiles."""
    x = call.tensor("input_tensor")
    gamma, beta, residual = call.tensor("weight"), call.tensor("bias"), call.tensor("residual_input_tensor")
    kernel = call.arguments.get("compute_kernel_config")
    fp32 = kernel is not None and kernel.fp32_dest_acc_en
    layer_norm = call.op == "ttnn.layer_norm"
    block = 4 if fp32 else 8
    row = _round_up(list(x.padded_shape)[-1] // 32, block) if chunk is None else chunk
    im = 4096 if fp32 else 2048  # partials: float32 with fp32 dest, else bfloat16
    ts_in = TILE_BYTES[x.dtype]
    ts_out = TILE_BYTES[call.arguments.get("dtype") or x.dtype]
    buffers = [("in", 2 * block if residual is not None else row, ts_in), ("out", 2 * block, ts_out),
               ("scaler", 2, 2048), ("eps", 2, 2048), ("ex2", 2, im)]
    if layer_norm:
        buffers.append(("ex", 2, im))
    if layer_norm or residual is not None or chunk is not None:
        buffers.append(("xmm", row, im))
    buffers += [("xmm2", row, im), ("ex2pe", 8, im)]
    if gamma is not None or beta is not None:
        buffers.append(("fusion", 2 * block, im))
    for name, t in (("gamma", gamma), ("beta", beta)):
        if t is not None:
            buffers.append((name, row, TILE_BYTES[t.dtype]))
    if residual is not None:
        buffers.append(("inb", 2 * block, TILE_BYTES[residual.dtype]))
        if layer_norm:
            buffers.append(("x", row, im))
    if chunk is not None:
        buffers.append(("accumulate", 1, im))
    return buffers, block


def _bytes(buffers) -> int:
    return sum(tiles * size for _, tiles, size in buffers)


def norm_buffers(call, spec, l1_tensor_bytes: int):
    """The resident plan when it fits, else the streaming plan with the largest chunk that fits (ROW_MAJOR
    gamma/beta have no streaming plan: the resident one is built and the L1 check refuses it)."""
    available = int(SPAN_FRACTION * (spec.l1_bytes - l1_tensor_bytes - spec.l1_unreserved_base))
    resident, block = _plan(call, None)
    weights = [t for t in (call.tensor("weight"), call.tensor("bias")) if t is not None]
    if _bytes(resident) <= available or any(t.layout.name == "ROW_MAJOR" for t in weights):
        return resident
    largest = (7 if weights else 14) * block
    for chunk in range(largest, 0, -block):
        streaming, _ = _plan(call, chunk)
        if _bytes(streaming) <= available:
            return streaming
    raise RuleViolation(f"{call.op}: LayerNorm streaming circular buffers require {_bytes(_plan(call, block)[0])} "
                        f"bytes, but only {available} bytes of the allocator's L1 span are available")


def norm_split(call, grid):
    """Tile rows (every dim but the width) over the grid, row-wise; buffers only on the busy cores."""
    shape = list(call.tensor("input_tensor").padded_shape)
    rows = 1
    for d in shape[:-1]:
        rows *= d
    split = WorkSplit.of(rows // 32, grid)
    return extent(split.busy_cores, grid), split
