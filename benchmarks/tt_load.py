"""First vs cached TT load time: `load_policy(..., backend="tt")` twice, each in a fresh process, with one cache
directory. The first load converts and stores every TT-ready weight; the second reads them back.

    .venv/bin/python -m benchmarks.tt_load --checkpoint pi0            # a preset (random weights) or a directory
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.process import GIB, parse_result, peak_rss, print_result


def _child(source: str, cache_dir: str, precision: str) -> None:
    from models import load_policy
    from tt.runtime import open_runtime

    runtime = open_runtime()
    start = time.perf_counter()
    load_policy(source, backend="tt", precision=precision, tt_cache_dir=cache_dir)
    seconds = time.perf_counter() - start
    print_result({"seconds": seconds, "peak_gib": peak_rss() / GIB, "mode": runtime.mode})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="pi0", help="preset name or checkpoint directory")
    parser.add_argument("--precision", default="bfp8", choices=["bfp8", "bf16"])
    parser.add_argument("--child", nargs=2, metavar=("SOURCE", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child, args.precision)
        return
    with tempfile.TemporaryDirectory(prefix="tt-cache-") as cache:
        runs = []
        for label in ("first (convert + store)", "second (cached)"):
            before = len(list(Path(cache).rglob("*.tensorbin")))
            out = subprocess.run([sys.executable, "-m", "benchmarks.tt_load", "--precision", args.precision,
                                  "--child", args.checkpoint, cache], check=True, capture_output=True, text=True)
            result = parse_result(out.stdout)
            if result is None:
                raise RuntimeError(f"{label} load printed no result:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
            runs.append(result)
            written = len(list(Path(cache).rglob("*.tensorbin"))) - before
            print(f"{label:24s} {result['seconds']:8.2f} s   tensors converted and stored {written:5d}   "
                  f"peak RSS {result['peak_gib']:.2f} GiB   ({result['mode']} mode)")
    print(f"cached / first load time: {runs[1]['seconds'] / runs[0]['seconds']:.2f}")


if __name__ == "__main__":
    main()
