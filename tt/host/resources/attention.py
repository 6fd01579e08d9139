"""Buffers of the attention programs (ttnn 0.81.1; sizes measured on the 0.81.1 host code against a mocked device,
formulas from the SDPA factory: ttnn/cpp/ttnn/operations/transformer/sdpa/device/sdpa_program_factory.cpp and the
shipped kernels/compute/sdpa_streaming_qktv.hpp).

scaled_dot_product_attention works on chunks of q_chunk x k_chunk rows. Without fp32 dest accumulation it takes
the "streaming" compute path, with it the legacy one, whose partials and sums are float32. Its buffers are allocated
on the whole program grid; the (batch, head, q chunk) work items are dealt out over it. With an attention mask and a
scale other than 1, ttnn first multiplies the mask by 1 / scale (the kernels fold the scale into exp): a binary
program and a DRAM copy of the mask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.prepare import TILE
from tt.host.memory import TILE_BYTES
from tt.host.resources.cores import WorkSplit, extent

BF16_TILE, FP32_TILE, BFP4_TILE = 2048, 4096, 576
DEST_TILES = 8
# determine_largest_subblock_size's search order of (h, w)
SUBBLOCKS = ((2, 4), (4, 2), (1, 8), (8, 1), (1, 7), (7, 1), (2, 3), (3, 2), (1, 6), (6, 1), (1, 5), (5, 1), (2, 2),
             (1, 4), (4, 1), (1, 3), (3, 1), (1, 2), (2, 1), (1, 1))


def _chunks(length: int, chunk: int) -> int:
    return -(-length // chunk)


def _qktv_rows(sq_t: int, dh_t: int) -> int:
    """Output rows the streaming path drains at once: the subblock height (at most 2), doubled when 1."""
    h, w = next((h, w) for h, w in SUBBLOCKS if h * w <= DEST_TILES and h <= 2 and sq_t % h == 0 and dh_t % w == 0)
    return 2 if h == 1 and 2 * w <= DEST_TILES and sq_t >= 2 else h


def sdpa_work(call, spec):
    config = call.arguments.get("program_config")
    grid = (config.compute_with_storage_grid_size.x, config.compute_with_storage_grid_size.y) if config \
        else spec.grid
    q = call.tensor("input_tensor_q")
    b, heads, sq, _ = list(q.shape)
    q_chunk = config.q_chunk_size if config else 32
    return grid, WorkSplit.of(b * heads * _chunks(sq, q_chunk), grid)


@dataclass(frozen=True)
class SdpaShape:
    """What decides the attention program's buffers: chunks, head tiles, dtypes, the mask, the accumulation."""

    q_chunk: int
    k_chunk: int
    sq: int  # logical query and key lengths
    sk: int
    dh_tiles: int
    q_dtype: object
    kv_dtype: object
    mask_dtype: object | None  # None: no attention mask
    fp32_dest_acc_en: bool
    q_double_buffered: bool  # a core gets more than one q chunk
    causal: bool = False


def sdpa_shape_buffers(shape: SdpaShape) -> list[tuple[str, int, int]]:
    s = shape
    sq_t, sk_t, dh_t = s.q_chunk // 32, s.k_chunk // 32, s.dh_tiles
    padded = _chunks(s.sq, s.q_chunk) * s.q_chunk != s.sq or _chunks(s.sk, s.k_chunk) * s.k_chunk != s.sk
    ts_q = TILE_BYTES[s.q_dtype]
    buffers = [("q_in", sq_t * dh_t * (2 if s.q_double_buffered else 1), ts_q),
               ("k_in", sk_t * dh_t * 2, TILE_BYTES[s.kv_dtype]), ("v_in", sk_t * dh_t * 2, TILE_BYTES[s.kv_dtype])]
    if s.mask_dtype is not None:
        buffers.append(("mask_in", sq_t * sk_t * 2, TILE_BYTES[s.mask_dtype]))
    elif s.causal:
        buffers.append(("mask_in", 2, BF16_TILE))
    elif padded:
        buffers.append(("mask_in", sq_t * sk_t * 2, BFP4_TILE) if s.fp32_dest_acc_en else
                       ("mask_in", 1 + (1 if s.sk % 32 else 0), BF16_TILE))
    buffers.append(("identity_scale_in", 2, BF16_TILE))
    statistics = FP32_TILE if s.fp32_dest_acc_en else BF16_TILE
    buffers += [("qk_im", sq_t * sk_t, statistics), ("out_im", 2 * sq_t * dh_t, BF16_TILE),
                ("max_and_exp_max_diff", 3 * sq_t, BF16_TILE), ("sum", 2 * sq_t, statistics)]
    if s.fp32_dest_acc_en:
        buffers.append(("out", sq_t * dh_t, ts_q))
    else:
        buffers += [("recip_scratch", 1, BF16_TILE), ("out", 2 * _qktv_rows(sq_t, dh_t) * dh_t, ts_q)]
    return buffers


