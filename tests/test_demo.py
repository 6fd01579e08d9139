"""`make demo` end to end in host mode: outputs exist with the right shapes and the two backends agree to the
TTNN end-to-end PCC; bad inputs end in a message, not a traceback."""

import numpy as np
import pytest

from demo.__main__ import main
from demo.checkpoint import ROBOT_ACTION_DIM, ensure_demo_checkpoint
from tests.tt.tensors import END_TO_END_PCC


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    return {policy: ensure_demo_checkpoint(policy, root) for policy in ("pi0", "pi05", "pi0-qwen3")}


@pytest.mark.parametrize("policy", ["pi0", "pi05", "pi0-qwen3"])
def test_demo_runs_both_backends(runtime, checkpoints, policy, tmp_path):
    result = main(["--checkpoint", str(checkpoints[policy]), "--out", str(tmp_path), "--backend", "both",
                   "--tt-cache", str(tmp_path / "tt-cache")])
    print(f"[{runtime.label}] demo {policy}: PCC tt vs reference {result['pcc']:.5f}")
    assert result["pcc"] >= END_TO_END_PCC["bfp8"]
    for path in result["outputs"]:
        assert path.is_file() and path.stat().st_size > 0
    for backend in ("reference", "tt"):
        assert np.load(tmp_path / f"actions_{backend}.npy").shape == (50, ROBOT_ACTION_DIM)


def test_generated_checkpoint_is_reused(checkpoints):
    first = checkpoints["pi0"]
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert ensure_demo_checkpoint("pi0", first.parent) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("args, message", [
    (["--images", "base_0_rgb"], "CAM=PATH"),
    (["--images", "base_0_rgb=/no/such.png"], "not found"),
    (["--state", "1,two,3"], "comma-separated"),
    (["--images", "top_cam=demo/images/base_0_rgb.png"], "top_cam"),
    (["--state", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33"], "state"),
])
def test_bad_inputs_are_named(checkpoints, tmp_path, args, message):
    with pytest.raises((SystemExit, ValueError), match=message):
        main(["--checkpoint", str(checkpoints["pi0"]), "--out", str(tmp_path), "--backend", "reference", *args])
