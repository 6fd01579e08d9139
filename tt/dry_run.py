"""The shape-only dry run: the unchanged TT policy at full size on a modelled device, in seconds.

Weights are torch `meta` tensors (never materialised or converted); the observation is real (it is small and the
host staging reads its masks); every device tensor is a tt.host.MetaTensor. Each op call is bound against the
op's real signature and checked against every rule of the host path, the circular buffers its program would
allocate are checked against the device's L1, and the buffers alive in DRAM and L1 are booked as the allocator
would. The first refusal stops the run, naming the op, the call site and the rule.

    python -m tt.dry_run --preset pi0 --cameras 3 [--image-size 224|378|384] [--batch 1] [--grid 8x8|8x7|13x10]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace

import torch

from models import Observation, get_preset
from models.config import PolicyConfig
from tt.host.device import DEVICES, GRIDS
from tt.host.errors import DeviceRefusal
from tt.oplog import OpLog, OpRecord
from tt.precision import PRECISIONS, Precision, resolve
from tt.runtime import dry_runtime

STAGES = ("vision", "prefix", "step 0", "whole call")
MIB, GIB = 1 << 20, 1 << 30


@dataclass(frozen=True)
class StageSummary:
    name: str
    ops: int
    peak_l1: int  # static buffers plus L1 tensors, bytes per core, at the op that needs most
    peak_dram: int  # bytes live on the chip
    largest: OpRecord | None  # the op whose static buffers are largest
    unmodelled: tuple[str, ...]  # ops whose program the host path has no L1 model of


@dataclass(frozen=True)
class DryRun:
    config: PolicyConfig
    device: str
    cameras: int
    batch: int
    steps: int
    weights_dram: int
    log: OpLog
    traced: bool = True

    def stage(self, name: str) -> StageSummary:
        records = self.log.entries if name == "whole call" else self.log.select(section=name)
        ops = [r for r in records if r.kind == "op"]
        modelled = [r for r in ops if r.cb_bytes is not None]
        largest = max(modelled, key=lambda r: r.cb_bytes, default=None)
        return StageSummary(name, len(ops), max((r.cb_bytes + r.l1_bytes for r in modelled), default=0),
                            max((r.dram_bytes for r in records), default=0), largest,
                            tuple(sorted({r.op_form for r in ops if r.cb_bytes is None})))


def policy_config(preset: str, image_size: int | None = None) -> PolicyConfig:
    config = get_preset(preset)
    if image_size is not None:
        config = replace(config, vision=replace(config.vision, image_size=image_size))
    return config


def observation(config: PolicyConfig, cameras: int, batch: int) -> Observation:
    """A full-length prompt, `cameras` cameras shown, the state the policy takes."""
    if not 1 <= cameras <= len(config.cameras):
        raise ValueError(f"cameras must be in 1..{len(config.cameras)}, got {cameras}")
    size = config.vision.image_size
    return Observation(images={name: torch.zeros(batch, 3, size, size) for name in config.cameras[:cameras]},
                       tokens=torch.zeros(batch, config.max_token_len, dtype=torch.long),
                       token_masks=torch.ones(batch, config.max_token_len, dtype=torch.bool),
                       state=torch.zeros(batch, config.suffix.state_dim) if config.suffix.has_state_token else None)


def dry_run(config: PolicyConfig, device: str = "n150", cameras: int = 1, batch: int = 1, steps: int | None = None,
            precision: str | Precision = "bfp8", traced: bool = True) -> DryRun:
    """Build the TT policy on shape-only weights and record one sample_actions call; raises the first refusal.

    traced: the steady-state call of a deployed policy -- after the compile call and the capture call of its input
    signature (unrecorded), the inputs written on command queue 1 and the trace replayed. Otherwise one eager call
    (every op dispatched by the host, as with on_stage)."""
    from reference.policy import Pi0Policy as ReferencePolicy
    from tt.policy import Pi0Policy

    with torch.device("meta"):
        weights = ReferencePolicy(config).state_dict()
    steps = config.sampler.num_steps if steps is None else steps
    if batch < 1 or steps < 1:
        raise ValueError(f"batch and steps must be positive, got batch {batch}, steps {steps}")
    obs = observation(config, cameras, batch)
    with dry_runtime(device) as runtime:
        policy = Pi0Policy(runtime, config, weights, resolve(precision, None))
        weights_dram = runtime.device.memory.dram
        noise = torch.zeros(batch, config.suffix.horizon, config.suffix.action_dim)
        on_stage = None if traced else (lambda stage: None)
        for _ in range(2 if traced else 0):
            policy.sample_actions(obs, noise=noise, num_steps=steps)
        with runtime.recording() as log:
            policy.sample_actions(obs, noise=noise, num_steps=steps, on_stage=on_stage)
    return DryRun(config, device, cameras, batch, steps, weights_dram, log, traced)


def weights_dram(config: PolicyConfig, precision: Precision, device: str) -> int:
    """Bytes of `device`'s DRAM the TT policy's weights take, from a shape-only build (a fraction of a second)."""
    from reference.policy import Pi0Policy as ReferencePolicy
    from tt.policy import Pi0Policy

    with torch.device("meta"):
        weights = ReferencePolicy(config).state_dict()
    with dry_runtime(device) as runtime:
        policy = Pi0Policy(runtime, config, weights, precision)
        taken = runtime.device.memory.dram
        del policy
    return taken


def require_weights_fit(config: PolicyConfig, precision: Precision, spec) -> None:
    """Refuse, before any weight is uploaded, a policy whose weights alone do not fit the device's DRAM."""
    need = weights_dram(config, precision, spec.name)
    if need > spec.dram_bytes:
        raise ValueError(f"the TT policy's weights need {need / GIB:.2f} GiB of DRAM in precision {precision.name!r}, "
                         f"more than the {spec.name}'s {spec.dram_bytes / GIB:.2f} GiB")


