"""`make demo`: predict an action chunk from camera images, a prompt and a robot state, with the TTNN backend (on a
Tenstorrent card when present, else on the host execution path) and the PyTorch reference, and compare them.

Without --checkpoint a tiny pi0-shaped checkpoint with random weights is generated deterministically into weights/
on first use: its actions mean nothing, and the plot says so; what the demo shows is that the backends agree.
TT-ready weights are cached in --tt-cache (default: $XDG_CACHE_HOME/vla-tt/tt-weights, ~/.cache/vla-tt/tt-weights
when XDG_CACHE_HOME is unset), so a second run skips their conversion.
The console shows warnings (each once) and errors as one line; --verbose adds info logs and ttnn's own log lines
(otherwise only its errors in host mode, where its driver reports on the mock cluster, and its warnings on a card).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from loguru import logger
from tqdm import tqdm

from models import load_policy
from models.inputs import make_observation, postprocess_actions
from models.loading import TT_CACHE_SUBDIR
from models.metrics import pcc
from models.normalization import load_stats
from models.tokenizer import load_tokenizer

from .checkpoint import WEIGHTS, ensure_demo_checkpoint, random_weights_note, robot_action_dim
from .inputs import read_images, read_state, usable_directory
from .plot import plot_actions
from .render_scene import IMAGES

DEFAULT_PROMPT = "put the red cube in the bowl"
CARD_PATH = Path("/dev/tenstorrent")  # tt.runtime.CARD_PATH; importing tt would load ttnn before its log level is set
TT_LOG_LEVEL_VARIABLES = ("TT_METAL_LOGGER_LEVEL", "TT_LOGGER_LEVEL")  # both read by ttnn 0.81.1 when it loads


def user_cache_dir() -> Path:
    """$XDG_CACHE_HOME, or ~/.cache when it is unset or not absolute (the XDG base-directory convention)."""
    configured = os.environ.get("XDG_CACHE_HOME", "")
    return Path(configured) if os.path.isabs(configured) else Path.home() / ".cache"


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="checkpoint directory (any layout the loader reads)")
    parser.add_argument("--policy", default="pi0", choices=["pi0", "pi05", "pi0-qwen3"],
                        help="which tiny default checkpoint to generate when --checkpoint is not given")
    parser.add_argument("--backend", default="both", choices=["reference", "tt", "both"])
    parser.add_argument("--images", nargs="+", metavar="CAM=PATH",
                        help="camera images (default: the rendered table-top scene in demo/images)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument("--state", help="robot state: comma-separated values or a .npy file (default: the middle of "
                                        "the checkpoint's state statistics)")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the checkpoint's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial noise")
    parser.add_argument("--precision", default="bfp8",
                        help="TT precision: bfp8, bf16, auto (the preset's stored plan), a stored plan or a plan .json")
    parser.add_argument("--tokenizer", type=Path, help="PaliGemma/Gemma SentencePiece .model or Qwen tokenizer.json")
    parser.add_argument("--out", type=Path, default=WEIGHTS.parent / "demo_output",
                        help="where outputs go (default: %(default)s)")
    parser.add_argument("--tt-cache", type=Path, default=user_cache_dir() / TT_CACHE_SUBDIR,
                        help="cache of TT-ready weights (default: %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="show info logs and ttnn's own log lines")
    return parser.parse_args(argv)


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


def _load(checkpoint: Path, backends: list[str], args) -> tuple[dict, tuple[str, ...]]:
    """backend -> policy, and the components with random weights (as the reference load reports them)."""
    policies, random_components = {}, ()
    with tqdm(total=len(backends), desc="loading and preparing weights", unit="backend") as bar:
        for backend in backends:
            if backend == "reference":
                policies[backend], report = load_policy(checkpoint, return_report=True)
                random_components = report.random_components
            else:
                from tt.weight_cache import WeightCacheError  # loads ttnn: only once the console is set up

                try:
                    policies[backend] = load_policy(checkpoint, backend=backend, precision=args.precision,
                                                    tt_cache_dir=args.tt_cache)
                except WeightCacheError as err:
                    raise ValueError(f"--tt-cache: {err}") from None
            bar.update()
    return policies, random_components


def _observation(args, checkpoint: Path, config, images: dict, state: np.ndarray | None):
    """(the Observation both backends get, the checkpoint's statistics)."""
    try:
        tokenizer = load_tokenizer(args.tokenizer, config.vlm.vocab_size)
    except ValueError as err:
        raise ValueError(f"--tokenizer: {err}") from None
    stats = load_stats(checkpoint, config.suffix.kind)
    state = default_state(stats, config) if state is None else state
    return make_observation(config, images, args.prompt, state, tokenizer, stats), stats


def _mode_label(backend: str, policy, precision: str) -> str:
    if backend == "reference":
        return "PyTorch, CPU, float32"
    where = "host mode: ttnn's host execution path, no Tenstorrent card" if _on_host(backend, policy) else \
        "on the Tenstorrent card"
    return f"TTNN {precision}, {where}"


def _on_host(backend: str, policy) -> bool:
    return backend == "tt" and policy.runtime.mode == "host"


def main(argv: list[str] | None = None) -> dict:
    """Runs the demo; returns what it printed: the chunks per backend, their PCC and the files written. Bad input
    raises ValueError naming the option or field."""
    args = _parse_args(argv)
    backends = ["reference", "tt"] if args.backend == "both" else [args.backend]
    usable_directory("--out", args.out, create=False)  # checked before any work, created when first written
    if "tt" in backends:
        usable_directory("--tt-cache", args.tt_cache, create=False)
    images = read_images(args.images or [f"{p.stem}={p}" for p in sorted(IMAGES.glob("*.png"))])
    state = read_state(args.state)
    checkpoint = args.checkpoint or ensure_demo_checkpoint(args.policy)

    policies, random_components = _load(checkpoint, backends, args)
    config = next(iter(policies.values())).config
    observation, stats = _observation(args, checkpoint, config, images, state)
    noise = torch.randn(1, config.suffix.horizon, config.suffix.action_dim,
                        generator=torch.Generator().manual_seed(args.seed))
    action_dim = robot_action_dim(checkpoint) or config.suffix.action_dim
    steps = config.sampler.num_steps if args.steps is None else args.steps

    out = usable_directory("--out", args.out, create=True)
    chunks, model_actions, labels = {}, {}, {}
    for backend, policy in policies.items():
        labels[backend] = _mode_label(backend, policy, args.precision)
        model_actions[backend], times = _run(policy, observation, noise, steps)
        timing = "; host-executor times, not device times" if _on_host(backend, policy) else ""
        _print_times(backend, labels[backend] + timing, times)
        chunks[backend] = postprocess_actions(model_actions[backend], stats, action_dim)[0].numpy()
        np.save(out / f"actions_{backend}.npy", chunks[backend])

    print(f"\ncheckpoint   {checkpoint}")
    print(f"actions      {next(iter(chunks.values())).shape} per backend (horizon x robot action dims)")
    agreement = None
    if len(model_actions) == 2:
        agreement = pcc(model_actions["tt"], model_actions["reference"])
        print(f"PCC tt vs reference   {agreement:.5f}")
    note = random_weights_note(checkpoint, random_components)
    if note:
        print(f"note         {note}")
    plot = plot_actions(chunks, out / "actions.png", title=f"{config.suffix.kind} action chunk for {args.prompt!r}",
                        labels=labels, agreement=agreement, steps=steps, note=note,
                        units="robot units" if stats.has_action else "model units (no action statistics)")
    outputs = [out / f"actions_{backend}.npy" for backend in chunks] + [plot]
    for path in outputs:
        print(f"wrote        {path}")
    return {"chunks": chunks, "pcc": agreement, "outputs": outputs, "note": note}


def default_state(stats, config) -> np.ndarray:
    """The middle of the checkpoint's state statistics (a typical state), else zeros of the model's state width."""
    if stats.has_state and stats.state.dim:
        norm = stats.state
        return norm.unnormalize(torch.zeros(norm.dim)).numpy()
    return np.zeros(config.suffix.state_dim, np.float32)


def cli(argv: list[str] | None = None) -> dict:
    """main(), with every expected failure (bad input or files) ending in one line instead of a traceback."""
    try:
        return main(argv)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None


def ttnn_log_level(verbose: bool, environ: Mapping[str, str], card: bool) -> str | None:
    """The level for ttnn's own C++ log lines, or None to leave them be (verbose, or the user chose a level):
    warnings on a card, errors in host mode, where its driver only reports on the mock cluster it is given."""
    if verbose or any(v in environ for v in TT_LOG_LEVEL_VARIABLES):
        return None
    return "warn" if card else "error"


def configure_console(verbose: bool) -> None:
    """Warnings (or, verbose, info logs too) as plain lines above the progress bar, and ttnn's log level. ttnn reads
    its level when it loads: this must run before any import of ttnn."""
    logger.remove()
    logger.add(lambda message: tqdm.write(message, end=""), level="INFO" if verbose else "WARNING",
               format="{level}: {message}")
    level = ttnn_log_level(verbose, os.environ, CARD_PATH.exists())
    if level is not None:
        os.environ[TT_LOG_LEVEL_VARIABLES[0]] = level


if __name__ == "__main__":
    configure_console(verbose="--verbose" in sys.argv[1:])
    cli()
