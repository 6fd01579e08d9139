"""The device-time model from the command line. Every time it prints is PREDICTED, not measured on hardware.

    python -m benchmarks.device_model matmul --m M --k K --n N --dtype bf16|bfp8|bfp4 --fidelity LoFi|HiFi2|HiFi3|HiFi4
        --device n150|n300|p150            one matmul with the project's own program config; last line predicted_ns=
    python -m benchmarks.device_model pipeline --preset pi0|pi05|pi0-qwen3 --cameras C --steps S
        --device n150|n300|p150 [--csv PATH]   a whole sample_actions call per stage and per op type; last line
                                               total_ms= roofline_ms= ops_per_step=
    python -m benchmarks.device_model calibrate [--fit] [--summary]
        the matmul constants against tt-metal's GEMM_FLOPS rows (fit on N150, P150 held out), error per row, and
        the streaming DRAM rate of each architecture fitted on captured ops (benchmarks/device_model/streams.py),
        and the published DRAM-sharded matmuls priced (benchmarks/device_model/dram_sharded.py)
"""

from __future__ import annotations

import argparse
import sys

import torch

from tt.host.device import DEVICES

DTYPES = {"bf16": "bfloat16", "bfp8": "bfloat8_b", "bfp4": "bfloat4_b"}
FIDELITIES = ("LoFi", "HiFi2", "HiFi3", "HiFi4")


def predict_matmul(m: int, k: int, n: int, dtype: str, fidelity: str, device: str):
    """The record of one shape-only matmul [m, k] @ [k, n] (dtype for both operands and the output) on `device`,
    with the program config tt.program_configs picks and the project's matmul kernel settings at `fidelity`."""
    from tt.host.device import device_spec
    from tt.host.resources.matmul import MatmulOperands
    from tt.ops import ttnn
    from tt.precision import Precision
    from tt.program_configs import matmul_config
    from tt.runtime import dry_runtime

    tt_dtype = getattr(ttnn, DTYPES[dtype])
    kernel = Precision().matmuls("vlm_mlp").matmul_kernel
    kernel.math_fidelity = getattr(ttnn.MathFidelity, fidelity)
    spec = device_spec(device)
    operands = MatmulOperands(tt_dtype, tt_dtype, tt_dtype, kernel.fp32_dest_acc_en, kernel.packer_l1_acc)
    config = matmul_config(m, k, n, ttnn.CoreCoord(*spec.grid), spec, operands, fidelity)
    with dry_runtime(device) as runtime, runtime.recording() as log:
        def upload(shape):
            return ttnn.from_torch(torch.empty(shape, device="meta"), dtype=tt_dtype, layout=ttnn.TILE_LAYOUT,
                                   device=runtime.device, memory_config=ttnn.DRAM_MEMORY_CONFIG)
        ttnn.matmul(upload([1, 1, m, k]), upload([1, 1, k, n]), program_config=config, compute_kernel_config=kernel,
                    dtype=tt_dtype, memory_config=ttnn.DRAM_MEMORY_CONFIG)
    return log.select(kind="op")[-1], config


def _matmul(args) -> int:
    record, config = predict_matmul(args.m, args.k, args.n, args.dtype, args.fidelity, args.device)
    cost, spec = record.cost, DEVICES[args.device]
    print(f"PREDICTED (not measured): [{args.m}, {args.k}] @ [{args.k}, {args.n}] {args.dtype} {args.fidelity} "
          f"on {spec}")
    print(f"program config: {config}")
    print(f"cores {record.cores}, static L1 {record.cb_bytes:,} B per core, floor {cost.floor_ns / 1e3:.1f} us "
          f"(FLOPs {cost.flops:.3g}, DRAM {cost.dram_bytes / 2**20:.1f} MiB)")
    print(f"predicted_ns={round(cost.kernel_ns)}")
    return 0


def _pipeline(args) -> int:
    from benchmarks.device_model.ops_csv import write
    from benchmarks.device_model.pipeline import by_op_line, floor_line, format_stages, stage_times, unmodelled
    from tt.dry_run import dry_run, policy_config
    from tt.precision import resolve

    try:
        precision = resolve(args.precision, args.preset)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run = dry_run(policy_config(args.preset), args.device, args.cameras, 1, args.steps, precision,
                  traced=not args.eager)
    stages = stage_times(run)
    print(format_stages(stages, run))
    print(by_op_line(run))
    missing = unmodelled(run)
    if missing:
        print(f"ops without a model (not timed): {', '.join(missing)}")
    if args.csv:
        print(f"ops_perf_results CSV (predicted): {write(run, args.csv)}")
    if run.traced:
        print(floor_line(run))
    total = stages[-1]
    steps = [s for s in stages if s.name.startswith("step ")]
    print(f"total_ms={total.predicted_ns / 1e6:.2f} roofline_ms={total.roofline_ns / 1e6:.2f} "
          f"ops_per_step={steps[0].ops}")
    return 0


def _calibrate(args) -> int:
    from benchmarks.device_model import dram_sharded, streams
    from benchmarks.device_model.calibration import fit, load_rows, report

    rows = load_rows()
    constants = fit(rows) if args.fit else None
    if constants is not None:
        print(f"fitted on the N150 rows: {constants}")
    print(report(rows, constants) if constants else report(rows, per_row=not args.summary))
    print(streams.report(streams.load_rows()))
    print(dram_sharded.report(dram_sharded.load_rows()))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.device_model", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    matmul = sub.add_parser("matmul", help="one matmul's predicted device time")
    for name in ("m", "k", "n"):
        matmul.add_argument(f"--{name}", type=int, required=True)
    matmul.add_argument("--dtype", choices=sorted(DTYPES), required=True)
    matmul.add_argument("--fidelity", choices=FIDELITIES, required=True)
    matmul.add_argument("--device", choices=sorted(DEVICES), required=True)
    pipeline = sub.add_parser("pipeline", help="a whole sample_actions call per stage")
    pipeline.add_argument("--preset", choices=["pi0", "pi05", "pi0-qwen3"], required=True)
    pipeline.add_argument("--cameras", type=int, required=True)
    pipeline.add_argument("--steps", type=int, required=True)
    pipeline.add_argument("--device", choices=sorted(DEVICES), required=True)
    pipeline.add_argument("--eager", action="store_true",
                          help="every op dispatched by the host (default: the steady-state traced call)")
    pipeline.add_argument("--precision", default="bfp8",
                          help="bfp8, bf16, auto (the preset's stored plan), a stored plan's name or a plan's .json")
    pipeline.add_argument("--csv", help="write the predicted op log as an ops_perf_results CSV")
    calibrate = sub.add_parser("calibrate", help="the matmul constants against GEMM_FLOPS, error per row")
    calibrate.add_argument("--fit", action="store_true", help="refit the constants on the N150 rows first")
    calibrate.add_argument("--summary", action="store_true", help="only the summary lines")
    args = parser.parse_args(argv)
    for name in ("m", "k", "n", "cameras", "steps"):
        if getattr(args, name, 1) < 1:
            parser.error(f"--{name} must be positive")
    return {"matmul": _matmul, "pipeline": _pipeline, "calibrate": _calibrate}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
