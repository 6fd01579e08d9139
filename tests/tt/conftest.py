"""The full-size shape-only dry runs every TT-tree check at full size shares: each preset on the n150 (8x8), one
n300 chip (8x7) and the p150 (13x10), 1 and 3 cameras, the base and the high image size, batch 1 and 4 -- run once
per session (about two minutes), with every matmul shape the tree asked tt.program_configs for."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

import tt.attention
import tt.common
import tt.program_configs
from tt.dry_run import DryRun, dry_run, policy_config
from tt.host.errors import DeviceRefusal

HIGH_IMAGE_SIZE = {"pi0": 384, "pi05": 384, "pi0-qwen3": 378}
FULL_SIZE = [(preset, device, cameras, size, batch)
             for preset, device, cameras, high, batch in itertools.product(
                 HIGH_IMAGE_SIZE, ("n150", "n300", "p150"), (1, 3), (False, True), (1, 4))
             for size in [HIGH_IMAGE_SIZE[preset] if high else 224]]


@dataclass
class FullSizeRuns:
    runs: dict[tuple, DryRun] = field(default_factory=dict)
    refusals: dict[tuple, str] = field(default_factory=dict)
    matmul_shapes: set = field(default_factory=set)  # (m, k, n, operands, fidelity, activation) of matmul_config


@pytest.fixture(scope="session")
def full_size() -> FullSizeRuns:
    result = FullSizeRuns()
    original = tt.program_configs.matmul_config

    def recorded(m, k, n, grid, spec, operands, fidelity, activation=None):
        result.matmul_shapes.add((m, k, n, operands, fidelity, activation))
        return original(m, k, n, grid, spec, operands, fidelity, activation)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tt.common, "matmul_config", recorded)
        patch.setattr(tt.attention, "matmul_config", recorded)
        for combo in FULL_SIZE:
            preset, device, cameras, size, batch = combo
            try:
                result.runs[combo] = dry_run(policy_config(preset, size), device, cameras, batch)
            except DeviceRefusal as refusal:
                result.refusals[combo] = str(refusal)
    return result
