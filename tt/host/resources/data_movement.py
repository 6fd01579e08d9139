"""Buffers of the data-movement programs (ttnn 0.81.1; shipped factories under
ttnn/cpp/ttnn/operations/data_movement/{concat,slice,split}/device/ and sizes measured on the 0.81.1 host code against
a mocked device). Only the tile-aligned cases are modelled: concatenating or slicing a TILE tensor across a partial
tile makes ttnn run a composite of untilize, row-major and tilize programs whose buffers depend on per-core blocks,
and those calls are reported as unmodelled.
"""

from __future__ import annotations

import math

import ttnn

from tt.host.memory import TILE_BYTES
from tt.host.resources.cores import WorkSplit, extent

TILE = 32
PREFETCH_PAGES = 2  # concat_program_factory.cpp: "Depth=2 is a prefetch optimization"


def _aligned(shape, dim: int) -> bool:
    return dim < len(shape) - 2 or shape[dim] % TILE == 0


def _tiles(shape) -> int:
    return math.prod(shape[:-2]) * -(-shape[-2] // TILE) * -(-shape[-1] // TILE)


def concat_program(call, grid):
    """Tile-aligned concat: one 2-page buffer, output tiles dealt column-major; None across a partial tile."""
    tensors = [t for t in call.arguments["tensors"]]
    dim = call.arguments.get("dim", 0) % len(tensors[0].shape)
    if not all(_aligned(list(t.shape), dim) for t in tensors):
        return None
    out_tiles = sum(_tiles(list(t.padded_shape)) for t in tensors)
    split = WorkSplit.of(out_tiles, grid)
    return [("src0", PREFETCH_PAGES, TILE_BYTES[tensors[0].dtype])], extent(split.busy_cores, grid), split


def fill_cache_program(call, grid):
    """fill_cache (FillCacheMultiCoreProgramFactory, interleaved input): rows of tiles (head x 32 input rows, the
    width in tiles each) dealt over the grid, through one double-buffered input buffer ("num_input_tiles = 2")."""
    x = call.tensor("input_tensor")
    _, heads, rows, _ = list(x.padded_shape)
    split = WorkSplit.of(heads * rows // TILE, grid)
    return [("src0", 2, TILE_BYTES[x.dtype])], extent(split.busy_cores, grid), split


def slice_program(call, grid):
    """Tile-aligned slice (SliceTileProgramFactory: "num_input_tiles = 2"); None when a start in the last two dims
    cuts a tile."""
    x = call.tensor("input_tensor")
    starts = call.arguments.get("starts", call.arguments.get("slice_start"))
    ends = call.arguments.get("ends", call.arguments.get("slice_end"))
    shape = list(x.shape)
    if any(starts[d] % TILE for d in (-2, -1)) or any(ends[d] % TILE and ends[d] != shape[d] for d in (-2, -1)):
        return None
    out_shape = [e - s for s, e in zip(starts, ends)]
    split = WorkSplit.of(_tiles(out_shape), grid)
    return [("tile_in", 2, TILE_BYTES[x.dtype])], extent(split.busy_cores, grid), split


def split_program(call, grid):
    """split along the width into tile-aligned pieces (SplitProgramFactory: ".num_entries = 2")."""
    x = call.tensor("input_tensor")
    dim = call.arguments.get("dim", 0) % len(x.shape)
    size = call.arguments.get("split_size")
    if dim != len(x.shape) - 1 or not isinstance(size, int) or size % TILE:
        return None
    split = WorkSplit.of(_tiles(list(x.padded_shape)), grid)
    return [("src0", 2, TILE_BYTES[x.dtype])], extent(split.busy_cores, grid), split


def embedding_program(call, grid):
    """EmbeddingsFusedProgramFactory (TILE output, token count a tile multiple): a staging and an output buffer of K
    tiles each, K = 2 * Wt up to 128 tiles, else Wt up to 320, else 128 (measured); output tile rows dealt
    column-major. Other layouts run other programs and are reported as unmodelled."""
    ids, weight = call.tensor("input_tensor"), call.tensor("weight")
    layout = call.arguments.get("layout")
    tokens = math.prod(list(ids.shape))
    if layout is None or layout.name != "TILE" or list(ids.shape)[-1] % TILE or weight.layout.name != "ROW_MAJOR":
        return None
    wt = -(-list(weight.shape)[-1] // TILE)
    k = 2 * wt if 2 * wt <= 128 else (wt if wt <= 320 else 128)
    out_dtype = call.arguments.get("dtype") or weight.dtype
    split = WorkSplit.of(tokens // TILE, grid)
    return [("weights_staging", k, 2048), ("output", k, TILE_BYTES[out_dtype])], \
        extent(split.busy_cores, grid), split


def view_program(call, grid):
    """unsqueeze / reshape as a view of the same buffer, no program: ttnn.reshape's docstring, "for a 0 cost view ...
    the last dimension must not change; in Tiled the second last two dimensions must not change OR there is no
    padding on the second last dimension" (before and after). None otherwise (not modelled)."""
    x = call.tensor("input_tensor")
    shape, old = list(x.shape), list(x.shape)
    if call.op == "ttnn.unsqueeze":
        dim = call.arguments["dim"]
        shape.insert(dim if dim >= 0 else len(shape) + 1 + dim, 1)
    else:
        shape = list(call.arguments["shape"])
    if shape[-1] != old[-1]:
        return None
    if x.layout == ttnn.TILE_LAYOUT and shape[-2:] != old[-2:] and (shape[-2] % TILE or old[-2] % TILE):
        return None
    return [], (0, 0), WorkSplit(0, 0)
