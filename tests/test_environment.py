"""The test environment is the one requirements/constraints.txt describes."""

import importlib
import importlib.metadata as metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

CONSTRAINTS = Path(__file__).resolve().parents[1] / "requirements" / "constraints.txt"
PROJECT = "vla-tt"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and version.strip(), f"not an exact pin in {CONSTRAINTS.name}: {line!r}"
        pins[normalize(name)] = version.strip()
    return pins


PINS = read_pins()


def test_python_is_3_12():
    assert sys.version_info[:2] == (3, 12), sys.version


@pytest.mark.parametrize("name", ["torch", "ttnn", "numpy", "transformers", "lerobot"])
def test_key_package_matches_pin(name):
    assert name in PINS, f"{name} is not pinned in {CONSTRAINTS.name}"
    assert metadata.version(name) == PINS[name]


def test_numpy_is_1_x():
    assert PINS["numpy"].startswith("1.26."), PINS["numpy"]


def test_every_installed_distribution_is_pinned():
    wrong = []
    for dist in metadata.distributions():
        name = normalize(dist.metadata["Name"])
        if name != PROJECT and PINS.get(name) != dist.version:
            wrong.append(f"{name}=={dist.version} (pinned: {PINS.get(name)})")
    assert not wrong, f"installed but not pinned as such in {CONSTRAINTS.name}: {sorted(wrong)}"


def test_ttnn_imports_in_subprocess():
    # A subprocess, so a native crash in ttnn cannot take pytest down with it.
    proc = subprocess.run(
        [sys.executable, "-c", "import ttnn"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.mark.parametrize(
    "module, attr",
    [
        ("lerobot.policies.pi0.modeling_pi0", "PI0Policy"),
        ("lerobot.policies.pi0.configuration_pi0", "PI0Config"),
        ("lerobot.policies.pi05.modeling_pi05", "PI05Policy"),
        ("lerobot.policies.pi05.configuration_pi05", "PI05Config"),
    ],
)
def test_lerobot_pi_policies_import(module, attr):
    assert hasattr(importlib.import_module(module), attr)
