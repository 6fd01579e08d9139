"""Every case of tests/input_cases gets what it should: a clear error naming the field, one clear warning, or an
accepted conversion. Both backends run the TT-marked cases (on the host execution path without a card)."""

import pytest

from tests.input_cases import CASES
from tests.input_cases.env import Env
from tests.input_cases.runner import run_case


@pytest.fixture(scope="module")
def env(tmp_path_factory, runtime):
    return Env(tmp_path_factory.mktemp("input-cases"))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_input_case(env, case):
    outcome = run_case(case, env)
    assert outcome.passes(case), f"{case.name}: expected {case.expect} mentioning {case.mentions}, got " \
                                 f"{outcome.got}: {outcome.detail}"
