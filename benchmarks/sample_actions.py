#!/usr/bin/env python
"""Benchmark `sample_actions` on CPU: this repo's reference pi0 ("ours") vs lerobot 0.6.1's PI0Policy.

Both sides get random weights at the chosen preset's size (default: full pi0, ~3.5B parameters) and identical
model-ready inputs (B=1, images in [-1, 1], 48 prompt tokens of which the first 20 are real, 32-dim state,
fixed noise). Every measurement (one implementation x dtype x camera count) runs in its OWN child process, so
that peak RSS is per implementation and two full-size fp32 models never share the 24 GiB of this machine.

Inside a child: build the policy (timed; RSS right after build = ru_maxrss then, i.e. the peak while building),
one warm-up call, then the median of --repeats timed calls; peak RSS during sampling = ru_maxrss at the end.

    python benchmarks/sample_actions.py                                  # full matrix, full pi0 (~20-30 min)
    python benchmarks/sample_actions.py --preset pi0-tiny --repeats 3    # seconds: smoke check of this script
    python benchmarks/sample_actions.py --dtypes bf16 --cameras 3 --impl ours --json out.json
    python benchmarks/sample_actions.py --profile --dtypes bf16 --cameras 3   # where our time goes

lerobot in bf16 keeps its own behaviour (`to_bfloat16_for_selected_params`): vision tower, projector and
RMSNorm weights stay float32, the rest is bfloat16; its state/action projections stay float32 too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.process import GIB, current_rss, parse_result, peak_rss, print_result  # noqa: E402

CAMERAS = ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")  # models/config.py DEFAULT_CAMERAS
BATCH, TOKEN_LEN, REAL_TOKENS, STATE_DIM, ACTION_DIM, HORIZON, IMAGE = 1, 48, 20, 32, 32, 50, 224
DTYPES = {"bf16": "bfloat16", "fp32": "float32"}
IMPLS = ("ours", "lerobot")
NOISY = 0.05  # a measurement during which other processes used more than this share of the CPUs is flagged


# ----------------------------------------------------------------------------------------------- child side

def _busy_jiffies() -> int:
    """Non-idle CPU time of the whole machine so far (all CPUs), in clock ticks."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    return user + nice + system + irq + softirq + steal


def _own_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _Interference:
    """Measures one timed call: this process's CPU seconds, and how much of the machine OTHER processes (or the
    hypervisor, as steal) used meanwhile, as a fraction of all CPUs. Another busy process makes the numbers
    meaningless on 2 cores: OpenMP threads that get preempted stall the whole team."""

    def __enter__(self):
        r = resource.getrusage(resource.RUSAGE_SELF)
        self.t0, self.j0, self.c0, self.f0 = time.perf_counter(), _busy_jiffies(), _own_cpu_s(), r.ru_minflt
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self.own_cpu = _own_cpu_s() - self.c0
        machine = (_busy_jiffies() - self.j0) / os.sysconf("SC_CLK_TCK")
        self.other = max(0.0, machine - self.own_cpu) / (self.wall * os.cpu_count())
        self.minflt = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - self.f0
        return False


def _weight_bytes(module) -> int:
    """Bytes of all parameters and buffers, each storage counted once (tied weights are shared)."""
    seen, total = set(), 0
    for t in list(module.parameters()) + list(module.buffers()):
        try:
            key, nbytes = t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()
        except (NotImplementedError, RuntimeError):  # opaque layouts (oneDNN/mkldnn tensors) expose no storage
            key, nbytes = id(t), t.numel() * t.element_size()
        if key not in seen:
            seen.add(key)
            total += nbytes
    return total


def _dtype_census(module) -> dict[str, int]:
    """Element counts of floating parameters and buffers by dtype (and oneDNN layout)."""
    import torch
    counts: dict[str, int] = {}
    for t in list(module.parameters()) + [b for b in module.buffers() if b.is_floating_point()]:
        name = str(t.dtype).removeprefix("torch.") + ("/mkldnn" if t.layout == torch._mkldnn else "")
        counts[name] = counts.get(name, 0) + t.numel()
    return counts


