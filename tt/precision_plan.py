"""The precision planner: per op family, the weight dtype, math fidelity and fp32 accumulation that minimise the
predicted device time while the end-to-end PCC of the actions under device numerics stays at or above a target.

    python -m tt.precision_plan --preset pi0 --target-pcc 0.99 [--device n150] [--cameras 1] [--eval-depth 2]

Time: each family's options are priced by a shape-only dry run of the full-size policy (tt.dry_run) with that one
family changed, as a traced call would run (kernel time plus the traced op-to-op gap); a family's ops depend only on
its own setting, so the prices add up, and the chosen plan is priced again as a whole. Accuracy: sample_actions of
the TT policy under device numerics (tt.host.numerics) against the float32 reference on the same random seeded
weights, observation and noise. Its model has the preset's widths and heads but `eval_depth` layers per stack (full
depth with --eval-depth 0; minutes per candidate), since every candidate is a full build and call on the host.
Search: greedy, family by family in order of the time there is to save; a family's options are tried from the
fastest, skipping any that is no more precise in weight, fidelity and accumulation than one already failed.
Every figure is predicted; nothing here ran on hardware.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from models.config import PolicyConfig
from models.metrics import pcc
from models.presets import get_preset
from tt.dry_run import dry_run, observation
from tt.host.device import DEVICES
from tt.host.timing import elapsed_ns
from tt.precision import (FIDELITIES, KERNEL_FAMILIES, MATMUL_FAMILIES, PLANS_DIR, WEIGHT_DTYPES, KernelPrecision,
                          MatmulPrecision, Precision)

DEFAULT = Precision("bfp8")
PLANNED_FIDELITIES = ("LoFi", "HiFi2", "HiFi4")  # HiFi3 (between HiFi2 and HiFi4 in cost) left out of the search
MATMUL_OPTIONS = tuple(MatmulPrecision(w, f, acc) for w, f, acc in
                       itertools.product(WEIGHT_DTYPES, PLANNED_FIDELITIES, (True, False)))
KERNEL_OPTIONS = tuple(KernelPrecision(f, acc) for f, acc in itertools.product(PLANNED_FIDELITIES, (True, False)))
WEIGHT_RANK = {w: i for i, w in enumerate(("bfp4", "bfp8", "bf16"))}


def _ranks(option) -> tuple[int, int, int]:
    return WEIGHT_RANK[getattr(option, "weight", "bf16")], FIDELITIES.index(option.fidelity), int(option.fp32_acc)


def no_more_precise(option, than) -> bool:
    """Whether `option` is at most as precise as `than` in every respect (so expected to fail where it failed)."""
    return all(a <= b for a, b in zip(_ranks(option), _ranks(than)))


def options(family: str) -> tuple:
    return MATMUL_OPTIONS if family in MATMUL_FAMILIES else KERNEL_OPTIONS


def predicted_ns(config: PolicyConfig, precision: Precision, device: str, cameras: int) -> float:
    """The predicted device time of one traced sample_actions call at full size: an eager call's ops (the step
    schedule's constants, computed once per step count, left out) each priced as a traced op."""
    run = dry_run(config, device, cameras, precision=precision, traced=False)
    spec = DEVICES[device]
    return sum(elapsed_ns(r, spec, traced=True) for r in run.log.select(kind="op")
               if r.cost is not None and "schedule" not in r.sections)


def eval_config(config: PolicyConfig, depth: int) -> PolicyConfig:
    """The accuracy model: the preset's widths and heads with `depth` layers per stack (0: the preset's depth)."""
    if depth == 0:
        return config
    return dataclasses.replace(config, vision=dataclasses.replace(config.vision, depth=depth),
                               vlm=dataclasses.replace(config.vlm, depth=depth),
                               expert=dataclasses.replace(config.expert, depth=depth))


class AccuracyProbe:
    """The end-to-end actions PCC of a precision under device numerics, on fixed random weights and inputs."""

    def __init__(self, runtime, config: PolicyConfig, cameras: int, seed: int = 0):
        from reference.random_init import random_policy

        self.runtime, self.config = runtime, config
        gen = torch.Generator().manual_seed(seed)
        obs = observation(config, cameras, 1)
        images = {name: torch.rand(image.shape, generator=gen) * 2 - 1 for name, image in obs.images.items()}
        tokens = torch.randint(0, config.vlm.vocab_size, obs.tokens.shape, generator=gen)
        state = None if obs.state is None else torch.randn(obs.state.shape, generator=gen)
        self.obs = dataclasses.replace(obs, images=images, tokens=tokens, state=state)
        self.noise = torch.randn(1, config.suffix.horizon, config.suffix.action_dim, generator=gen)
        with torch.no_grad():
            self.expected = random_policy(config, seed=seed).sample_actions(self.obs, noise=self.noise)
        self.weights = random_policy(config, seed=seed, dtype=torch.bfloat16).state_dict()
        self.measured: dict[str, float] = {}  # by describe(precision): plans differing only in name are one

    def __call__(self, precision: Precision) -> float:
        from tt.policy import Pi0Policy

        key = describe(precision)
        if key not in self.measured:
            policy = Pi0Policy(self.runtime, self.config, self.weights, precision)
            with self.runtime.using_numerics("device"):
                actual = policy.sample_actions(self.obs, noise=self.noise)
            del policy
            gc.collect()
            self.measured[key] = pcc(actual, self.expected)
        return self.measured[key]


@dataclass(frozen=True)
class Plan:
    precision: Precision
    predicted_ns: float
    pcc: float
    default_ns: float
    default_pcc: float
    candidates: int  # precisions whose accuracy was measured


