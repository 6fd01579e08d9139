"""The dtype / layout rules each op documents (or, where its docstring is silent, its device validation in
tt-metal states), plus the shape rules of matmul program configs and SDPA: RuleViolation (a ValueError) naming op,
argument and rule."""

from __future__ import annotations

import math
from dataclasses import dataclass

import ttnn

from models.prepare import TILE
from tt.host.binding import BoundCall
from tt.host.device import DeviceSpec
from tt.host.errors import RuleViolation
from tt.host.tensor import tensors_in
from tt.host.resources.matmul import DRAM_SHARDED, ONE_D, TWO_D, MatmulGeometry

F32, BF16, BFP8, BFP4 = ttnn.float32, ttnn.bfloat16, ttnn.bfloat8_b, ttnn.bfloat4_b
INT32, UINT32, UINT16, UINT8, INT8 = ttnn.int32, ttnn.uint32, ttnn.uint16, ttnn.uint8, ttnn.int8
TILE_LAYOUT, ROW_MAJOR = ttnn.TILE_LAYOUT, ttnn.ROW_MAJOR_LAYOUT
FLOATS = (F32, BF16, BFP8, BFP4)
BLOCK_FLOATS = (BFP8, BFP4)
# Dest register of Wormhole and Blackhole: 16 32x32 tiles (DEST_REGISTER_FULL_SIZE * DATUMS_PER_ROW / 1024, in the
# shipped tensix_types.h).
DEST_TILES_FULL = 16


@dataclass(frozen=True)
class Rule:
    args: tuple[str, ...]
    layouts: tuple = ()
    dtypes: tuple = ()
    source: str = "docstring"


_MATMUL = (Rule(("input_tensor_a", "input_tensor_b", "bias"), (TILE_LAYOUT,), FLOATS),)
_BINARY = (Rule(("input_tensor_a", "input_tensor_b"), (TILE_LAYOUT, ROW_MAJOR), FLOATS + (INT32, UINT32, UINT16)),)
_NORM = (Rule(("input_tensor", "residual_input_tensor"), (TILE_LAYOUT,), (BF16, F32, BFP8)),
         Rule(("weight", "bias"), (TILE_LAYOUT, ROW_MAJOR), (BF16, F32)))
_UNARY_TRIG = (Rule(("input_tensor",), (), (BF16, BFP8, F32)),)
RULES = {
    "ttnn.linear": _MATMUL,
    "ttnn.matmul": _MATMUL,
    "ttnn.add": _BINARY,
    "ttnn.subtract": _BINARY,
    "ttnn.multiply": _BINARY,
    "ttnn.rms_norm": _NORM,
    "ttnn.layer_norm": _NORM,
    "ttnn.softmax": (Rule(("input_tensor",), (TILE_LAYOUT,), (BF16, F32, BFP8)),),
    "ttnn.gelu": (Rule(("input_tensor",), (), (BF16, BFP8)),),
    "ttnn.silu": (Rule(("input_tensor",), (), (F32, BF16, BFP8)),),
    "ttnn.sin": _UNARY_TRIG,
    "ttnn.cos": _UNARY_TRIG,
    "ttnn.where": (Rule(("predicate", "true_value", "false_value"), (TILE_LAYOUT,), FLOATS + (INT32, UINT32)),),
    "ttnn.typecast": (Rule(("input_tensor",), (), FLOATS + (UINT32, INT32, UINT16, UINT8, INT8)),),
    "ttnn.embedding": (Rule(("input_tensor",), (ROW_MAJOR,), (UINT32, BF16), "embedding device op validation"),
                       Rule(("weight",), (ROW_MAJOR,), (BF16,), "embedding device op validation")),
    "ttnn.experimental.nlp_create_qkv_heads": (
        Rule(("input", "input_kv"), (TILE_LAYOUT,), (F32, BF16, BFP8), "nlp_create_qkv_heads device op validation"),),
    "ttnn.experimental.nlp_concat_heads": (
        Rule(("input_tensor",), (TILE_LAYOUT,), (F32, BF16, BFP8), "nlp_concat_heads device op validation"),),
    "ttnn.transformer.scaled_dot_product_attention": (
        Rule(("input_tensor_q", "input_tensor_k", "input_tensor_v", "attn_mask"), (TILE_LAYOUT,), (BF16, BFP8, BFP4),
             "sdpa device op validation"),),
    "ttnn.experimental.rotary_embedding": (
        Rule(("input_tensor", "cos_cache", "sin_cache"), (TILE_LAYOUT,), (BF16, F32, BFP8),
             "Inputs to rotary embedding must be tilized"),),
    "ttnn.fill_cache": (Rule(("cache_tensor", "input_tensor"), (TILE_LAYOUT,), (F32, BF16, BFP8),
                             "update_cache device op validation"),),
    "ttnn.addcmul": (Rule(("input_a", "input_b", "input_c"), (TILE_LAYOUT,), (F32, BF16, BFP8, INT32, UINT32)),),
}


