"""The numerics setting of the host path: chosen when a runtime opens, switched for a block, and what load_policy
does with it (refused for the reference backend, checked against an open runtime)."""

import pytest

from models import load_policy
from tt.runtime import open_runtime


def test_unknown_numerics_are_refused(runtime):
    with pytest.raises(ValueError, match=r"numerics must be one of \('exact', 'device'\), got 'fp64'"):
        open_runtime("auto", numerics="fp64")
    with pytest.raises(ValueError, match="numerics must be one of"):
        with runtime.using_numerics("approximate"):
            pass


def test_using_numerics_restores_the_runtimes_own(runtime):
    own = runtime.numerics
    other = "exact" if own == "device" else "device"
    with pytest.raises(RuntimeError, match="inside"):
        with runtime.using_numerics(other):
            assert runtime.numerics == other
            assert runtime.label == (f"host/{other}" if runtime.mode == "host" else runtime.mode)
            raise RuntimeError("inside")
    assert runtime.numerics == own


def test_reference_backend_takes_no_numerics():
    with pytest.raises(ValueError, match="backend='reference' computes in PyTorch and takes no numerics"):
        load_policy("pi0-tiny", numerics="device")


def test_load_policy_keeps_the_open_runtime(runtime):
    policy = load_policy("pi0-tiny", backend="tt", tt_cache_dir=None)
    assert policy.runtime is runtime
    same = load_policy("pi0-tiny", backend="tt", tt_cache_dir=None, numerics=runtime.numerics)
    assert same.runtime is runtime
    other = "exact" if runtime.numerics == "device" else "device"
    if runtime.mode == "host":
        with pytest.raises(ValueError, match=f"open host runtime computes with '{runtime.numerics}' numerics; "
                                             r"close_runtime\(\) it"):
            load_policy("pi0-tiny", backend="tt", tt_cache_dir=None, numerics=other)
    else:  # a card computes whatever the setting says
        assert load_policy("pi0-tiny", backend="tt", tt_cache_dir=None, numerics=other).runtime is runtime