def report(run: DryRun) -> str:
    spec = DEVICES[run.device]
    vision = run.config.vision
    lines = [f"dry run: {spec}, {run.cameras} camera(s) at {vision.image_size} px ({vision.num_tokens} tokens each), "
             f"batch {run.batch}, {run.steps} steps",
             f"weights: {run.weights_dram / MIB:,.0f} MiB of {spec.dram_bytes / MIB:,.0f} MiB DRAM; "
             f"L1 budget {spec.l1_budget:,} B per core",
             f"{'stage':<11} {'ops':>6} {'peak L1/core':>14} {'peak DRAM':>12}  op needing the most L1"]
    for name in STAGES:
        s = run.stage(name)
        largest = "-" if s.largest is None else (f"{s.largest.op.removeprefix('ttnn.')} {s.largest.cb_bytes:,} B at "
                                                 f"{s.largest.call_site}")
        label = "step" if name == "step 0" else name
        lines.append(f"{label:<11} {s.ops:>6} {s.peak_l1:>12,} B {s.peak_dram / MIB:>8,.0f} MiB  {largest}")
    return "\n".join(lines)


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m tt.dry_run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", required=True, choices=["pi0", "pi05", "pi0-qwen3", "pi0-tiny", "pi05-tiny",
                                                            "pi0-qwen3-tiny"])
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument("--image-size", type=int, choices=[224, 378, 384])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, help="denoising steps (default: the preset's)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--grid", choices=sorted(GRIDS), help="8x8 = n150, 8x7 = one n300 chip, 13x10 = p150")
    where.add_argument("--device", choices=sorted(DEVICES))
    parser.add_argument("--precision", default="bfp8",
                        help=f"{', '.join(PRECISIONS)}, auto (the preset's stored plan), a stored plan's name or a "
                             "plan's .json path (tt.precision_plan)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = _parse(argv)
    device = GRIDS[args.grid] if args.grid else (args.device or "n150")
    try:
        config = policy_config(args.preset, args.image_size)
        precision = resolve(args.precision, args.preset)
        run = dry_run(config, device, args.cameras, args.batch, args.steps, precision)
    except DeviceRefusal as refusal:
        print(f"REFUSED on {DEVICES[device]}: {refusal}", file=sys.stderr)
        return 1
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