def _names(values) -> str:
    return "/".join(v.name for v in values)


def _reject(call: BoundCall, arg: str, rule: str):
    raise RuleViolation(f"{call.op}: argument {arg!r}: {rule}")


def check_call(call: BoundCall, spec: DeviceSpec) -> None:
    for arg, value in call.arguments.items():
        for t in tensors_in(value):
            if t.dtype in BLOCK_FLOATS and t.layout != TILE_LAYOUT:
                _reject(call, arg, f"{t.dtype.name} tensors must be TILE layout, got {t.layout.name}")
    for rule in RULES.get(call.op, ()):
        for arg in rule.args:
            t = call.tensor(arg)
            if t is None:
                continue
            if rule.layouts and t.layout not in rule.layouts:
                _reject(call, arg, f"layout must be {_names(rule.layouts)}, got {t.layout.name} ({rule.source})")
            if rule.dtypes and t.dtype not in rule.dtypes:
                _reject(call, arg, f"dtype must be {_names(rule.dtypes)}, got {t.dtype.name} ({rule.source})")
    check = _SHAPE_CHECKS.get(call.op)
    if check is not None:
        check(call, spec)


def _check_grid(call: BoundCall, arg: str, grid, spec: DeviceSpec) -> None:
    if grid.x > spec.grid[0] or grid.y > spec.grid[1]:
        _reject(call, arg, f"compute_with_storage_grid_size {grid.x}x{grid.y} exceeds the {spec.name} grid "
                           f"{spec.grid[0]}x{spec.grid[1]}")


def _dest_tiles(call: BoundCall) -> int:
    """get_dest_reg_count: 16 tiles of dest, halved in half-sync mode and again with fp32 accumulation (the same on
    Wormhole and Blackhole)."""
    kernel = call.arguments.get("compute_kernel_config")
    tiles = DEST_TILES_FULL
    if kernel is None or not kernel.dst_full_sync_en:
        tiles //= 2
    if kernel is not None and kernel.fp32_dest_acc_en:
        tiles //= 2
    return tiles


