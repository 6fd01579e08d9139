"""`make demo`: the reference policy end to end on a preset with deterministic random weights.

Prints the action chunk's shape and where the time went (prefix once, then each denoising step).
"""

from __future__ import annotations

import argparse
import time

import torch

from models import PRESETS, Observation, load_policy


def _observation(policy, batch: int, prompt_len: int, gen: torch.Generator) -> Observation:
    cfg = policy.config
    size = cfg.vision.image_size
    images = {name: torch.rand(batch, 3, size, size, generator=gen) * 2 - 1 for name in cfg.cameras}
    tokens = torch.randint(0, cfg.vlm.vocab_size, (batch, cfg.max_token_len), generator=gen)
    token_masks = torch.arange(cfg.max_token_len)[None, :].expand(batch, -1) < prompt_len
    state = torch.randn(batch, cfg.suffix.state_dim, generator=gen) if cfg.suffix.has_state_token else None
    return Observation(images=images, tokens=tokens, token_masks=token_masks, state=state)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--policy", default="pi0-tiny", choices=sorted(PRESETS))
    parser.add_argument("--steps", type=int, default=10, help="denoising steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    args = parser.parse_args(argv)

    dtype = torch.float32 if args.dtype == "fp32" else torch.bfloat16
    start = time.perf_counter()
    policy = load_policy(args.policy, backend="reference", dtype=dtype, seed=args.seed)
    built = time.perf_counter()
    gen = torch.Generator().manual_seed(args.seed)
    obs = _observation(policy, batch=1, prompt_len=min(12, policy.config.max_token_len), gen=gen)
    noise = torch.randn(1, policy.config.suffix.horizon, policy.config.suffix.action_dim, generator=gen)

    with torch.no_grad():
        t0 = time.perf_counter()
        cache = policy.fill_prefix_cache(policy.embed_prefix(obs))
        t1 = time.perf_counter()
        actions = policy.sample_actions(obs, noise=noise, num_steps=args.steps)
        t2 = time.perf_counter()

    print(f"policy        {args.policy} (reference backend, {args.dtype}, random weights, seed {args.seed})")
    print(f"cameras       {', '.join(policy.config.cameras)}; prefix {cache.length} tokens")
    print(f"actions       shape {tuple(actions.shape)}, mean |a| {actions.abs().mean():.4f}")
    print(f"build         {built - start:8.3f} s")
    print(f"prefix        {t1 - t0:8.3f} s (vision + VLM, once)")
    print(f"sample        {t2 - t1:8.3f} s total for {args.steps} steps (prefix included)")


if __name__ == "__main__":
    main()