def _inputs(num_cameras: int, vocab: int, seed: int = 0):
    import torch
    gen = torch.Generator().manual_seed(seed)
    images = {c: torch.rand(BATCH, 3, IMAGE, IMAGE, generator=gen) * 2 - 1 for c in CAMERAS[:num_cameras]}
    tokens = torch.randint(0, vocab, (BATCH, TOKEN_LEN), generator=gen)
    token_masks = torch.zeros(BATCH, TOKEN_LEN, dtype=torch.bool)
    token_masks[:, :REAL_TOKENS] = True
    state = torch.randn(BATCH, STATE_DIM, generator=gen)
    noise = torch.randn(BATCH, HORIZON, ACTION_DIM, generator=gen)
    return images, tokens, token_masks, state, noise


def _build_ours(preset: str, dtype_name: str, num_cameras: int):
    import torch

    from models import Observation, get_preset, load_policy
    policy = load_policy(preset, dtype=getattr(torch, dtype_name))
    images, tokens, token_masks, state, noise = _inputs(num_cameras, get_preset(preset).vlm.vocab_size)
    obs = Observation(images=images, image_masks=None, tokens=tokens, token_masks=token_masks, state=state)
    return policy, lambda: policy.sample_actions(obs, noise=noise)


def _build_lerobot(preset: str, dtype_name: str, num_cameras: int):
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.pi0 import modeling_pi0
    from lerobot.policies.pi0.configuration_pi0 import PI0Config

    features = {f"observation.images.{c}": PolicyFeature(FeatureType.VISUAL, (3, IMAGE, IMAGE))
                for c in CAMERAS[:num_cameras]}
    features["observation.state"] = PolicyFeature(FeatureType.STATE, (STATE_DIM,))
    config = PI0Config(device="cpu", dtype=dtype_name, input_features=features,
                       output_features={"action": PolicyFeature(FeatureType.ACTION, (ACTION_DIM,))})
    if preset == "pi0":
        policy = modeling_pi0.PI0Policy(config)
        vocab = 257_152
    elif preset == "pi0-tiny":  # smoke check only: the test suite's shrunk lerobot model
        from tests.peers import lerobot_tiny
        with lerobot_tiny._shrunk(modeling_pi0):
            policy = modeling_pi0.PI0Policy(config)
        lerobot_tiny._fit_shrunk_widths(policy.model)
        policy.model.paligemma_with_expert.to_bfloat16_for_selected_params(dtype_name)  # re-apply after resize
        vocab = lerobot_tiny.VOCAB
    else:
        raise SystemExit(f"lerobot side supports presets pi0 and pi0-tiny, not {preset!r}")
    policy.eval()
    images, tokens, token_masks, state, noise = _inputs(num_cameras, vocab)
    image_list = [images[c] for c in CAMERAS[:num_cameras]]
    mask_list = [torch.ones(BATCH, dtype=torch.bool) for _ in image_list]

    def call():
        with torch.no_grad():
            return policy.model.sample_actions(image_list, mask_list, tokens, token_masks, state, noise=noise)
    return policy, call


def run_child(args) -> dict:
    import torch
    torch.set_num_threads(args.threads)
    rss_start = current_rss()
    t0 = time.perf_counter()
    build = _build_ours if args.impl == "ours" else _build_lerobot
    policy, call = build(args.preset, DTYPES[args.dtype], args.num_cameras)
    build_s = time.perf_counter() - t0
    peak_after_build, rss_after_build = peak_rss(), current_rss()

    t0 = time.perf_counter()
    out = call()
    warmup_s = time.perf_counter() - t0
    times, cpu, other, faults = [], [], [], []
    for _ in range(args.repeats):
        with _Interference() as m:
            out = call()
        times.append(m.wall)
        cpu.append(m.own_cpu)
        other.append(m.other)
        faults.append(m.minflt)
    return dict(
        impl=args.impl, preset=args.preset, dtype=args.dtype, cameras=args.num_cameras, repeats=args.repeats,
        threads=torch.get_num_threads(), build_s=build_s, warmup_s=warmup_s, times_s=times,
        median_s=statistics.median(times), cpu_s=cpu, other_load=other, minor_faults=faults,
        max_other_load=max(other), weight_bytes=_weight_bytes(policy), param_dtypes=_dtype_census(policy),
        rss_start_bytes=rss_start, peak_rss_after_build_bytes=peak_after_build,
        rss_after_build_bytes=rss_after_build, peak_rss_bytes=peak_rss(),
        output_shape=list(out.shape), output_finite=bool(torch.isfinite(out).all()),
    )


