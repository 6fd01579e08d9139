"""What the benchmarks' child processes share: memory readings, and the tagged line that carries a child's result
back through stdout (which libraries such as ttnn also write to)."""

from __future__ import annotations

import json
import resource

RESULT_TAG = "@@RESULT@@ "
GIB = 1 << 30


def peak_rss() -> int:
    """Peak resident set size of this process so far, bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def print_result(result: dict) -> None:
    print(RESULT_TAG + json.dumps(result), flush=True)


def parse_result(stdout: str) -> dict | None:
    """The last result line a child printed, or None."""
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_TAG)]
    return json.loads(lines[-1][len(RESULT_TAG):]) if lines else None
