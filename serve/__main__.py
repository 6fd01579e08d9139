"""`python -m serve`: serve a policy to robot clients over openpi's websocket protocol.

    python -m serve --checkpoint lerobot/pi0_base --backend tt --port 8000 --profile libero

Clients connect with openpi-client: WebsocketClientPolicy("127.0.0.1", 8000).infer(observation)["actions"].
The checkpoint is a directory, a preset, or a Hugging Face repo id found in the local hub cache; the tokenizer is
PaliGemma's (google/paligemma-3b-pt-224, from the hub cache) unless --tokenizer names another.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from models import load_policy
from models.checkpoint.files import read_config
from models.loading import DEFAULT_TT_CACHE, resolve_checkpoint
from models.normalization import ACTION_KEY, load_stats
from models.presets import PRESETS
from models.rtc import SCHEDULES
from models.tokenizer import PALIGEMMA_TOKENIZER_REPO, load_tokenizer

from .app import make_server
from .profiles import PROFILES
from .requests import Limits
from .runner import ChunkingSettings
from .server import DEFAULT_HOST

NO_TOKENIZER = "none"
MIB = 1 << 20


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="checkpoint directory, preset or Hugging Face repo id")
    parser.add_argument("--backend", default="reference", choices=["reference", "tt"])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default: localhost only)")
    parser.add_argument("--profile", default="native", choices=PROFILES, help="observation layout of the clients")
    parser.add_argument("--tokenizer", help=f"tokenizer file, directory or repo id (default {PALIGEMMA_TOKENIZER_REPO}"
                                            f" for Gemma VLMs); '{NO_TOKENIZER}' for the byte fallback (tests, "
                                            "presets)")
    parser.add_argument("--action-dim", type=int, help="action dims returned (default: the profile's or checkpoint's)")
    parser.add_argument("--num-steps", type=int, help="denoising steps (default: the checkpoint's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise of requests without noise_seed")
    parser.add_argument("--precision", default="bfp8",
                        help="TT precision: bfp8, bf16, auto (the preset's stored plan), a stored plan or a plan .json")
    parser.add_argument("--tt-cache", type=Path, default=DEFAULT_TT_CACHE, help="cache of TT-ready weights")
    parser.add_argument("--max-batch", type=int, default=4, help="requests served by one sample_actions call")
    parser.add_argument("--batch-wait-ms", type=float, default=0.0,
                        help="hold a batch that is not full this long for more requests (default 0: batch only "
                             "requests already waiting)")
    parser.add_argument("--max-queue", type=int, default=64, help="queued requests beyond which clients are told busy")
    parser.add_argument("--max-message-mb", type=float, default=Limits.max_message_bytes / MIB)
    parser.add_argument("--max-requests", type=int, help="stop after answering this many messages")
    parser.add_argument("--default-prompt", help="prompt for requests that carry none")
    parser.add_argument("--rtc-execution-horizon", type=int, default=ChunkingSettings.execution_horizon)
    parser.add_argument("--rtc-schedule", default=ChunkingSettings.prefix_attention_schedule, choices=SCHEDULES)
    parser.add_argument("--rtc-max-guidance-weight", type=float, default=ChunkingSettings.max_guidance_weight)
    parser.add_argument("--rtc-differentiate-velocity", action="store_true",
                        help="pull the RTC error back through the network (the paper's guidance; lerobot holds the "
                             "velocity constant)")
    return parser.parse_args(argv)


def _tokenizer(name: str | None, config):
    if name == NO_TOKENIZER:
        return load_tokenizer(None, config.vlm.vocab_size)
    if name is None and config.vlm.family != "gemma":
        raise SystemExit("--tokenizer is required for a non-Gemma VLM (its tokenizer.json)")
    return load_tokenizer(name or PALIGEMMA_TOKENIZER_REPO, config.vlm.vocab_size)


def main(argv=None) -> None:
    args = _parse_args(argv)
    try:
        server = _build(args)
    except (ValueError, FileNotFoundError) as err:  # bad checkpoint, tokenizer, profile or settings: no traceback
        raise SystemExit(f"python -m serve: {err}") from None
    server.serve_forever()


def _build(args):
    source = resolve_checkpoint(args.checkpoint)
    policy = load_policy(source, backend=args.backend, precision=args.precision, tt_cache_dir=args.tt_cache)
    config = policy.config
    stats = None if source in PRESETS else load_stats(source, config.suffix.kind)
    shape = {} if source in PRESETS else read_config(Path(source)).get("output_features", {}).get(ACTION_KEY, {})
    return make_server(
        policy, _tokenizer(args.tokenizer, config), stats, profile=args.profile, action_dim=args.action_dim,
        checkpoint_action_dim=int(shape["shape"][0]) if shape.get("shape") else None, backend=args.backend,
        source=args.checkpoint, host=args.host, port=args.port, num_steps=args.num_steps, seed=args.seed,
        chunking=ChunkingSettings(args.rtc_execution_horizon, args.rtc_schedule, args.rtc_max_guidance_weight,
                                  args.rtc_differentiate_velocity),
        limits=Limits(max_message_bytes=int(args.max_message_mb * MIB)), max_batch=args.max_batch,
        batch_wait_s=args.batch_wait_ms / 1e3, max_queue=args.max_queue, max_requests=args.max_requests,
        default_prompt=args.default_prompt)


if __name__ == "__main__":
    main()