def _check_matmul(call: BoundCall, spec: DeviceSpec) -> None:
    """Program config rules of the matmul device operation (tt-metal matmul/device/matmul_validation.cpp)."""
    config = call.arguments.get("program_config")
    if call.tensor("input_tensor_a") is None or call.tensor("input_tensor_b") is None or config is None:
        return
    g = MatmulGeometry.of(call)
    if g.kt % config.in0_block_w:
        _reject(call, "program_config", f"Kt ({g.kt}) must be divisible by in0_block_w ({config.in0_block_w})")
    if isinstance(config, DRAM_SHARDED):
        _check_dram_sharded(call, g)
        return
    _check_grid(call, "program_config", config.compute_with_storage_grid_size, spec)
    grid = config.compute_with_storage_grid_size
    block_h = getattr(config, "out_block_h", config.per_core_M)
    block_w = getattr(config, "out_block_w", config.per_core_N)
    if config.per_core_M % block_h or config.per_core_N % block_w:
        _reject(call, "program_config", f"out_block {block_h}x{block_w} must divide the per-core block "
                                        f"{config.per_core_M}x{config.per_core_N}")
    if block_h % config.out_subblock_h or block_w % config.out_subblock_w:
        _reject(call, "program_config", f"out_subblock {config.out_subblock_h}x{config.out_subblock_w} must divide "
                                        f"the output block {block_h}x{block_w}")
    dest = _dest_tiles(call)
    if config.out_subblock_h * config.out_subblock_w > dest:
        _reject(call, "program_config", f"out_subblock_w {config.out_subblock_w} times out_subblock_h "
                                        f"{config.out_subblock_h} needs to be at most {dest} to fit in hardware "
                                        "(dest tiles with this compute kernel config)")
    blocks_y, blocks_x = -(-g.mt // config.per_core_M), -(-g.nt // config.per_core_N)
    if isinstance(config, TWO_D):
        if config.per_core_M > g.mt:
            _reject(call, "program_config", f"per_core_M ({config.per_core_M}) exceeds Mt ({g.mt})")
        if config.transpose_mcast:
            blocks_x, blocks_y = blocks_y, blocks_x
        if blocks_x > grid.x or blocks_y > grid.y:
            _reject(call, "program_config", f"output blocks {blocks_x}x{blocks_y} (x by y) do not fit the grid "
                                            f"{grid.x}x{grid.y}")
    elif isinstance(config, ONE_D):
        if blocks_x * blocks_y > grid.x * grid.y:
            _reject(call, "program_config", f"{blocks_x * blocks_y} output blocks exceed the {grid.x * grid.y} "
                                            "cores of the grid")
        if config.mcast_in0 and blocks_y != 1:
            _reject(call, "program_config", f"mcast_in0 needs all of M in one block: Mt {g.mt} > per_core_M "
                                            f"{config.per_core_M}")
        if not config.mcast_in0 and blocks_x != 1:
            _reject(call, "program_config", f"mcast_in1 requires N ({g.nt}) to fit within one per_core_N block "
                                            f"({config.per_core_N})")


def _check_dram_sharded(call: BoundCall, g) -> None:
    """validate_matmul_dram_sharded_config and its factory: one tile row of activations, width-sharded in L1 with
    K blocks that divide a shard or gather whole shards; weights width-sharded in DRAM; output sharded like the
    activations (the messages are in the 0.81.1 binary)."""
    config = call.arguments["program_config"]
    a, b = call.tensor("input_tensor_a"), call.tensor("input_tensor_b")
    out = call.arguments.get("memory_config")
    width_sharded = ttnn.TensorMemoryLayout.WIDTH_SHARDED
    if g.mt != 1 or config.per_core_M != 1:
        _reject(call, "input_tensor_a", f"DRAM-sharded matmul only supports an in0 height of one tile, got "
                                        f"Mt={g.mt}, per_core_M={config.per_core_M}")
    config_a = a.memory_config()
    if config_a.memory_layout != width_sharded or config_a.buffer_type != ttnn.BufferType.L1:
        _reject(call, "input_tensor_a", "DRAM-sharded matmul needs in0 WIDTH_SHARDED in L1")
    shard_rows, shard_width = (extent // 32 for extent in config_a.shard_spec.shape)
    if config.per_core_M != shard_rows:
        _reject(call, "program_config", f"per_core_M ({config.per_core_M}) must equal shard_shape[0] / "
                                        f"in0_tile.get_height() ({shard_rows})")
    if config.in0_block_w <= shard_width and shard_width % config.in0_block_w:
        _reject(call, "program_config", f"shard_shape[1] / in0_tile.get_width() ({shard_width}) must be divisible "
                                        f"by in0_block_w ({config.in0_block_w})")
    if config.in0_block_w > shard_width and config.in0_block_w % shard_width:
        _reject(call, "program_config", f"in0_block_w ({config.in0_block_w}) wider than the in0 shard "
                                        f"({shard_width} tiles) must be a multiple of it")
    config_b = b.memory_config()
    if config_b.memory_layout != width_sharded or config_b.buffer_type != ttnn.BufferType.DRAM:
        _reject(call, "input_tensor_b", "DRAM-sharded matmul needs in1 WIDTH_SHARDED in DRAM")
    if out is None or out.memory_layout != width_sharded or out.buffer_type != ttnn.BufferType.L1:
        _reject(call, "memory_config", "DRAM-sharded matmul needs its output WIDTH_SHARDED in L1")


def _check_sdpa(call: BoundCall, spec: DeviceSpec) -> None:
    """tt-metal sdpa_device_operation validation, regular (non-chunked, non-windowed) mode; the messages are in the
    0.81.1 binary."""
    q, k, v = (call.tensor(n) for n in ("input_tensor_q", "input_tensor_k", "input_tensor_v"))
    mask, causal = call.tensor("attn_mask"), call.arguments.get("is_causal")
    config = call.arguments.get("program_config")
    for name, t in (("input_tensor_q", q), ("input_tensor_k", k), ("input_tensor_v", v)):
        if list(t.shape)[-1] != list(t.padded_shape)[-1]:
            _reject(call, name, f"head_dim {t.shape[-1]} must be a multiple of {TILE} (no padding on head_dim)")
    (b, nqh, sq, dh), (bk, nkv, sk, dk), vs = list(q.shape), list(k.shape), list(v.shape)
    if causal and mask is not None:
        _reject(call, "attn_mask", "is_causal and attn_mask are mutually exclusive; pass is_causal=False with a mask")
    if mask is not None and call.arguments.get("sliding_window_size"):
        _reject(call, "attn_mask", "sliding_window_size and attn_mask cannot both be present")
    if bk != b or vs[0] != b or vs[1] != nkv or vs[2] != sk or dk != dh or vs[3] != dh:
        _reject(call, "input_tensor_k", f"q {list(q.shape)}, k {list(k.shape)}, v {vs} disagree")
    if nqh < nkv or nqh % nkv:
        _reject(call, "input_tensor_k", f"Q heads ({nqh}) must be a multiple of K heads ({nkv})")
    if causal and sq != sk:
        _reject(call, "is_causal", f"causal SDPA needs equal Q and K lengths, got {sq} and {sk}")
    if config is not None:
        if config.q_chunk_size % TILE or config.k_chunk_size % TILE:
            _reject(call, "program_config", f"chunk sizes ({config.q_chunk_size}, {config.k_chunk_size}) must be "
                                            f"multiples of {TILE}")
        _check_grid(call, "program_config", config.compute_with_storage_grid_size, spec)
    if mask is not None:
        mb, mh, mq, mk = list(mask.shape)
        if mb not in (1, b) or mh not in (1, nqh) or mq != sq or mk != sk:
            _reject(call, "attn_mask", f"shape {list(mask.shape)} must be [1 or {b}, 1 or {nqh}, {sq}, {sk}]")
    out = call.arguments.get("memory_config")
    if call.arguments.get("output_concat_heads") and isinstance(out, ttnn.MemoryConfig) and out.is_sharded():
        # the shipped writer (writer_interleaved.cpp) places side-by-side heads by interleaved tile ids
        _reject(call, "memory_config", "output_concat_heads into a sharded output is not modelled on the host path")


def _check_norm(call: BoundCall, spec: DeviceSpec) -> None:
    """Limitations listed in the rms_norm / layer_norm docstrings."""
    x = call.tensor("input_tensor")
    residual = call.tensor("residual_input_tensor")
    if residual is not None and list(residual.padded_shape) != list(x.padded_shape):
        _reject(call, "residual_input_tensor", "must match the input's padded shape")
    width = list(x.padded_shape)[-1]
    for name in ("weight", "bias"):
        p = call.tensor(name)
        if p is None:
            continue
        padded = list(p.padded_shape)
        if p.layout == TILE_LAYOUT:
            if padded[-1] != width or (call.op == "ttnn.layer_norm" and (p.shape[-1] != x.shape[-1]
                                                                          or padded[-2] != TILE)):
                _reject(call, name, f"TILE {list(p.shape)} must be one row as wide as the input ({x.shape[-1]})")
        elif padded[-1] != TILE or math.prod(padded) != width:
            _reject(call, name, f"ROW_MAJOR {list(p.shape)} must be [{width // TILE}, {TILE}] sticks")


def _check_binary(call: BoundCall, spec: DeviceSpec) -> None:
    a, b = call.tensor("input_tensor_a"), call.tensor("input_tensor_b")
    if a is not None and b is not None and a.dtype != b.dtype and not (a.dtype in FLOATS and b.dtype in FLOATS):
        _reject(call, "input_tensor_b", f"dtypes {a.dtype.name} and {b.dtype.name} may not mix (only float "
                                        "dtypes mix)")


def _check_addcmul(call: BoundCall, spec: DeviceSpec) -> None:
    """The one form of addcmul the host path models: bfloat16 a and b of one shape and c one row of that shape,
    which ttnn runs as one ternary program (ROW_BCAST, the LLK row broadcast). Other shapes or dtypes take other
    kernels or ttnn's composite fallback of several device ops, which are not modelled."""
    a, b, c = (call.tensor(n) for n in ("input_a", "input_b", "input_c"))
    shape = list(a.shape)
    row = shape[:-2] + [1, shape[-1]]
    if any(t.dtype != BF16 for t in (a, b, c)) or list(b.shape) != shape or list(c.shape) != row:
        _reject(call, "input_c", f"only bfloat16 a, b {shape} with c {row} (one row, broadcast) is modelled on the "
                                 f"host path; got b {b.dtype.name}{list(b.shape)}, c {c.dtype.name}{list(c.shape)}")


def _check_concat(call: BoundCall, spec: DeviceSpec) -> None:
    tensors = list(tensors_in(call.arguments.get("tensors")))
    first = tensors[0]
    for t in tensors[1:]:
        if t.layout != first.layout or t.dtype != first.dtype or len(t.shape) != len(first.shape):
            _reject(call, "tensors", "all tensors must share layout, dtype and rank")


def _check_slice(call: BoundCall, spec: DeviceSpec) -> None:
    x = call.tensor("input_tensor")
    starts = call.arguments.get("starts", call.arguments.get("slice_start"))
    ends = call.arguments.get("ends", call.arguments.get("slice_end"))
    steps = call.arguments.get("steps", call.arguments.get("slice_step")) or [1] * len(starts)
    if isinstance(starts, ttnn.Tensor):
        return
    shape = list(x.shape)
    if not len(starts) == len(ends) == len(steps) == len(shape):
        _reject(call, "starts", f"starts/ends/steps need one entry per dim of {shape}")
    for dim, (s, e) in enumerate(zip(starts, ends)):
        if not (0 <= s < shape[dim] and 0 < e <= shape[dim]):
            _reject(call, "starts", f"dim {dim}: start {s} must be in [0, {shape[dim]}) and end {e} in "
                                    f"(0, {shape[dim]}]")
    if x.dtype == BFP8 and any(step != 1 for step in steps):
        _reject(call, "steps", "strided slicing is not supported for bfloat8_b tensors")


def _check_embedding(call: BoundCall, spec: DeviceSpec) -> None:
    weight, dtype, layout = call.tensor("weight"), call.arguments.get("dtype"), call.arguments.get("layout")
    if dtype is not None and dtype != weight.dtype and (layout or weight.layout) != TILE_LAYOUT:
        _reject(call, "dtype", "can only typecast output embeddings when producing TILE_LAYOUT output")


def _check_rotary(call: BoundCall, spec: DeviceSpec) -> None:
    """rotary_embedding.cpp and its device operation's validate (0.81.1 messages)."""
    x, cos, sin = (call.tensor(n) for n in ("input_tensor", "cos_cache", "sin_cache"))
    width = list(x.padded_shape)[-1]
    if width != 32 and width % 64:
        _reject(call, "input_tensor", f"Input X dimension ({width}) must be either 32 (single tile) or divisible by 64")
    if list(cos.padded_shape) != list(sin.padded_shape) or cos.dtype != sin.dtype:
        _reject(call, "sin_cache", "Cos and Sin dims and dtypes must match")
    c = list(cos.padded_shape)
    if c[0] != 1 or c[1] != 1 or c[-1] != width:
        _reject(call, "cos_cache", f"Cosine cache dimensions must match input dimensions. Expected (1, 1, {width}), "
                                   f"but got {c}")
    if call.arguments.get("token_index") is None and c[-2] < list(x.padded_shape)[-2]:
        _reject(call, "cos_cache", f"Cosine cache dimensions must cover the sequence length. Sequence length: "
                                   f"{list(x.padded_shape)[-2]}, Cos cache dimension: {c[-2]}.")
    for name in ("input_tensor", "cos_cache", "sin_cache"):
        if call.tensor(name).memory_config().is_sharded():
            _reject(call, name, "sharded rotary embedding operands are not modelled on the host path")


def _check_fill_cache(call: BoundCall, spec: DeviceSpec) -> None:
    """UpdateKVCacheOperation's validation of a fill (0.81.1 messages), and the tile-aligned update_idx its docstring
    asks for; a fill running past the cache's sequence, which the device would write into the next head's rows, is
    refused too."""
    cache, x = call.tensor("cache_tensor"), call.tensor("input_tensor")
    c, i = list(cache.padded_shape), list(x.padded_shape)
    batch_idx, update_idx = call.arguments["batch_idx"], call.arguments["update_idx"]
    if i[-1] != c[-1]:
        _reject(call, "input_tensor", f"Input tensor width ({i[-1]}) must equal cache tensor width ({c[-1]})")
    if i[0] != 1:
        _reject(call, "input_tensor", f"Input tensor batch size must be 1 but got {i[0]}")
    if i[1] != c[1]:
        _reject(call, "input_tensor", f"Input tensor height ({i[1]}) must equal cache tensor height ({c[1]})")
    if cache.memory_config().is_sharded():
        _reject(call, "cache_tensor", "Cache tensor memory layout must be INTERLEAVED or ND_SHARDED but got "
                                      f"{cache.memory_config().memory_layout.name}")
    if x.dtype != cache.dtype:
        _reject(call, "input_tensor", "Input and cache tensors must have same dtype!")
    if x.memory_config().memory_layout == ttnn.TensorMemoryLayout.WIDTH_SHARDED:
        _reject(call, "input_tensor", "Input tensor memory layout must not be WIDTH_SHARDED but got WIDTH_SHARDED")
    if not 0 <= batch_idx < c[0]:
        _reject(call, "batch_idx", f"Batch index ({batch_idx}) must be less than cache tensor batch size ({c[0]})")
    if i[-2] > c[-2]:
        _reject(call, "input_tensor", f"Input tensor height ({i[-2]}) must be <= cache tensor height ({c[-2]})")
    if update_idx % TILE:
        _reject(call, "update_idx", f"seq-dim offset {update_idx} must be a multiple of TILE_HEIGHT ({TILE})")
    if update_idx + i[-2] > c[-2]:
        _reject(call, "update_idx", f"rows {update_idx}..{update_idx + i[-2]} of the input run past the cache's "
                                    f"{c[-2]} rows (the device would write into the next head's)")


_SHAPE_CHECKS = {
    "ttnn.experimental.rotary_embedding": _check_rotary,
    "ttnn.linear": _check_matmul,
    "ttnn.matmul": _check_matmul,
    "ttnn.transformer.scaled_dot_product_attention": _check_sdpa,
    "ttnn.rms_norm": _check_norm,
    "ttnn.layer_norm": _check_norm,
    "ttnn.add": _check_binary,
    "ttnn.subtract": _check_binary,
    "ttnn.multiply": _check_binary,
    "ttnn.concat": _check_concat,
    "ttnn.slice": _check_slice,
    "ttnn.embedding": _check_embedding,
    "ttnn.fill_cache": _check_fill_cache,
    "ttnn.addcmul": _check_addcmul,
}
