"""A zero-copy safetensors reader with full header validation, and a streaming writer.

Format (https://github.com/huggingface/safetensors): 8 bytes little-endian header length N, N bytes of UTF-8 JSON
`{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}`, then the data; offsets are
relative to the data start, and the tensors tile the data exactly (no gaps, no overlaps, nothing after the last).

The file is mapped once; `tensor()` returns `torch.frombuffer` views of the mapping, so nothing is read until used
and nothing is copied. The tensors hold a reference to the mapping, which therefore lives as long as they do; it is
never closed explicitly (a view of a closed mapping would crash the process). The mapping is private: pages the
process never writes show the file as it is on disk, so a checkpoint must not be rewritten in place (or truncated,
which faults) while a policy loaded from it lives; replacing it (write a new file, then rename) is safe.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import CheckpointError

_MAX_HEADER_BYTES = 100 << 20  # the limit the safetensors library itself enforces
# dtype code -> bits per element, for every code the format defines (so that a refused dtype is named, not "corrupt")
DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
              "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64, "U64": 64, "C64": 64,
              "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}
TORCH_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "F64": torch.float64,
                "I8": torch.int8, "U8": torch.uint8, "I16": torch.int16, "I32": torch.int32, "I64": torch.int64,
                "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2}
DTYPE_CODES = {dtype: code for code, dtype in TORCH_DTYPES.items()}


@dataclass(frozen=True)
class TensorEntry:
    """One tensor's header record; `begin`/`end` are byte offsets into the data section."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


class SafetensorsFile:
    """A validated, memory-mapped safetensors file."""

    def __init__(self, path: Path, entries: dict[str, TensorEntry], metadata: dict[str, str], data_start: int,
                 buffer: mmap.mmap | None):
        self.path, self.entries, self.metadata, self.data_start = path, entries, metadata, data_start
        self._buffer = buffer

    def tensor(self, name: str) -> torch.Tensor:
        """The tensor as stored, a view of the mapping (a copy only if the writer misaligned it)."""
        entry = self.entries[name]
        dtype = TORCH_DTYPES[entry.dtype]
        if entry.numel == 0:
            return torch.empty(entry.shape, dtype=dtype)
        offset = self.data_start + entry.begin
        flat = torch.frombuffer(self._buffer, dtype=dtype, count=entry.numel, offset=offset)
        if offset % flat.element_size():
            flat = flat.clone()  # kernels may assume element alignment; safetensors' own writer never does this
        return flat.view(entry.shape)

    def release(self, name: str) -> None:
        """Drop this tensor's pages from the process (they are re-read from the page cache if used again)."""
        entry = self.entries[name]
        start = -(-(self.data_start + entry.begin) // mmap.PAGESIZE) * mmap.PAGESIZE
        stop = (self.data_start + entry.end) // mmap.PAGESIZE * mmap.PAGESIZE
        if self._buffer is not None and stop > start:
            self._buffer.madvise(mmap.MADV_DONTNEED, start, stop - start)


def _corrupt(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(f"{path}: not a readable safetensors file ({reason})")


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"duplicate key {duplicate!r}")
    return dict(pairs)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _entry(path: Path, name: str, record: object) -> TensorEntry:
    if not isinstance(record, dict) or set(record) != {"dtype", "shape", "data_offsets"}:
        raise _corrupt(path, f"corrupt header: tensor {name!r} needs exactly dtype, shape and data_offsets")
    dtype, shape, offsets = record["dtype"], record["shape"], record["data_offsets"]
    if dtype not in DTYPE_BITS:
        raise _corrupt(path, f"corrupt header: tensor {name!r} has unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise _corrupt(path, f"corrupt header: tensor {name!r} has an invalid shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)
            and offsets[0] <= offsets[1]):
        raise _corrupt(path, f"corrupt header: tensor {name!r} has invalid data_offsets {offsets!r}")
    entry = TensorEntry(name, dtype, tuple(shape), offsets[0], offsets[1])
    bits = entry.numel * DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != entry.nbytes:
        raise _corrupt(path, f"corrupt header: tensor {name!r} ({dtype}, shape {list(shape)}) spans {entry.nbytes} "
                             f"bytes, its shape needs {bits / 8:g}")
    return entry


