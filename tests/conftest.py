import pytest
import torch
from loguru import logger

from models.checks import warn_once
from models import load_policy
from tests.peers import lerobot_tiny
from tt.host.numerics import NUMERICS
from tt.runtime import close_runtime, open_runtime


def pytest_addoption(parser):
    parser.addoption("--numerics", choices=NUMERICS, default="device",
                     help="how the TT host path computes (tt.host.numerics); the PCC gates are set for 'device'")


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same global RNG state."""
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def runtime(request):
    """One TT runtime per session: on the card when there is one, else on the host execution path computing with
    the --numerics option (device numerics by default)."""
    rt = open_runtime("auto", numerics=request.config.getoption("--numerics"))
    print(f"\n[tt] runtime: {rt.label} ({rt.device})")
    yield rt
    close_runtime(rt)


@pytest.fixture
def warnings():
    """Messages logged at WARNING or above while the test runs, one-time warnings included even when an earlier test
    gave them."""
    warn_once.cache_clear()
    messages = []
    sink = logger.add(messages.append, level="WARNING")
    yield messages
    logger.remove(sink)


@pytest.fixture(scope="session")
def lerobot_pairs(tmp_path_factory):
    """kind -> (lerobot 0.6.1's own tiny policy, our policy loaded from the checkpoint lerobot saved)."""
    built = {}
    for kind in lerobot_tiny.KINDS:
        theirs = lerobot_tiny.build(kind, seed=7)
        directory = tmp_path_factory.mktemp(f"lerobot-{kind}")
        theirs.save_pretrained(directory)
        built[kind] = theirs, load_policy(directory)
    return built
