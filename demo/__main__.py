"""`make demo`: predict an action chunk from camera images, a prompt and a robot state, with the TTNN backend (on a
Tenstorrent card when present, else on the host execution path) and the PyTorch reference, and compare them.

Without --checkpoint a tiny pi0-shaped checkpoint is generated deterministically into weights/ on first use.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from loguru import logger
from tqdm import tqdm

from models import load_policy
from models.inputs import make_observation, postprocess_actions
from models.metrics import pcc
from models.normalization import load_stats
from models.tokenizer import load_tokenizer

from .checkpoint import WEIGHTS, ensure_demo_checkpoint, robot_action_dim
from .plot import plot_actions
from .render_scene import IMAGES

DEFAULT_PROMPT = "put the red cube in the bowl"


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="checkpoint directory (any layout the loader reads)")
    parser.add_argument("--policy", default="pi0", choices=["pi0", "pi05", "pi0-qwen3"],
                        help="which tiny default checkpoint to generate when --checkpoint is not given")
    parser.add_argument("--backend", default="both", choices=["reference", "tt", "both"])
    parser.add_argument("--images", nargs="+", metavar="CAM=PATH",
                        help="camera images (default: the rendered table-top scene in demo/images)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument("--state", help="comma-separated values or a .npy file (default: a fixed example state)")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the checkpoint's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial noise")
    parser.add_argument("--precision", default="bfp8", choices=["bfp8", "bf16"], help="TT weight precision")
    parser.add_argument("--tokenizer", type=Path, help="PaliGemma/Gemma SentencePiece .model or Qwen tokenizer.json")
    parser.add_argument("--out", type=Path, default=WEIGHTS.parent / "demo_output", help="where outputs go")
    parser.add_argument("--tt-cache", type=Path, default=WEIGHTS / "tt-cache",
                        help="cache of TT-ready weights (a second run skips their conversion)")
    return parser.parse_args(argv)


def _images(args) -> dict[str, np.ndarray]:
    from PIL import Image

    pairs = args.images or [f"{p.stem}={p}" for p in sorted(IMAGES.glob("*.png"))]
    images = {}
    for pair in pairs:
        camera, sep, path = pair.partition("=")
        if not sep:
            raise SystemExit(f"--images expects CAM=PATH, got {pair!r}")
        if not Path(path).is_file():
            raise SystemExit(f"image for camera {camera!r} not found: {path}")
        images[camera] = np.asarray(Image.open(path).convert("RGB"))
    return images


def _state(args, width: int) -> np.ndarray:
    if args.state is None:
        return np.linspace(-0.5, 0.5, width, dtype=np.float32)
    if args.state.endswith(".npy"):
        return np.load(args.state).astype(np.float32)
    try:
        return np.array([float(v) for v in args.state.split(",")], dtype=np.float32)
    except ValueError:
        raise SystemExit(f"--state must be comma-separated numbers or a .npy file, got {args.state!r}") from None


def _run(policy, observation, noise, steps) -> tuple[torch.Tensor, dict[str, float]]:
    times, last = {}, [time.perf_counter()]

    def mark(stage: str) -> None:
        now = time.perf_counter()
        times[stage] = now - last[0]
        last[0] = now

    start = time.perf_counter()
    with torch.no_grad():
        actions = policy.sample_actions(observation, noise=noise, num_steps=steps, on_stage=mark)
    times["total"] = time.perf_counter() - start
    return actions, times


def _print_times(name: str, mode: str, times: dict[str, float]) -> None:
    steps = [v for k, v in times.items() if k.startswith("step")]
    print(f"\n{name} ({mode})")
    print(f"  vision            {times['vision'] * 1e3:9.1f} ms")
    print(f"  prefix (VLM)      {times['prefix'] * 1e3:9.1f} ms")
    print("  denoising steps   " + " ".join(f"{s * 1e3:.1f}" for s in steps) + " ms")
    print(f"  total             {times['total'] * 1e3:9.1f} ms")


def main(argv: list[str] | None = None) -> dict:
    """Runs the demo; returns what it printed: the chunks per backend, their PCC and the files written."""
    args = _parse_args(argv)
    checkpoint = args.checkpoint or ensure_demo_checkpoint(args.policy)
    backends = ["reference", "tt"] if args.backend == "both" else [args.backend]

    policies = {}
    with tqdm(total=len(backends), desc="loading and preparing weights", unit="backend") as bar:
        for backend in backends:
            policies[backend] = load_policy(checkpoint, backend=backend, precision=args.precision,
                                            tt_cache_dir=args.tt_cache)
            bar.update()
    config = next(iter(policies.values())).config

    tokenizer = load_tokenizer(args.tokenizer, config.vlm.vocab_size)
    stats = load_stats(checkpoint, config.suffix.kind)
    observation = make_observation(config, _images(args), args.prompt, _state(args, robot_width(stats, config)),
                                   tokenizer, stats)
    noise = torch.randn(1, config.suffix.horizon, config.suffix.action_dim,
                        generator=torch.Generator().manual_seed(args.seed))
    action_dim = robot_action_dim(checkpoint) or config.suffix.action_dim

    args.out.mkdir(parents=True, exist_ok=True)
    chunks, model_actions = {}, {}
    for backend, policy in policies.items():
        mode = "PyTorch, CPU" if backend == "reference" else f"TTNN, {policy.runtime.mode} mode"
        if backend == "tt" and policy.runtime.mode == "host":
            mode += ": no Tenstorrent card, so these are host-executor times, not device times"
        model_actions[backend], times = _run(policy, observation, noise, args.steps)
        _print_times(backend, mode, times)
        chunks[backend] = postprocess_actions(model_actions[backend], stats, action_dim)[0].numpy()
        np.save(args.out / f"actions_{backend}.npy", chunks[backend])

    print(f"\ncheckpoint   {checkpoint}")
    print(f"actions      {next(iter(chunks.values())).shape} per backend (horizon x robot action dims)")
    agreement = None
    if len(model_actions) == 2:
        agreement = pcc(model_actions["tt"], model_actions["reference"])
        print(f"PCC tt vs reference   {agreement:.5f}")
    plot = plot_actions(chunks, args.out / "actions.png", f"{config.suffix.kind} action chunk: {args.prompt!r}")
    outputs = [args.out / f"actions_{backend}.npy" for backend in chunks] + [plot]
    for path in outputs:
        print(f"wrote        {path}")
    return {"chunks": chunks, "pcc": agreement, "outputs": outputs}


def robot_width(stats, config) -> int:
    """The state width to feed: the statistics' width when the checkpoint has them, else the model's."""
    return stats.state.dim if stats.has_state and stats.state.dim else config.suffix.state_dim


def cli(argv: list[str] | None = None) -> dict:
    """main(), with bad input ending in a one-line message instead of a traceback that would bury it."""
    try:
        return main(argv)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    logger.remove()
    logger.add(lambda message: tqdm.write(message, end=""), level="WARNING")
    cli()
