"""The predicted op log of a dry run as the tt-metal device profiler's ops_perf_results_*.csv, so tt-perf-report (and
any tool that reads that file) can analyse a prediction. Every row is a prediction: a first signpost row says so, and
a PREDICTED column repeats it on every row. One row per device program: an op that builds two (SDPA with a scaled
mask) gets two.

Columns and value formats are the ones tt-perf-report 1.4.1 reads (its detect_csv_format: a DEVICE ARCH column means
shape columns named <TENSOR>_<DIM>_PAD[LOGICAL] holding "physical[logical]").
"""

from __future__ import annotations

import csv
from pathlib import Path

from tt.dry_run import DryRun
from tt.host.device import DEVICES
from tt.host.timing import elapsed_ns
from tt.oplog import OpRecord, TensorInfo

PREDICTED = "predicted by the host path's device-time model, not measured on hardware"
DEVICE_OPS = {"matmul": "MatmulDeviceOperation", "sdpa": "SDPAOperation", "mask prescale": "BinaryNgDeviceOperation",
              "binary": "BinaryNgDeviceOperation", "norm": "LayerNormDeviceOperation", "unary": "UnaryDeviceOperation",
              "typecast": "TypecastDeviceOperation", "embedding": "EmbeddingsDeviceOperation",
              "concat": "ConcatDeviceOperation", "slice": "SliceDeviceOperation", "split": "SplitDeviceOperation",
              "create_qkv_heads": "NlpCreateHeadsDeviceOperation", "concat_heads": "NLPConcatHeadsDeviceOperation",
              "rope": "RotaryEmbeddingDeviceOperation", "fill_cache": "UpdateKVCacheOperation",
              "ternary": "TernaryDeviceOperation"}
DIMS = ("W", "Z", "Y", "X")
TENSORS = ("INPUT_0", "INPUT_1", "OUTPUT_0")
COLUMNS = ["OP CODE", "OP TYPE", "GLOBAL CALL COUNT", "DEVICE ID", "ATTRIBUTES", "MATH FIDELITY", "CORE COUNT",
           "HOST START TS", "DEVICE KERNEL DURATION [ns]", "OP TO OP LATENCY [ns]", "DEVICE ARCH",
           "AVAILABLE WORKER CORE COUNT"] + \
    [f"{t}_{d}_PAD[LOGICAL]" for t in TENSORS for d in DIMS] + \
    [f"{t}_{f}" for t in TENSORS for f in ("DATATYPE", "MEMORY")] + ["STAGE", "CALIBRATED", "PREDICTED"]


def _tensor_columns(prefix: str, info: TensorInfo | None) -> dict:
    if info is None:
        return {}
    shape, padded = (1,) * (4 - len(info.shape)) + info.shape, (1,) * (4 - len(info.padded_shape)) + info.padded_shape
    columns = {f"{prefix}_{d}_PAD[LOGICAL]": f"{p}[{s}]" for d, p, s in zip(DIMS, padded[-4:], shape[-4:])}
    return columns | {f"{prefix}_DATATYPE": info.dtype, f"{prefix}_MEMORY": info.memory}


def _stage(record: OpRecord) -> str:
    return next((s for s in reversed(record.sections) if s.startswith("step ")),
                record.sections[0] if record.sections else "")


def rows(run: DryRun) -> list[dict]:
    spec = DEVICES[run.device]
    arch = "blackhole" if spec.arch.name == "BLACKHOLE" else "wormhole_b0"
    out = [{"OP CODE": PREDICTED, "OP TYPE": "signpost", "GLOBAL CALL COUNT": 0, "HOST START TS": 0,
            "PREDICTED": PREDICTED}]
    clock = 0.0
    for record in run.log.select(kind="op"):
        if record.cost is None or not record.programs:
            continue
        gap = elapsed_ns(record, spec) - record.cost.kernel_ns
        operands = dict(zip(("INPUT_0", "INPUT_1"), record.operands)) | {"OUTPUT_0": next(iter(record.results), None)}
        for program, kernel_ns in zip(record.programs, record.cost.programs_ns):
            clock += gap
            row = {"OP CODE": DEVICE_OPS[program.name], "OP TYPE": "tt_dnn_device", "GLOBAL CALL COUNT": len(out),
                   "DEVICE ID": 0, "ATTRIBUTES": _attributes(record, program.name),
                   "MATH FIDELITY": record.cost.fidelity if program.name in ("matmul", "sdpa") else "",
                   "CORE COUNT": max(program.work.busy_cores, 1), "HOST START TS": round(clock),
                   "DEVICE KERNEL DURATION [ns]": round(kernel_ns), "OP TO OP LATENCY [ns]": round(gap),
                   "DEVICE ARCH": arch, "AVAILABLE WORKER CORE COUNT": spec.cores, "STAGE": _stage(record),
                   "CALIBRATED": "yes" if record.cost.calibrated else "uncalibrated", "PREDICTED": PREDICTED}
            for name, info in operands.items():
                row |= _tensor_columns(name, info)
            out.append(row)
            clock += kernel_ns
            gap = 0.0
    return out


def _attributes(record: OpRecord, program: str) -> str:
    """tt-perf-report reads the matmul program config's in0_block_w and out_subblock_h/w from here."""
    if program != "matmul":
        return "{}"
    config = record.program_config.replace(",", ";") if record.program_config else "std::nullopt"
    return "{'program_config': '" + config + "'}"


def write(run: DryRun, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows(run))
    return path
