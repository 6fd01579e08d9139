"""Prints every case's outcome and the counts: `python -m tests.input_cases` from the repository root."""

from __future__ import annotations

import sys
import tempfile
from collections import Counter

from loguru import logger

from tt.runtime import close_runtime, open_runtime

from . import CASES
from .env import Env
from .runner import run_case


def main() -> int:
    logger.remove()  # the cases' own warnings are captured per case; nothing else is shown
    runtime = open_runtime("auto")
    results = []
    with tempfile.TemporaryDirectory(prefix="input-cases-") as root:
        env = Env(root)
        for case in CASES:
            outcome = run_case(case, env)
            results.append((case, outcome))
            mark = "pass" if outcome.passes(case) else "FAIL"
            print(f"{mark}  {case.name}  [expect {case.expect}, got {outcome.got}]  {outcome.detail[:160]}")
    close_runtime(runtime)
    expected = Counter(case.expect for case in CASES)
    passed = Counter(case.expect for case, outcome in results if outcome.passes(case))
    print(f"\n{len(CASES)} cases: " + ", ".join(f"{passed[e]}/{expected[e]} {e} as expected" for e in expected))
    print(f"clear errors: {passed['error']} of {expected['error']}; clear warnings: {passed['warning']} of "
          f"{expected['warning']}; unambiguous conversions accepted: {passed['ok']} of {expected['ok']}")
    return 0 if sum(passed.values()) == len(CASES) else 1


if __name__ == "__main__":
    sys.exit(main())