def search(target_pcc: float, price, accuracy, name: str) -> Precision:
    """Greedy search from the default precision (or, if it misses the target, from bf16 everywhere). `price(family,
    option)` is the predicted time saved against the default by that one change; `accuracy(precision)` the PCC."""
    default_pcc = accuracy(DEFAULT)
    start = DEFAULT if default_pcc >= target_pcc else Precision("bf16")
    if accuracy(start) < target_pcc:
        raise ValueError(f"target PCC {target_pcc} is out of reach: every weight in bfloat16 at HiFi4 gives "
                         f"{accuracy(start):.6f} on the accuracy model")
    current = start.replaced(name)
    saving = {f: {o: price(f, o) for o in options(f)} for f in MATMUL_FAMILIES + KERNEL_FAMILIES}
    order = sorted(saving, key=lambda f: -max(saving[f].values()))
    for family in order:
        # Savings in whole microseconds: options within one of each other are tried the more precise first.
        saved_us = {o: round(ns / 1e3) for o, ns in saving[family].items()}
        held, failed = getattr(current, family), []
        for option in sorted(saved_us, key=lambda o: (-saved_us[o], [-r for r in _ranks(o)])):
            if saved_us[option] <= saved_us[held]:
                break
            if any(no_more_precise(option, f) for f in failed):
                continue
            candidate = current.replaced(name, **{family: option})
            if accuracy(candidate) >= target_pcc:
                current = candidate
                break
            failed.append(option)
    return current


def make_plan(preset: str, target_pcc: float, device: str = "n150", cameras: int = 1, eval_depth: int = 2,
              name: str | None = None, log=print) -> Plan:
    from tt.runtime import active_runtime, open_runtime

    config = get_preset(preset)
    runtime = active_runtime() or open_runtime("host")
    probe = AccuracyProbe(runtime, eval_config(config, eval_depth), cameras)
    default_ns = predicted_ns(config, DEFAULT, device, cameras)
    prices: dict = {}

    def price(family, option):
        if (family, option) not in prices:
            changed = DEFAULT.replaced("candidate", **{family: option})
            prices[family, option] = default_ns - predicted_ns(config, changed, device, cameras)
        return prices[family, option]

    def accuracy(precision):
        fresh = describe(precision) not in probe.measured
        value = probe(precision)
        if fresh:
            log(f"  PCC {value:.6f}: {describe(precision)}")
        return value

    chosen = search(target_pcc, price, accuracy, name or preset)
    return Plan(chosen, predicted_ns(config, chosen, device, cameras), probe(chosen), default_ns, probe(DEFAULT),
                len(probe.measured))


def describe(precision: Precision) -> str:
    return "; ".join(f"{f} {getattr(precision, f)}" for f in MATMUL_FAMILIES + KERNEL_FAMILIES)


def report(plan: Plan, preset: str, target_pcc: float, device: str, cameras: int, eval_depth: int) -> str:
    depth = "full depth" if eval_depth == 0 else f"{eval_depth} layers per stack"
    lines = [f"precision plan {plan.precision.name!r} for {preset}, target PCC {target_pcc} (actions, device "
             f"numerics, random seeded weights, preset widths, {depth}); time: {device}, {cameras} camera(s), "
             f"traced (predicted, not run on hardware)",
             f"{'family':12s} | {'default':16s} | {'plan':16s}"]
    for family in MATMUL_FAMILIES + KERNEL_FAMILIES:
        lines.append(f"{family:12s} | {str(getattr(DEFAULT, family)):16s} | {str(getattr(plan.precision, family)):16s}")
    lines += [f"predicted time: default {plan.default_ns / 1e6:.2f} ms, plan {plan.predicted_ns / 1e6:.2f} ms "
              f"(speed-up x{plan.default_ns / plan.predicted_ns:.2f})",
              f"actions PCC: default {plan.default_pcc:.6f}, plan {plan.pcc:.6f} ({plan.candidates} precisions "
              f"measured)"]
    return "\n".join(lines)


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m tt.precision_plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", required=True, help="a full-size preset: pi0, pi05, pi0-qwen3")
    parser.add_argument("--target-pcc", type=float, required=True)
    parser.add_argument("--device", default="n150", choices=sorted(DEVICES))
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument("--eval-depth", type=int, default=2, help="layers per stack of the accuracy model; 0: full")
    parser.add_argument("--name", help="the plan's name (default: the preset's; precision='auto' reads that one)")
    parser.add_argument("--out", type=Path, default=PLANS_DIR, help=f"directory of the plan file (default {PLANS_DIR})")
    args = parser.parse_args(argv)
    if not 0 < args.target_pcc < 1:
        parser.error(f"--target-pcc must lie in (0, 1), got {args.target_pcc}")
    if args.eval_depth < 0:
        parser.error(f"--eval-depth must be 0 (full depth) or positive, got {args.eval_depth}")
    return args


def main(argv=None) -> int:
    args = _parse(argv)
    try:
        config = get_preset(args.preset)
        if not 1 <= args.cameras <= len(config.cameras):
            raise ValueError(f"--cameras must be 1..{len(config.cameras)} for {args.preset}, got {args.cameras}")
        plan = make_plan(args.preset, args.target_pcc, args.device, args.cameras, args.eval_depth, args.name)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report(plan, args.preset, args.target_pcc, args.device, args.cameras, args.eval_depth))
    print(f"wrote {plan.precision.save(args.out / f'{plan.precision.name}.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
