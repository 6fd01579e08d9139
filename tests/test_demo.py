"""`make demo` end to end in host mode: outputs exist with the right shapes, the two backends agree to the TTNN
end-to-end PCC and the random weights are called so; as a user runs it, the console shows each warning once and none
of ttnn's own log lines. Bad inputs are in tests/input_cases/demo_cases.py."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from demo.__main__ import TT_LOG_LEVEL_VARIABLES, cli, main, ttnn_log_level
from demo.checkpoint import ROBOT_ACTION_DIM, ensure_demo_checkpoint
from tests.tt.tensors import END_TO_END_PCC
from tt.runtime import CARD_PATH

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TTNN_LOG_LINE = re.compile(r"\| (trace|debug|info|warning) +\| +\w+ \|")  # ttnn's C++ logger: "| info | UMD | ..."


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
    assert result["note"].startswith("RANDOM WEIGHTS")
    for path in result["outputs"]:
        assert path.is_file() and path.stat().st_size > 0
    for backend in ("reference", "tt"):
        assert np.load(tmp_path / f"actions_{backend}.npy").shape == (50, ROBOT_ACTION_DIM)


def test_generated_checkpoint_is_reused(checkpoints):
    first = checkpoints["pi0"]
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert ensure_demo_checkpoint("pi0", first.parent) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp


def test_a_failed_run_leaves_nothing_behind(checkpoints, tmp_path):
    with pytest.raises(SystemExit, match="not found"):
        cli(["--checkpoint", str(checkpoints["pi0"]), "--backend", "reference", "--out", str(tmp_path / "out"),
             "--images", "base_0_rgb=/no/such.png"])
    assert not (tmp_path / "out").exists()


def test_ttnn_log_level_follows_verbose_and_the_users_choice():
    assert ttnn_log_level(verbose=False, environ={}, card=False) == "error"
    assert ttnn_log_level(verbose=False, environ={}, card=True) == "warn"
    assert ttnn_log_level(verbose=True, environ={}, card=False) is None
    for variable in TT_LOG_LEVEL_VARIABLES:
        assert ttnn_log_level(verbose=False, environ={variable: "debug"}, card=False) is None


@pytest.mark.skipif(CARD_PATH.exists(), reason="runs the TT backend in a second process; the card is this one's")
def test_console_as_a_user_sees_it(checkpoints, tmp_path):
    """A fresh process, as `make demo` starts it: ttnn's driver lines silenced, the one warning (no tokenizer
    file) shown once although both backends check the observation."""
    environ = {k: v for k, v in os.environ.items() if k not in TT_LOG_LEVEL_VARIABLES}
    run = subprocess.run([sys.executable, "-m", "demo", "--checkpoint", str(checkpoints["pi0"]), "--steps", "2",
                          "--out", str(tmp_path / "out"), "--tt-cache", str(tmp_path / "tt-cache")],
                         cwd=ROOT, env=environ, capture_output=True, text=True, timeout=600)
    lines = (run.stdout + run.stderr).splitlines()
    assert run.returncode == 0, run.stderr[-2000:]
    assert [line for line in lines if TTNN_LOG_LINE.search(line)] == []
    warnings = [line for line in lines if line.startswith("WARNING: ")]
    assert len(warnings) == 1 and "NO TOKENIZER FILE GIVEN" in warnings[0], warnings
    assert any(line.startswith("note         RANDOM WEIGHTS") for line in lines)