def sdpa_buffers(call, spec):
    config = call.arguments.get("program_config")
    q, k = call.tensor("input_tensor_q"), call.tensor("input_tensor_k")
    mask = call.tensor("attn_mask")
    kernel = call.arguments.get("compute_kernel_config")
    q_chunk, k_chunk = (config.q_chunk_size, config.k_chunk_size) if config else (32, 32)
    _, work = sdpa_work(call, spec)
    return sdpa_shape_buffers(SdpaShape(q_chunk, k_chunk, list(q.shape)[2], list(k.shape)[2],
                                        list(q.padded_shape)[3] // 32, q.dtype, k.dtype,
                                        None if mask is None else mask.dtype,
                                        kernel is not None and kernel.fp32_dest_acc_en, work.units_per_core > 1,
                                        bool(call.arguments.get("is_causal"))))


def mask_prescale(call) -> bool:
    """Whether ttnn multiplies the mask by 1 / scale in a program of its own before the attention program."""
    scale = call.arguments.get("scale")
    return call.tensor("attn_mask") is not None and scale is not None and scale != 1.0


def create_qkv_heads_buffers(call):
    """nlp_create_qkv_heads: untransposed K moves heads in blocks of up to 8 tiles (a power of two dividing the
    head's tiles), double-buffered; the default transposed K uses three 4-tile buffers."""
    x = call.tensor("input")
    ts = TILE_BYTES[x.dtype]
    if call.arguments.get("transpose_k_heads", True):
        return [("qv", 4, ts), ("k_in", 4, ts), ("k_out", 4, ts)]
    heads = call.arguments["num_heads"] + 2 * (call.arguments.get("num_kv_heads") or call.arguments["num_heads"])
    head_tiles = list(x.padded_shape)[-1] // 32 // heads if call.tensor("input_kv") is None else \
        list(x.padded_shape)[-1] // 32 // call.arguments["num_heads"]
    tile_batch = max(p for p in (1, 2, 4, 8) if head_tiles % p == 0)
    return [("qv", max(4, 2 * tile_batch), ts)]


def create_qkv_heads_work(call, grid):
    x = call.tensor("input")
    b, _, s, _ = list(x.padded_shape)
    if call.arguments.get("transpose_k_heads", True):
        units = b * s // 32
    else:
        heads = call.arguments["num_heads"] + 2 * (call.arguments.get("num_kv_heads") or call.arguments["num_heads"])
        units = b * heads * s // 32
    split = WorkSplit.of(units, grid)
    return extent(split.busy_cores, grid), split


def concat_heads_buffers(call):
    x = call.tensor("input_tensor")
    _, heads, _, d = list(x.padded_shape)
    return [("in0", 2 * heads * d // 32, TILE_BYTES[x.dtype])]


def concat_heads_work(call, grid):
    b, heads, s, _ = list(call.tensor("input_tensor").padded_shape)
    split = WorkSplit.of(b * heads * s // 32, grid)
    return extent(split.busy_cores, grid), split


def rotary_buffers(call):
    """RotaryEmbedding's prefill program (measured on the 0.81.1 host code; tt-metal
    rotary_embedding_program_factory.cpp): input, rotated input, cos, sin and output of two rows of Wt tiles each, a
    bfloat16 scalar tile and one tile of each intermediate; [1, 8, 64, 256] bfloat16 takes 172,032 B."""
    x, cos, sin = (call.tensor(n) for n in ("input_tensor", "cos_cache", "sin_cache"))
    row = 2 * (list(x.padded_shape)[-1] // TILE)
    out_dtype = x.dtype
    return [("input", row, TILE_BYTES[x.dtype]), ("rotated input", row, TILE_BYTES[x.dtype]),
            ("cos", row, TILE_BYTES[cos.dtype]), ("sin", row, TILE_BYTES[sin.dtype]), ("scalar", 1, 2048),
            ("rotated", 1, TILE_BYTES[x.dtype]), ("cos product", 1, TILE_BYTES[cos.dtype]),
            ("sin product", 1, TILE_BYTES[sin.dtype]), ("output", row, TILE_BYTES[out_dtype])]


def rotary_work(call, grid):
    """Tile rows (batch x heads x padded rows / 32) dealt out row-major over the grid."""
    x = call.tensor("input_tensor")
    rows = math.prod(list(x.padded_shape)[:-1]) // TILE
    split = WorkSplit.of(rows, grid)
    return extent(split.busy_cores, grid), split
