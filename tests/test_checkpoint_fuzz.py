"""Seeded random damage to a small checkpoint never crashes the loader and never loads a wrong shape: each case ends
in a CheckpointError whose every line names a tensor or the file, or (when only tensor values changed, to finite
values) in a policy of the original architecture whose weights differ exactly there."""

from __future__ import annotations

import random
import re

import pytest
import torch

from models import get_preset, load_policy
from models.checkpoint import CheckpointError, lerobot_dtype, open_safetensors, write_checkpoint
from reference.random_init import random_policy
from tests.checkpoint_files import META, dense_state

SEED = 20260611
HEADER_FLIPS, HEADER_SPLICES, DATA_FLIPS, NON_FINITE, TRUNCATIONS = 200, 40, 120, 40, 40
_NAMED = re.compile(r"model\.safetensors|'[^']+'|\b[\w.]+\.(weight|bias)\b")
_NON_FINITE_BITS = {"F32": (0x7F800000, 0xFF800000, 0x7FC00000), "BF16": (0x7F80, 0xFF80, 0x7FC0),
                    "F16": (0x7C00, 0xFC00, 0x7E00)}


class Pristine:
    """The undamaged checkpoint, its bytes, and the weights it loads to (float32, bit patterns)."""

    def __init__(self, directory):
        source = random_policy(get_preset("pi0-tiny"), seed=31)
        write_checkpoint(source.state_dict(), directory, META, stored_dtype=lerobot_dtype)
        self.directory, self.path = directory, directory / "model.safetensors"
        self.raw = self.path.read_bytes()
        file = open_safetensors(self.path)
        self.header_end = file.data_start
        self.entries = sorted(file.entries.values(), key=lambda e: e.begin)
        policy = load_policy(directory)
        # A copy: the loaded tensors are views of the mapped file, which the cases below damage in place.
        self.config, self.bits = policy.config, {k: v.clone() for k, v in _bits(policy).items()}

    def restore(self) -> None:
        self.path.write_bytes(self.raw)

    def patch(self, offset: int, data: bytes) -> None:
        with open(self.path, "r+b") as f:
            f.seek(offset)
            f.write(data)


def _bits(policy) -> dict[str, torch.Tensor]:
    return {k: v.float().view(torch.int32) for k, v in dense_state(policy).items()}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return Pristine(tmp_path_factory.mktemp("fuzz"))


def _load(pristine: Pristine):
    """The loaded policy, or the CheckpointError (anything else escapes and fails the test)."""
    try:
        return load_policy(pristine.directory)
    except CheckpointError as err:
        unnamed = [p for p in err.problems if not _NAMED.search(p)]
        assert not unnamed, f"problems that name no tensor or file: {unnamed}"
        return err


def _changed(pristine: Pristine, policy) -> list[str]:
    assert policy.config == pristine.config
    bits = _bits(policy)
    assert {k: v.shape for k, v in bits.items()} == {k: v.shape for k, v in pristine.bits.items()}
    return [k for k in bits if not torch.equal(bits[k], pristine.bits[k])]


def test_header_damage(pristine):
    rng = random.Random(SEED)
    outcomes = {"error": 0, "same weights": 0}
    for case in range(HEADER_FLIPS + HEADER_SPLICES):
        if case < HEADER_FLIPS:
            offset, size = rng.randrange(pristine.header_end), 1
            damage = bytes([pristine.raw[offset] ^ rng.randrange(1, 256)])
        else:
            size = rng.randrange(2, 24)
            offset = rng.randrange(pristine.header_end - size)
            damage = bytes(rng.randrange(256) for _ in range(size))
        pristine.patch(offset, damage)
        result = _load(pristine)
        if isinstance(result, CheckpointError):
            outcomes["error"] += 1
        else:  # only whitespace or metadata changed: the header still describes the same tensors
            assert not _changed(pristine, result), f"header damage at {offset} silently changed weights"
            outcomes["same weights"] += 1
        pristine.patch(offset, pristine.raw[offset:offset + size])
    assert outcomes["error"] > (HEADER_FLIPS + HEADER_SPLICES) // 2, outcomes


def test_data_damage_to_finite_values_loads_changed_weights(pristine):
    rng = random.Random(SEED + 1)
    loads = 0
    for _ in range(DATA_FLIPS):
        offset = rng.randrange(pristine.header_end, len(pristine.raw))
        pristine.patch(offset, bytes([pristine.raw[offset] ^ rng.randrange(1, 256)]))
        result = _load(pristine)
        entry = next(e for e in pristine.entries if e.begin <= offset - pristine.header_end < e.end)
        if isinstance(result, CheckpointError):  # the flip made a NaN or infinity
            assert result.problems == (f"non-finite {entry.name}: 1 of {entry.numel} values are NaN or infinite",)
        else:
            assert len(_changed(pristine, result)) == 1
            loads += 1
        pristine.patch(offset, pristine.raw[offset:offset + 1])
    assert loads > DATA_FLIPS // 2


def test_non_finite_values_are_always_caught(pristine):
    rng = random.Random(SEED + 2)
    for _ in range(NON_FINITE):
        entry = rng.choice(pristine.entries)
        size = entry.nbytes // entry.numel
        offset = pristine.header_end + entry.begin + rng.randrange(entry.numel) * size
        value = rng.choice(_NON_FINITE_BITS[entry.dtype])
        pristine.patch(offset, value.to_bytes(size, "little"))
        result = _load(pristine)
        assert isinstance(result, CheckpointError) and f"non-finite {entry.name}: 1 of" in str(result)
        pristine.patch(offset, pristine.raw[offset:offset + size])


def test_truncations(pristine):
    rng = random.Random(SEED + 3)
    try:
        for length in [0, 7, 8, pristine.header_end - 1, pristine.header_end, len(pristine.raw) - 1] + \
                [rng.randrange(len(pristine.raw)) for _ in range(TRUNCATIONS)]:
            pristine.path.write_bytes(pristine.raw[:length])
            result = _load(pristine)
            assert isinstance(result, CheckpointError), f"a file cut to {length} bytes loaded"
            assert str(result).startswith(f"{pristine.path}: not a readable safetensors file (truncated"), result
    finally:
        pristine.restore()