def run_profile(args) -> dict:
    """Our time split into vision tower (+projector), the rest of embed_prefix, prefix cache fill (VLM), and
    the denoising steps (one `velocity` call, x num_steps)."""
    import torch
    torch.set_num_threads(args.threads)
    policy, call = _build_ours(args.preset, DTYPES[args.dtype], args.num_cameras)
    from models import Observation
    images, tokens, token_masks, state, noise = _inputs(args.num_cameras, policy.config.vlm.vocab_size)
    obs = Observation(images=images, tokens=tokens, token_masks=token_masks, state=state)
    call()  # warm-up

    loads = []

    def timed(fn, n):
        ts, out = [], None
        for _ in range(n):
            with _Interference() as m:
                out = fn()
            ts.append(m.wall)
            loads.append(m.other)
        return statistics.median(ts), out

    n = max(args.repeats, 1)
    with torch.no_grad():
        pixels = torch.cat([images[c].to(policy.dtype) for c in CAMERAS[:args.num_cameras]], dim=0)
        vision_s, _ = timed(lambda: policy.projector(policy.vision(pixels)), n)
        prefix_s, prefix = timed(lambda: policy.embed_prefix(obs), n)
        cache_s, cache = timed(lambda: policy.fill_prefix_cache(prefix), n)
        st = policy.padded_state(obs)
        t = torch.full((BATCH,), 0.5)
        velocity_s, _ = timed(lambda: policy.velocity(noise, t, cache, st), max(3, n))
    total_s, _ = timed(call, n)
    marks = [("start", time.perf_counter())]  # in-situ split of one real call
    policy.sample_actions(obs, noise=noise, on_stage=lambda name: marks.append((name, time.perf_counter())))
    stages = {name: t1 - t0 for (_, t0), (name, t1) in zip(marks, marks[1:])}
    steps = policy.config.sampler.num_steps
    return dict(impl="ours", preset=args.preset, dtype=args.dtype, cameras=args.num_cameras,
                prefix_tokens=int(prefix.embs.shape[1]), vision_s=vision_s, embed_prefix_s=prefix_s,
                fill_prefix_cache_s=cache_s, velocity_s=velocity_s, num_steps=steps, sample_actions_s=total_s,
                unaccounted_s=total_s - prefix_s - cache_s - steps * velocity_s, stages_s=stages,
                max_other_load=max(loads))


# ---------------------------------------------------------------------------------------------- parent side

def _measure(args, impl: str, dtype: str, cams: int, profile: bool = False) -> dict:
    """One measurement; re-run (up to --retry-noisy times) while other processes disturbed it, keeping the
    least disturbed attempt."""
    best = None
    for attempt in range(args.retry_noisy + 1):
        result = _spawn(args, impl, dtype, cams, profile)
        if "error" in result:
            return result
        result["attempt"] = attempt
        if best is None or result["max_other_load"] < best["max_other_load"]:
            best = result
        if best["max_other_load"] <= NOISY:
            break
        print(f"[run] other processes used {100 * result['max_other_load']:.0f}% of the CPUs during that "
              f"measurement" + ("; retrying" if attempt < args.retry_noisy else ""), flush=True)
    return best


def _spawn(args, impl: str, dtype: str, cams: int, profile: bool = False) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--impl", impl, "--dtypes", dtype,
           "--cameras", str(cams), "--repeats", str(args.repeats), "--preset", args.preset,
           "--threads", str(args.threads)] + (["--profile"] if profile else [])
    label = f"{impl:8s} {dtype} cams={cams}"
    _wait_idle(args.wait_idle)
    print(f"[run] {label} ...", flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=args.timeout)
    except subprocess.TimeoutExpired:
        print(f"[run] {label}: TIMEOUT after {args.timeout}s", flush=True)
        return dict(impl=impl, dtype=dtype, cameras=cams, error=f"timeout {args.timeout}s")
    result = parse_result(proc.stdout)
    if result is not None:
        result["child_wall_s"] = time.perf_counter() - t0
        print(f"[run] {label}: " + (f"sample {result['median_s']:.2f}s, build {result['build_s']:.1f}s, "
                                    f"peak RSS {result['peak_rss_bytes'] / GIB:.2f} GiB"
                                    if not profile else "profile done"), flush=True)
        return result
    tail = "\n".join((proc.stderr or "").splitlines()[-15:])
    print(f"[run] {label}: FAILED (exit {proc.returncode})\n{tail}", flush=True)
    return dict(impl=impl, dtype=dtype, cameras=cams, error=f"exit {proc.returncode}: {tail[-500:]}")


