"""Malformed messages against a running server: each gets a text reply naming the field, the connection and the
server keep serving; random damage to a valid message never drops the connection or reaches an internal error; a
frame over the size limit closes only its own connection."""

from __future__ import annotations

import random

import msgpack
import numpy as np
import pytest
from openpi_client import msgpack_numpy
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from serve.app import make_server
from serve.requests import Limits
from serve.server import running_in_thread
from tests.serve.conftest import MAX_REQUESTS, libero_observation

LIMITS = Limits(max_message_bytes=1 << 20, max_image_side=1024, max_prompt_chars=100)
FUZZ_STEPS = 2
MUTATIONS = 40
MESSAGE_TOO_BIG = 1009  # websocket close code


@pytest.fixture(scope="module")
def server(served_parts):
    policy, stats, tokenizer = served_parts
    server = make_server(policy, tokenizer, stats, profile="libero", port=0, limits=LIMITS, num_steps=FUZZ_STEPS,
                         max_requests=MAX_REQUESTS)
    with running_in_thread(server):
        yield server


def _small_observation() -> dict:
    observation = libero_observation(7)
    observation["observation/image"] = observation["observation/image"][:32, :40]
    observation["observation/wrist_image"] = observation["observation/wrist_image"][:32, :32]
    return observation


def _with(**changes) -> dict:
    observation = _small_observation()
    for key, value in changes.items():
        key = key.replace("__", "/")
        if value is None:
            del observation[key]
        else:
            observation[key] = value
    return observation


def _pack(observation) -> bytes:
    return msgpack_numpy.packb(observation)


def _object_array_message() -> bytes:
    message = msgpack.unpackb(_pack(_small_observation()), raw=False)
    message["observation/image"][b"dtype"] = "|O"
    return msgpack.packb(message, use_bin_type=True)


def _lying_shape_message() -> bytes:
    message = msgpack.unpackb(_pack(_small_observation()), raw=False)
    message["observation/image"][b"shape"] = [64, 64, 3]
    return msgpack.packb(message, use_bin_type=True)


STATE = _small_observation()["observation/state"]
BAD = {
    "text frame": ("{'prompt': 'hi'}", "text frame"),
    "not msgpack": (b"\xc1\x00", "not a msgpack message"),
    "truncated": (_pack(_small_observation())[:100], "not a msgpack message"),
    "a list": (msgpack.packb([1, 2]), "must be a msgpack map"),
    "object array": (_object_array_message(), "observation/image: unsupported array dtype '|O'"),
    "lying shape": (_lying_shape_message(), "observation/image: array of shape [64, 64, 3]"),
    "int32 image": (_with(observation__image=np.zeros((8, 8, 3), np.int32)), "'observation/image': unsupported"),
    "grey image": (_with(observation__image=np.zeros((8, 8), np.uint8)), "observation/image: expected one image"),
    "four channels": (_with(observation__image=np.zeros((8, 8, 4), np.uint8)), "'observation/image': expected 3"),
    "float image out of range": (_with(observation__wrist_image=np.full((8, 8, 3), 2.0, np.float32)),
                                 "'observation/wrist_image': float images must be in [0, 1]"),
    "oversize image": (_with(observation__image=np.zeros((1100, 4, 3), np.uint8)),
                       "observation/image: image of shape [1100, 4, 3] exceeds the limit of 1024"),
    "missing wrist": (_with(observation__wrist_image=None), "observation/wrist_image: missing"),
    "image is a string": (_with(observation__image="cat.png"), "observation/image: expected an image array"),
    "missing state": (_with(observation__state=None), "observation/state: missing"),
    "state is text": (_with(observation__state="0.1 0.2"), "observation/state: expected an array"),
    "state of bools": (_with(observation__state=np.ones(8, bool)), "observation/state: expected integer or float"),
    "state with NaN": (_with(observation__state=np.full(8, np.nan)), "observation/state: contains NaN"),
    "state 2-D": (_with(observation__state=np.ones((2, 8))), "observation/state: expected 1 dimension"),
    "state too long": (_with(observation__state=np.ones(40)), "observation/state: expected 1 to 32 values"),
    "state unlike its stats": (_with(observation__state=np.ones(9)), "state statistics have 8"),
    "prompt not text": (_with(prompt=5), "prompt: expected a string"),
    "prompt too long": (_with(prompt="x" * 101), "prompt: 101 characters exceed the limit of 100"),
    "prompt over the token limit": (_with(prompt="y" * 90), "observation rejected: prompt 0 has"),
    "prompt missing": (_with(prompt=None), "prompt: missing"),
    "negative noise seed": (_with(noise_seed=-1), "noise_seed: must be"),
    "fractional noise seed": (_with(noise_seed=1.5), "noise_seed: expected an integer"),
    "leftover of wrong width": (_with(prev_chunk_left_over=np.zeros((10, 6), np.float32), inference_delay=2),
                                "prev_chunk_left_over: expected [1..50, 7]"),
    "leftover without delay": (_with(prev_chunk_left_over=np.zeros((10, 7), np.float32)), "inference_delay: required"),
    "delay without leftover": (_with(inference_delay=3), "without prev_chunk_left_over"),
    "negative delay": (_with(prev_chunk_left_over=np.zeros((10, 7), np.float32), inference_delay=-3),
                       "inference_delay: must be >= 0"),
    "leftover with NaN": (_with(prev_chunk_left_over=np.full((10, 7), np.nan, np.float32), inference_delay=1),
                          "prev_chunk_left_over: contains NaN"),
}


