"""The wire format against openpi-client's own msgpack_numpy, both ways, and every malformed encoding named."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from openpi_client import msgpack_numpy

from serve.wire import MAX_DEPTH, WireError, pack, unpack

MESSAGE = {
    "observation/image": np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3),
    "observation/state": np.linspace(-1, 1, 8),
    "images": {"cam_high": np.ones((3, 4, 5), dtype=np.float32)},
    "prompt": "pick up the cube", "noise_seed": np.int64(7), "flag": np.bool_(True), "items": [1, 2.5, "x", None],
}


def _equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (np.ndarray, np.generic)):
        return type(a) is type(b) and a.dtype == b.dtype and np.array_equal(a, b)
    return a == b


def test_reads_what_openpi_client_sends():
    assert _equal(unpack(msgpack_numpy.Packer().pack(MESSAGE)), MESSAGE)


def test_openpi_client_reads_what_we_send():
    response = {"actions": np.random.rand(50, 7).astype(np.float32), "server_timing": {"infer_ms": 1.5}}
    assert _equal(msgpack_numpy.unpackb(pack(response)), response)


def test_big_endian_arrays_come_back_native():
    array = np.arange(6, dtype=">f4").reshape(2, 3)
    decoded = unpack(msgpack_numpy.packb({"state": array}))["state"]
    assert decoded.dtype.isnative and np.array_equal(decoded, array)


def _array(data=b"\x00" * 4, dtype="<f4", shape=(1,)):
    return {b"__ndarray__": True, b"data": data, b"dtype": dtype, b"shape": list(shape)}


def _raw(node) -> bytes:
    return msgpack.packb(node, use_bin_type=True)


@pytest.mark.parametrize("message, field, problem", [
    ("text", "", "text frame"),
    (b"\xc1", "", "not a msgpack message"),
    (b"\x92\x01", "", "not a msgpack message"),
    (_raw([1, 2]), "", "must be a msgpack map"),
    (_raw({1: 2}), "", "map keys must be strings"),
    (_raw({"a": {"b": {3: 4}}}), "a/b", "map keys must be strings"),
    (_raw({"s": _array(dtype="|O")}), "s", "unsupported array dtype"),
    (_raw({"s": _array(dtype="<c8", data=b"\x00" * 8)}), "s", "unsupported array dtype"),
    (_raw({"s": _array(dtype="V4")}), "s", "unsupported array dtype"),
    (_raw({"s": _array(dtype="no-such")}), "s", "unknown array dtype"),
    (_raw({"s": _array(dtype=5)}), "s", "dtype string"),
    (_raw({"s": _array(data=b"\x00" * 3)}), "s", "needs 4 bytes, found 3"),
    (_raw({"s": _array(shape=(-1,))}), "s", "non-negative ints"),
    (_raw({"s": _array(shape=(1,) * 9)}), "s", "at most 8"),
    (_raw({"s": _array(data="text")}), "s", "must be bytes"),
    (_raw({"s": {**_array(), b"more": 1}}), "s", "exactly the keys"),
    (_raw({"s": {b"__npgeneric__": True, b"data": 1.5, b"dtype": "<i8"}}), "s", "does not fit"),
    (_raw({"s": {b"__ndarray__": True}}), "s", "exactly the keys"),
    (_raw({"s": {b"__npgeneric__": True, b"data": "x", b"dtype": "<i8"}}), "s", "must be a number"),
    (_raw({"s": {b"__npgeneric__": True, b"data": 300, b"dtype": "|u1"}}), "s", "does not fit"),
    (_raw({"list": [0, msgpack.ExtType(5, b"zz")]}), "list[1]", "extension types are refused"),
])
def test_malformed_encodings_are_named(message, field, problem):
    with pytest.raises(WireError, match=problem) as err:
        unpack(message)
    assert err.value.field == field


def test_deep_nesting_is_refused():
    node = 1
    for _ in range(MAX_DEPTH + 2):
        node = {"n": node}
    with pytest.raises(WireError, match="nested deeper"):
        unpack(_raw(node))


def test_object_arrays_are_never_sent():
    with pytest.raises(WireError, match="unsupported array dtype"):
        pack({"bad": np.array([object()])})