def _other_load(seconds: float = 2.0) -> float:
    """Fraction of all CPUs busy (other processes; the parent itself only sleeps) over `seconds`."""
    with _Interference() as measured:
        time.sleep(seconds)
    return measured.other


def _wait_idle(limit_s: float) -> None:
    """Wait (at most limit_s) until other processes use less than NOISY of the machine."""
    deadline = time.perf_counter() + limit_s
    while limit_s > 0:
        load = _other_load()
        if load < NOISY:
            return
        if time.perf_counter() > deadline:
            print(f"[run] machine still {100 * load:.0f}% busy with other processes; measuring anyway", flush=True)
            return
        print(f"[run] waiting: other processes use {100 * load:.0f}% of the CPUs", flush=True)
        time.sleep(10)


def _machine(threads: int) -> dict:
    import torch
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return dict(cpu=model, cpu_count=os.cpu_count(), affinity=len(os.sched_getaffinity(0)), torch_threads=threads,
                torch=torch.__version__, cpu_capability=torch.backends.cpu.get_cpu_capability(),
                mem_gib=round(mem / GIB, 1), python=platform.python_version())


def _num(value, fmt: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(value / scale, fmt)


def _table(results: list[dict], dtypes, cams_list) -> str:
    """Two tables: time (both implementations), then memory (both implementations)."""
    by = {(r["impl"], r["dtype"], r["cameras"]): r for r in results}
    rows = [(f"{dt} cams={cams}", by.get(("ours", dt, cams), {}), by.get(("lerobot", dt, cams), {}))
            for dt in dtypes for cams in cams_list]
    time_head = (f"{'config':13s} | {'ours s':>7s} | {'lerobot s':>9s} | {'ours/lerobot':>12s} | "
                 f"{'build s: ours':>13s} {'lerobot':>7s} | {'other load %: ours':>18s} {'lerobot':>7s}")
    lines = ["TIME (sample_actions, median seconds per call)", time_head, "-" * len(time_head)]
    for label, o, le in rows:
        ot, lt = o.get("median_s"), le.get("median_s")
        lines.append(f"{label:13s} | {_num(ot, '7.2f')} | {_num(lt, '9.2f')} | "
                     f"{_num(ot / lt if ot and lt else None, '12.2f')} | {_num(o.get('build_s'), '13.1f')} "
                     f"{_num(le.get('build_s'), '7.1f')} | {_num(o.get('max_other_load'), '18.0f', 0.01)} "
                     f"{_num(le.get('max_other_load'), '7.0f', 0.01)}")
    mem_head = (f"{'config':13s} | {'OURS GiB: weights':>17s} {'after-build':>11s} {'build-peak':>10s} "
                f"{'sample-peak':>11s} {'build-peak/w':>12s} | {'LEROBOT GiB: weights':>20s} {'build-peak':>10s} "
                f"{'sample-peak':>11s}")
    lines += ["", "MEMORY (RSS of each child process)", mem_head, "-" * len(mem_head)]
    for label, o, le in rows:
        pw = o["peak_rss_after_build_bytes"] / o["weight_bytes"] if o.get("weight_bytes") else None
        lines.append(f"{label:13s} | {_num(o.get('weight_bytes'), '17.2f', GIB)} "
                     f"{_num(o.get('rss_after_build_bytes'), '11.2f', GIB)} "
                     f"{_num(o.get('peak_rss_after_build_bytes'), '10.2f', GIB)} "
                     f"{_num(o.get('peak_rss_bytes'), '11.2f', GIB)} {_num(pw, '12.2f')} | "
                     f"{_num(le.get('weight_bytes'), '20.2f', GIB)} "
                     f"{_num(le.get('peak_rss_after_build_bytes'), '10.2f', GIB)} "
                     f"{_num(le.get('peak_rss_bytes'), '11.2f', GIB)}")
    for r in results:
        if "error" in r:
            lines.append(f"ERROR {r['impl']} {r['dtype']} cams={r['cameras']}: "
                         f"{r['error'].splitlines()[-1] if r['error'] else ''}")
    noisy = [f"{r['impl']} {r['dtype']} cams={r['cameras']}" for r in results if r.get("max_other_load", 0) > NOISY]
    if noisy:
        lines.append(f"WARNING: other processes used > {100 * NOISY:.0f}% of the CPUs during {', '.join(noisy)}; "
                     "those timings are not trustworthy on a 2-core machine.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="pi0", choices=("pi0", "pi0-tiny"))
    ap.add_argument("--dtypes", default="bf16,fp32", help="comma list of bf16, fp32")
    ap.add_argument("--cameras", default="1,3", help="comma list of camera counts (1..3)")
    ap.add_argument("--impl", default="ours,lerobot", help="comma list of ours, lerobot")
    ap.add_argument("--repeats", type=int, default=1, help="timed calls after one warm-up; the median is reported")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads in each child")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per child process")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="S",
                    help="before each child, wait up to S seconds for other processes to go quiet "
                         f"(< {100 * NOISY:.0f}%% CPU)")
    ap.add_argument("--retry-noisy", type=int, default=0, metavar="N",
                    help=f"re-run a measurement up to N times while other processes used > {100 * NOISY:.0f}%% of the "
                         "CPUs during it")
    ap.add_argument("--json", type=Path, help="also write all results here")
    ap.add_argument("--profile", action="store_true", help="only profile OUR sample_actions by stage")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    cams_list = [int(c) for c in args.cameras.split(",") if c.strip()]
    impls = [i.strip() for i in args.impl.split(",") if i.strip()]
    if bad := [d for d in dtypes if d not in DTYPES] + [i for i in impls if i not in IMPLS]:
        ap.error(f"unknown dtype/impl {bad}")
    if any(not 1 <= c <= len(CAMERAS) for c in cams_list):
        ap.error(f"camera counts must be in 1..{len(CAMERAS)}")

    if args.child:
        args.impl, args.dtype, args.num_cameras = impls[0], dtypes[0], cams_list[0]
        result = run_profile(args) if args.profile else run_child(args)
        print_result(result)
        return

    machine = _machine(args.threads)
    print(f"machine: {machine['cpu']}, {machine['cpu_count']} CPUs ({machine['affinity']} usable), "
          f"{machine['mem_gib']} GiB RAM, torch {machine['torch']} ({machine['cpu_capability']}), "
          f"torch threads per child = {args.threads}; "
          f"other processes now use {100 * _other_load(1.0):.0f}% of the CPUs")
    print(f"preset {args.preset}, B={BATCH}, {TOKEN_LEN} tokens ({REAL_TOKENS} real), 10 denoising steps, "
          f"1 warm-up + median of {args.repeats} timed call(s), each measurement in its own process", flush=True)
    started = time.perf_counter()
    if args.profile:
        results = [_measure(args, "ours", dt, cams, profile=True) for dt in dtypes for cams in cams_list]
        for r in results:
            if "error" in r:
                continue
            print(f"\nOURS profile {r['preset']} {r['dtype']} cams={r['cameras']} "
                  f"({r['prefix_tokens']} prefix tokens):")
            print(f"  vision tower + projector   {r['vision_s']:8.2f} s")
            print(f"  embed_prefix (incl. vision){r['embed_prefix_s']:8.2f} s")
            print(f"  fill_prefix_cache (VLM)    {r['fill_prefix_cache_s']:8.2f} s")
            print(f"  velocity (1 step)          {r['velocity_s']:8.2f} s  x {r['num_steps']} = "
                  f"{r['velocity_s'] * r['num_steps']:.2f} s")
            print(f"  sample_actions total       {r['sample_actions_s']:8.2f} s  "
                  f"(unaccounted {r['unaccounted_s']:+.2f} s)")
            st = r["stages_s"]
            step_s = [v for k, v in st.items() if k.startswith("step")]
            print("  in one sample_actions call (on_stage): " + ", ".join(
                f"{k} {v:.2f} s" for k, v in st.items() if not k.startswith("step"))
                + f", {len(step_s)} steps {sum(step_s):.2f} s (median step {statistics.median(step_s):.2f} s)")
            if r["max_other_load"] > NOISY:
                print(f"  WARNING: other processes used up to {100 * r['max_other_load']:.0f}% of the CPUs meanwhile")
    else:
        results = [_measure(args, impl, dt, cams) for dt in dtypes for cams in cams_list for impl in impls]
        print("\nours = this repo's reference/ (models.load_policy); lerobot = lerobot 0.6.1 PI0Pytorch. "
              "Target: ours/lerobot <= 0.8.")
        print("GiB: weights = parameter+buffer bytes; after-build = VmRSS right after building; build-peak = "
              "ru_maxrss then;\n     sample-peak = ru_maxrss after all calls. Target: ours build-peak/w <= 1.2.\n")
        print(_table(results, dtypes, cams_list))
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(machine=machine, args={k: str(v) for k, v in vars(args).items()},
                                             results=results), indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