def _parse_header(path: Path, raw: bytes, data_size: int) -> tuple[dict[str, TensorEntry], dict[str, str]]:
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise _corrupt(path, f"corrupt header: invalid JSON ({err})") from None
    if not isinstance(header, dict):
        raise _corrupt(path, "corrupt header: not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _corrupt(path, "corrupt header: __metadata__ must map strings to strings")
    entries = {name: _entry(path, name, record) for name, record in header.items()}
    position = 0
    for entry in sorted(entries.values(), key=lambda e: (e.begin, e.end)):
        if entry.begin != position:
            kind = "overlaps the previous tensor" if entry.begin < position else "leaves a gap before it"
            raise _corrupt(path, f"corrupt header: tensor {entry.name!r} at data offset {entry.begin} {kind}")
        position = entry.end
    if position > data_size:
        raise _corrupt(path, f"truncated: the tensors need {position} bytes of data, the file holds {data_size}")
    if position < data_size:
        raise _corrupt(path, f"corrupt: {data_size - position} unexpected bytes after the last tensor")
    return entries, metadata


def open_safetensors(path: str | Path) -> SafetensorsFile:
    """Validate the header against the file size and map the file (read-only on disk, copy-on-write in memory)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            prefix = f.read(8)
            if len(prefix) < 8:
                raise _corrupt(path, f"truncated: {size} bytes, less than the 8-byte header length")
            (length,) = struct.unpack("<Q", prefix)
            if not 2 <= length <= _MAX_HEADER_BYTES:
                raise _corrupt(path, f"corrupt header: header length {length} is out of range")
            if 8 + length > size:
                raise _corrupt(path, f"truncated: the header needs {length} bytes, the file has {size - 8} after "
                                     "the length")
            entries, metadata = _parse_header(path, f.read(length), size - 8 - length)
            # Private (copy-on-write) rather than read-only: an in-place edit of a parameter then gets its own page
            # instead of a segfault; the file itself is opened read-only and never changes.
            buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) if size > 8 + length else None
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read ({err})") from err
    return SafetensorsFile(path, entries, metadata, 8 + length, buffer)


def write_safetensors(path: str | Path, specs: Sequence[tuple[str, torch.dtype, tuple[int, ...]]],
                      produce: Callable[[str], torch.Tensor], metadata: Mapping[str, str] | None = None) -> int:
    """Write a safetensors file one tensor at a time: `specs` lists (name, dtype, shape) up front (the header comes
    first), `produce(name)` returns each tensor when its turn comes. Returns the number of data bytes."""
    # Larger elements first keeps every tensor aligned to its element size, as the safetensors writer does.
    order = sorted(specs, key=lambda s: -s[1].itemsize)
    header: dict[str, object] = {}
    offset = 0
    for name, dtype, shape in order:
        size = math.prod(shape) * dtype.itemsize
        header[name] = {"dtype": DTYPE_CODES[dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    if metadata:
        header["__metadata__"] = dict(metadata)
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for name, dtype, shape in order:
            tensor = produce(name).detach().cpu().contiguous()
            if tensor.dtype != dtype or tuple(tensor.shape) != tuple(shape):
                raise ValueError(f"{name}: produced {tensor.dtype} {tuple(tensor.shape)}, declared {dtype} {shape}")
            if tensor.numel():
                f.write(memoryview(tensor.reshape(-1).view(torch.uint8).numpy()))
    return offset


def save_tensors(path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None):
    """Write tensors already in memory (a convenience over write_safetensors)."""
    specs = [(name, t.dtype, tuple(t.shape)) for name, t in tensors.items()]
    return write_safetensors(path, specs, tensors.__getitem__, metadata)
