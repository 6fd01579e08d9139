"""Messages on the wire: msgpack with numpy arrays, as openpi-client 0.1.2 encodes them
(`openpi_client/msgpack_numpy.py`).

An array travels as a map {b"__ndarray__": True, b"data": <raw bytes>, b"dtype": <numpy dtype string such as
"<f4" or "|u1">, b"shape": [d0, d1, ...]}; a numpy scalar as {b"__npgeneric__": True, b"data": <value>,
b"dtype": ...}. Everything else is plain msgpack (str keys, str / bytes / numbers / lists / maps).

Decoding never unpickles and never trusts a header: only bool, integer and float dtypes are built, and an array's
bytes must match its dtype and shape exactly. Every problem raises WireError naming the field path ("images/cam_high").
"""

from __future__ import annotations

import math

import msgpack
import numpy as np

ARRAY_MARK, SCALAR_MARK = b"__ndarray__", b"__npgeneric__"
ARRAY_KINDS = "biuf"  # bool, signed, unsigned, float: nothing that numpy would build from Python objects
MAX_ARRAY_RANK = 8
MAX_DEPTH = 16  # requests are shallow; deeper nesting is refused before it can exhaust the Python stack


class WireError(ValueError):
    """A message that is not a valid request encoding; `field` is the path of the offending value."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field


def _dtype(field: str, spec) -> np.dtype:
    if not isinstance(spec, str):
        raise WireError(field, f"array dtype must be a numpy dtype string such as '<f4', found {type(spec).__name__}")
    try:
        dtype = np.dtype(spec)
    except (TypeError, ValueError):
        raise WireError(field, f"unknown array dtype {spec!r}") from None
    if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise WireError(field, f"unsupported array dtype {spec!r}: only bool, integer and float arrays are accepted")
    return dtype


def _array(field: str, node: dict) -> np.ndarray:
    unexpected = set(node) - {ARRAY_MARK, b"data", b"dtype", b"shape"}
    if unexpected or {b"data", b"dtype", b"shape"} - set(node):
        raise WireError(field, f"array must have exactly the keys data, dtype and shape, found {sorted(node)}")
    data, shape = node[b"data"], node[b"shape"]
    if not isinstance(data, bytes):
        raise WireError(field, f"array data must be bytes, found {type(data).__name__}")
    dtype = _dtype(field, node[b"dtype"])
    if (not isinstance(shape, (list, tuple)) or len(shape) > MAX_ARRAY_RANK
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise WireError(field, f"array shape must be a list of at most {MAX_ARRAY_RANK} non-negative ints, "
                               f"found {shape!r}")
    expected = math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise WireError(field, f"array of shape {list(shape)} and dtype {dtype.str} needs {expected} bytes, "
                               f"found {len(data)}")
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False) if not dtype.isnative else array


def _scalar(field: str, node: dict):
    if set(node) != {SCALAR_MARK, b"data", b"dtype"}:
        raise WireError(field, f"numpy scalar must have exactly the keys data and dtype, found {sorted(node)}")
    dtype, value = _dtype(field, node[b"dtype"]), node[b"data"]
    if not isinstance(value, (bool, int, float)):
        raise WireError(field, f"numpy scalar data must be a number, found {type(value).__name__}")
    if dtype.kind in "iu" and not (isinstance(value, int) and np.iinfo(dtype).min <= value <= np.iinfo(dtype).max):
        raise WireError(field, f"numpy scalar {value!r} does not fit {dtype.str}")
    return dtype.type(value)


def _decode(field: str, node, depth: int = 0):
    if depth > MAX_DEPTH:
        raise WireError(field, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, dict):
        if ARRAY_MARK in node:
            return _array(field, node)
        if SCALAR_MARK in node:
            return _scalar(field, node)
        decoded = {}
        for key, value in node.items():
            if not isinstance(key, str):
                raise WireError(field, f"map keys must be strings, found {key!r}")
            decoded[key] = _decode(f"{field}/{key}" if field else key, value, depth + 1)
        return decoded
    if isinstance(node, list):
        return [_decode(f"{field}[{i}]", item, depth + 1) for i, item in enumerate(node)]
    if node is None or isinstance(node, (bool, int, float, str, bytes)):
        return node
    raise WireError(field, f"unsupported msgpack value of type {type(node).__name__} (extension types are refused)")


def unpack(message) -> dict:
    """One received websocket message -> a dict of plain values and numpy arrays; WireError on anything else."""
    if isinstance(message, str):
        raise WireError("", "expected a binary msgpack frame (as openpi-client sends), received a text frame")
    try:
        node = msgpack.unpackb(message, raw=False, strict_map_key=False, use_list=True)
    except (ValueError, TypeError) as err:  # msgpack's own errors (ExtraData, FormatError, ...) are ValueErrors
        raise WireError("", f"not a msgpack message ({type(err).__name__}: {err})") from None
    if not isinstance(node, dict):
        raise WireError("", f"a request must be a msgpack map, found {type(node).__name__}")
    return _decode("", node)


def _encode(value):
    if isinstance(value, np.ndarray):
        _dtype("response", value.dtype.str)
        return {ARRAY_MARK: True, b"data": np.ascontiguousarray(value).tobytes(), b"dtype": value.dtype.str,
                b"shape": list(value.shape)}
    if isinstance(value, np.generic):
        _dtype("response", value.dtype.str)
        return {SCALAR_MARK: True, b"data": value.item(), b"dtype": value.dtype.str}
    raise TypeError(f"cannot send a value of type {type(value).__name__}")


def pack(message: dict) -> bytes:
    """A dict of plain values and numpy arrays -> the bytes openpi-client's `msgpack_numpy.unpackb` reads."""
    return msgpack.packb(message, default=_encode, use_bin_type=True)
