#!/usr/bin/env python
"""Benchmark checkpoint loading at full pi0 size: `load_policy(dir, dtype=bfloat16)` against
`safetensors.torch.load_file` of the same file (wall time and peak RSS, each load in its own child process).

The checkpoint is synthesised once, tensor by tensor (never all in memory), in lerobot's key layout: every
parameter of our pi0 tree under its lerobot >= 0.4 key, plus the VLM's lm_head (tied to embed_tokens) and the action
expert's unused lm_head, i.e. 778 tensors for pi0. Stored dtypes follow openpi's conversion, which produced the
published lerobot/pi0_base: patch and position embeddings, decoder norms and the suffix float32, all else bfloat16
(`--dtypes lerobot` uses lerobot 0.6's rule instead: the whole vision tower and projector float32).

safetensors 0.8's load_file is lazy (it maps the file and reads nothing), while load_policy reads every value (the
non-finite scan that validation requires), so four baselines are timed: two that read every byte, which the
<= 1.5x target is measured against: load_file + one pass over every value (t.max(), the cheapest full read with
stock torch) and load_file(backend="pread") (safetensors' own eager read into process memory); and two that do not,
printed for context: load_file as is, and load_file + one byte read per page of every tensor.

With --cache warm (the default) each kind runs once unmeasured to warm the page cache, then --repeats times
measured; with --cache cold (root only) the page cache is dropped before every measured run, as on a first load
after boot. Medians are printed. Waits until no process running --wait-for (default sample_actions.py) is left.

    python benchmarks/load_checkpoint.py                        # ~7.5 GiB under /tmp/pi0-load-benchmark
    python benchmarks/load_checkpoint.py --preset pi0-tiny --dir /tmp/tiny-load   # seconds: smoke check
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.process import GIB, current_rss, parse_result, peak_rss, print_result  # noqa: E402

# kind -> (label, load_file keywords, whether it reads every byte: the baselines the wall-time target is against)
_BASELINES = {"read-all": ("load_file + t.max() of every tensor", {}, True),
              "pread": ("load_file(backend='pread')", {"backend": "pread"}, True),
              "mmap": ("load_file (default: lazy mmap)", {}, False),
              "touch": ("load_file + touch every page", {}, False)}
_OPENPI_FLOAT32 = ("vision.embeddings.patch_embedding.", "vision.embeddings.position_embedding.")


def openpi_dtype(name: str):
    """lerobot's rule, except that only the patch and position embeddings of the vision path stay float32."""
    import torch

    from models.checkpoint import lerobot_dtype

    if name.startswith(("vision.", "projector.")):
        return torch.float32 if name.startswith(_OPENPI_FLOAT32) else torch.bfloat16
    return lerobot_dtype(name)


