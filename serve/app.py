"""Wiring: a loaded policy, its tokenizer and normalisation statistics -> a PolicyServer with a runner, a profile,
request expectations and the metadata sent on connect."""

from __future__ import annotations

from dataclasses import asdict

from models.normalization import NormStats
from models.tokenizer import Tokenizer

from .profiles import make_profile
from .requests import Expectations, Limits
from .runner import ChunkingSettings, PolicyRunner
from .server import DEFAULT_HOST, PolicyServer

PROTOCOL = "openpi-websocket (openpi-client 0.1.2)"


def response_action_dim(model_action_dim: int, profile_dim: int | None, requested: int | None,
                        checkpoint_dim: int | None, stats: NormStats | None) -> int:
    """Dims the response keeps: --action-dim, else the profile's, else the checkpoint's config, else the action
    statistics', else all the model has; the statistics that unnormalise them must cover at least that many."""
    stats_dim = stats.action.dim if stats is not None and stats.has_action else None
    dim = next(d for d in (requested, profile_dim, checkpoint_dim, stats_dim, model_action_dim) if d is not None)
    if not 0 < dim <= model_action_dim:
        raise ValueError(f"action_dim must be in [1, {model_action_dim}] (the model's), got {dim}")
    if stats_dim is not None and stats_dim < dim:
        raise ValueError(f"responses would keep {dim} action dims but the checkpoint's action statistics cover "
                         f"only {stats_dim}; pass --action-dim {stats_dim} or a matching profile")
    return dim


def make_server(policy, tokenizer: Tokenizer, stats: NormStats | None, *, profile: str = "native",
                action_dim: int | None = None, checkpoint_action_dim: int | None = None, backend: str = "reference",
                source: str = "", host: str = DEFAULT_HOST, port: int = 8000, num_steps: int | None = None,
                seed: int = 0, chunking: ChunkingSettings = ChunkingSettings(), limits: Limits = Limits(),
                max_batch: int = 4, batch_wait_s: float = 0.0, max_queue: int = 64, max_requests: int | None = None,
                default_prompt: str | None = None) -> PolicyServer:
    config = policy.config
    chosen = make_profile(profile, config.cameras)
    dim = response_action_dim(config.suffix.action_dim, chosen.action_dim, action_dim, checkpoint_action_dim, stats)
    stats_state = stats.state.dim if stats is not None and stats.has_state else None
    expect = Expectations(image_size=config.vision.image_size, state_dim=config.suffix.state_dim,
                          stats_state_dim=stats_state, horizon=config.suffix.horizon, action_dim=dim,
                          execution_horizon=chunking.execution_horizon)
    runner = PolicyRunner(policy, tokenizer, stats, dim, num_steps=num_steps, seed=seed, chunking=chunking)
    metadata = {
        "protocol": PROTOCOL, "checkpoint": source, "backend": backend, "policy": config.suffix.kind,
        "profile": chosen.name, "cameras": ["/".join(path) for path in chosen.cameras], "action_horizon":
        config.suffix.horizon, "action_dim": dim, "state_dim": stats_state or config.suffix.state_dim,
        "num_steps": num_steps or config.sampler.num_steps, "max_batch": max_batch,
        "real_time_chunking": asdict(chunking),
        "limits": asdict(limits),
    }
    return PolicyServer(runner, chosen, expect, metadata, host=host, port=port, limits=limits, max_batch=max_batch,
                        batch_wait_s=batch_wait_s, max_queue=max_queue, max_requests=max_requests,
                        default_prompt=default_prompt)
