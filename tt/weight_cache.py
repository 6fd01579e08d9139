"""On-disk cache of TT-ready weights: fused, folded, transposed and converted (bfloat8_b / bfloat16 TILE) tensors.

A cache directory is keyed by the checkpoint's content, the precision and the source of the code (every module
under models/ and tt/: what infers the architecture, lays the weights out and fixes their upload order), so a
second TT load of the same checkpoint reads prepared tensors instead of preparing and converting them again, and
any change to either side starts a fresh directory. Entries are numbered in upload order; each loaded entry is
checked against the dtype and layout asked for, and an unreadable or mismatched entry is an error naming the file.
Entries are written to a temporary name and renamed, so none is ever half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from loguru import logger

import ttnn as _ttnn

_ROOT = Path(__file__).resolve().parent.parent
_CODE_FOLDERS = ("models", "tt")
_CHUNK = 64 << 20


class WeightCacheError(RuntimeError):
    """A cache entry that does not hold what the model asks for."""


def layout_version() -> str:
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(p for folder in _CODE_FOLDERS for p in (_ROOT / folder).rglob("*.py")):
        digest.update(str(path.relative_to(_ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _file_digest(path: Path, memo_file: Path) -> str:
    """blake2b of a file's bytes, remembered per (path, size, mtime) so unchanged files are hashed once."""
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    memo = json.loads(memo_file.read_text()) if memo_file.is_file() else {}
    if key not in memo:
        digest = hashlib.blake2b(digest_size=16)
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        memo[key] = digest.hexdigest()
        tmp = memo_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(memo, indent=1))
        os.replace(tmp, memo_file)
    return memo[key]


def content_key(source: str, root: Path, seed: int) -> str:
    """What the weights are: a preset with its seed, or the bytes of a checkpoint directory's safetensors files."""
    directory = Path(source)
    if not directory.is_dir():
        return f"preset:{source}:seed:{seed}"
    root.mkdir(parents=True, exist_ok=True)
    files = sorted(directory.glob("*.safetensors"))
    return "checkpoint:" + ",".join(f"{f.name}={_file_digest(f, root / 'file-digests.json')}" for f in files)


class WeightCache:
    def __init__(self, root: str | Path, content: str, precision: str):
        key = hashlib.blake2b(f"{content}|{precision}|{layout_version()}".encode(), digest_size=12).hexdigest()
        self.directory = Path(root) / key
        self.directory.mkdir(parents=True, exist_ok=True)
        self.next_index = 0
        self.hits = self.misses = 0

    def fetch(self, convert, dtype, layout):
        """The host ttnn tensor of the next upload: loaded from disk, or `convert()` and stored."""
        path = self.directory / f"{self.next_index:05d}.tensorbin"
        self.next_index += 1
        if path.is_file():
            try:
                tensor = _ttnn.load_tensor(str(path))
            except RuntimeError as err:
                raise WeightCacheError(f"{path}: unreadable cache entry ({str(err).splitlines()[0]}); "
                                       f"delete {self.directory} to rebuild it") from err
            if (tensor.dtype, tensor.layout) != (dtype, layout):
                raise WeightCacheError(f"{path}: holds a {tensor.dtype} {tensor.layout} tensor, expected {dtype} "
                                       f"{layout}; delete {self.directory} to rebuild it")
            self.hits += 1
            return tensor
        tensor = convert()
        tmp = path.with_name(path.stem + ".partial.tensorbin")
        _ttnn.dump_tensor(str(tmp), tensor)
        os.replace(tmp, path)
        self.misses += 1
        return tensor

    def report(self) -> None:
        logger.info("TT weight cache {}: {} loaded, {} converted and stored", self.directory, self.hits, self.misses)