def _exchange(ws, message):
    ws.send(message if isinstance(message, (bytes, str)) else _pack(message))
    return ws.recv()


def test_malformed_requests_are_named_and_the_connection_survives(server):
    with connect(f"ws://127.0.0.1:{server.port}", max_size=None) as ws:
        msgpack_numpy.unpackb(ws.recv())
        for name, (message, expected) in BAD.items():
            reply = _exchange(ws, message)
            assert isinstance(reply, str) and reply.startswith("bad request: "), (name, reply)
            assert expected in reply, (name, reply)
        actions = msgpack_numpy.unpackb(_exchange(ws, _small_observation()))["actions"]
        assert actions.shape == (50, 7)


def test_random_damage_never_drops_the_connection(server):
    rng = random.Random(0)
    valid = _pack(_small_observation())
    replies = {"actions": 0, "bad request": 0}
    with connect(f"ws://127.0.0.1:{server.port}", max_size=None) as ws:
        msgpack_numpy.unpackb(ws.recv())
        for _ in range(MUTATIONS):
            damaged = bytearray(valid)
            kind = rng.choice(("flip", "truncate", "insert"))
            at = rng.randrange(min(len(valid), 400))
            if kind == "flip":
                damaged[at] ^= 1 << rng.randrange(8)
            elif kind == "truncate":
                del damaged[at:]
            else:
                damaged[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            reply = _exchange(ws, bytes(damaged))
            if isinstance(reply, str):
                assert reply.startswith("bad request: "), reply
                replies["bad request"] += 1
            else:
                assert msgpack_numpy.unpackb(reply)["actions"].shape == (50, 7)
                replies["actions"] += 1
    print(f"\n[fuzz] {MUTATIONS} damaged messages: {replies}")
    assert replies["bad request"] > 0


def test_a_frame_over_the_limit_closes_only_its_connection(server):
    with connect(f"ws://127.0.0.1:{server.port}", max_size=None) as ws:
        msgpack_numpy.unpackb(ws.recv())
        ws.send(b"\x00" * (LIMITS.max_message_bytes + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        assert closed.value.rcvd.code == MESSAGE_TOO_BIG
    with connect(f"ws://127.0.0.1:{server.port}", max_size=None) as ws:
        msgpack_numpy.unpackb(ws.recv())
        assert msgpack_numpy.unpackb(_exchange(ws, _small_observation()))["actions"].shape == (50, 7)