def synthesise(directory: Path, preset: str, dtypes: str) -> None:
    import torch

    from models import get_preset
    from models.checkpoint import EXPERT_LM_HEAD, VLM_LM_HEAD, checkpoint_key, lerobot_dtype, write_safetensors
    from reference.policy import Pi0Policy

    config = get_preset(preset)
    with torch.device("meta"):
        shapes = {name: tuple(p.shape) for name, p in Pi0Policy(config).state_dict().items()}
    dtype_of = lerobot_dtype if dtypes == "lerobot" else openpi_dtype
    specs = [(checkpoint_key(name), dtype_of(name), shape) for name, shape in shapes.items()]
    specs += [(VLM_LM_HEAD, torch.bfloat16, shapes["vlm.embed_tokens.weight"]),
              (EXPERT_LM_HEAD, torch.bfloat16, (config.vlm.vocab_size, config.expert.width))]
    pool = torch.randn(1 << 24, generator=torch.Generator().manual_seed(0)) * 0.02
    pools = {torch.float32: pool, torch.bfloat16: pool.bfloat16()}
    offsets = iter(range(0, 1 << 30, 7919))
    by_key = {key: (dtype, shape) for key, dtype, shape in specs}

    def produce(key: str):
        dtype, shape = by_key[key]
        numel, start = math.prod(shape), next(offsets) % pool.numel()
        source = pools[dtype]
        reps = -(-(numel + start) // source.numel())
        return (source.repeat(reps) if reps > 1 else source)[start:start + numel].reshape(shape)

    directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    size = write_safetensors(directory / "model.safetensors.partial", specs, produce)
    os.replace(directory / "model.safetensors.partial", directory / "model.safetensors")
    meta = {"type": config.suffix.kind, "paligemma_variant": "gemma_2b", "action_expert_variant": "gemma_300m",
            "chunk_size": config.suffix.horizon, "tokenizer_max_length": config.max_token_len,
            "num_inference_steps": config.sampler.num_steps, "max_state_dim": 32, "max_action_dim": 32}
    (directory / "config.json").write_text(json.dumps(meta, indent=2))
    print(f"wrote {len(specs)} tensors, {size / GIB:.2f} GiB ({dtypes} dtypes) to {directory} "
          f"in {time.perf_counter() - started:.1f} s")


def child(kind: str, directory: Path) -> None:
    import torch

    if kind in _BASELINES:
        from safetensors.torch import load_file

        before = current_rss()
        start = time.perf_counter()
        tensors = load_file(str(directory / "model.safetensors"), **_BASELINES[kind][1])
        for tensor in tensors.values():
            if kind == "touch":
                int(tensor.reshape(-1).view(torch.uint8)[::4096].sum())
            elif kind == "read-all" and tensor.numel():
                float(tensor.max())
    else:
        from loguru import logger

        import torch._dynamo  # noqa: F401  (imported on first meta-device init; an import, so outside the timing)

        import reference.policy  # noqa: F401
        from models import load_policy

        logger.remove()
        before = current_rss()
        start = time.perf_counter()
        tensors = load_policy(directory, dtype=torch.bfloat16)
    wall = time.perf_counter() - start
    print_result({"wall_s": wall, "peak_rss": peak_rss(), "rss_before": before, "rss_after": current_rss()})
    del tensors


def _others_running(pattern: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if pattern in cmdline and Path(__file__).name not in cmdline:  # not ourselves (nor our `timeout`)
                found.append(f"{proc.name}: {cmdline.strip()[:100]}")
    return found


def _drop_page_cache() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("1\n")


def _run(kind: str, directory: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--dir", str(directory)], capture_output=True,
                         text=True, cwd=ROOT, check=False)
    result = parse_result(out.stdout)
    if out.returncode or result is None:
        raise RuntimeError(f"{kind} child failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/pi0-load-benchmark"))
    parser.add_argument("--preset", default="pi0")
    parser.add_argument("--dtypes", choices=("openpi", "lerobot"), default="openpi")
    parser.add_argument("--rewrite", action="store_true", help="synthesise the checkpoint even if present")
    parser.add_argument("--repeats", type=int, default=2, help="measured runs per side (>= 1)")
    parser.add_argument("--cache", choices=("warm", "cold"), default="warm",
                        help="cold: drop the page cache before every measured run (needs root)")
    parser.add_argument("--wait-for", default="sample_actions.py", help="'' to not wait")
    parser.add_argument("--child", choices=(*_BASELINES, "ours"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.child:
        child(args.child, args.dir)
        return

    while args.wait_for and (others := _others_running(args.wait_for)):
        print(f"waiting for {others[0]} ...", flush=True)
        time.sleep(60)
    if args.rewrite or not (args.dir / "model.safetensors").is_file():
        synthesise(args.dir, args.preset, args.dtypes)
    from models.checkpoint import open_safetensors

    entries = open_safetensors(args.dir / "model.safetensors").entries
    tensor_bytes = sum(e.nbytes for e in entries.values())
    print(f"checkpoint {args.dir}: {len(entries)} tensors, {tensor_bytes / GIB:.2f} GiB of tensor data")
    # pread last: its 7.5 GiB of fresh process memory pushes part of the checkpoint out of the page cache
    kinds = ("mmap", "touch", "read-all", "ours", "pread")
    if args.cache == "cold":
        try:
            _drop_page_cache()
        except OSError as err:
            parser.error(f"--cache cold: cannot drop the page cache ({err}); it needs root")
        print("page cache: cold (dropped before every measured run)")
    else:
        print("page cache: warm (each kind runs once unmeasured first)")
        for kind in kinds:
            _run(kind, args.dir)
    runs = {kind: [] for kind in kinds}
    for _ in range(args.repeats):
        for kind in kinds:
            if args.cache == "cold":
                _drop_page_cache()
            runs[kind].append(_run(kind, args.dir))
    summary = {kind: {key: statistics.median(r[key] for r in results) for key in results[0]}
               for kind, results in runs.items()}
    labels = {**{kind: label for kind, (label, *_) in _BASELINES.items()}, "ours": "load_policy(dtype=bfloat16)"}
    for kind in kinds:
        s = summary[kind]
        walls = [r["wall_s"] for r in runs[kind]]
        print(f"{labels[kind]:<36} wall {s['wall_s']:6.2f} s ({min(walls):.2f}-{max(walls):.2f})   "
              f"peak RSS {s['peak_rss'] / GIB:5.2f} GiB "
              f"(before the load {s['rss_before'] / GIB:.2f} GiB, after {s['rss_after'] / GIB:.2f} GiB)")
    print("wall ratio ours / baseline: ratio of the medians, then min-max of the per-round ratios "
          "(each round runs every kind once)")
    for kind, (label, _, reads_all) in _BASELINES.items():
        note = "target <= 1.5" if reads_all else "context: reads (almost) nothing"
        paired = [o["wall_s"] / b["wall_s"] for o, b in zip(runs["ours"], runs[kind])]
        print(f"  ours / {label:<36} {summary['ours']['wall_s'] / summary[kind]['wall_s']:6.2f}   "
              f"({min(paired):.2f}-{max(paired):.2f})   {note}")
    print(f"peak RSS / tensor bytes: ours {summary['ours']['peak_rss'] / tensor_bytes:.2f} (target <= 1.2), "
          + ", ".join(f"{labels[k]} {summary[k]['peak_rss'] / tensor_bytes:.2f}" for k in _BASELINES))
    print(f"(medians of {args.repeats} measured runs each; wall = the load call only, imports excluded)")


if __name__ == "__main__":
    main()
