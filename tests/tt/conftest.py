"""TT-tree fixtures: one runtime per session, on the card when there is one, else on the host execution path."""

import pytest

from tt.runtime import close_runtime, open_runtime


@pytest.fixture(scope="session")
def runtime():
    rt = open_runtime("auto")
    print(f"\n[tt] runtime mode: {rt.mode} ({rt.device})")
    yield rt
    close_runtime(rt)
