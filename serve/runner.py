"""Checked requests -> one batched sample_actions call -> per-request actions in robot units, with stage times.

Each request is made into its own Observation first (an input the model rejects fails only that request), then the
observations, noises and RTC leftovers are stacked, so a batch gives each request what it would get alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from models.config import PolicyConfig
from models.inputs import make_observation, postprocess_actions
from models.noise import initial_noise
from models.normalization import FeatureNorm, NormStats
from models.observation import Observation
from models.rtc import DEFAULT_EXECUTION_HORIZON, DEFAULT_MAX_GUIDANCE_WEIGHT, SCHEDULES, RealTimeChunking
from models.tokenizer import Tokenizer

from .requests import PolicyRequest, RequestError


@dataclass(frozen=True)
class ChunkingSettings:
    """The server's real-time chunking settings; each request brings its leftover, delay and (optionally)
    execution horizon."""

    execution_horizon: int = DEFAULT_EXECUTION_HORIZON
    prefix_attention_schedule: str = "LINEAR"
    max_guidance_weight: float = DEFAULT_MAX_GUIDANCE_WEIGHT
    differentiate_velocity: bool = False

    def __post_init__(self):
        if self.execution_horizon < 0 or self.prefix_attention_schedule not in SCHEDULES \
                or not self.max_guidance_weight > 0:
            raise ValueError(f"real-time chunking settings need execution_horizon >= 0, a schedule in {SCHEDULES} "
                             f"and max_guidance_weight > 0, got {self}")


def cut_action_stats(stats: NormStats | None, action_dim: int) -> NormStats | None:
    """The statistics of the first action_dim action dims (a profile may keep fewer dims than the checkpoint's
    statistics cover; each dim is normalised on its own)."""
    if stats is None or not stats.has_action or stats.action.dim in (None, action_dim):
        return stats
    action = stats.action
    cut = FeatureNorm(action.name, action.mode, {k: v[..., :action_dim] for k, v in action.stats.items()}, action.eps)
    return NormStats(stats.state, cut, stats.source)


def _stacked(observations: list[Observation]) -> Observation:
    first = observations[0]
    return Observation(
        images={c: torch.cat([o.images[c] for o in observations]) for c in first.images},
        image_masks={c: torch.cat([o.image_masks[c] for o in observations]) for c in first.image_masks},
        tokens=torch.cat([o.tokens for o in observations]),
        token_masks=torch.cat([o.token_masks for o in observations]),
        state=None if first.state is None else torch.cat([o.state for o in observations]))


class PolicyRunner:
    """Runs batches of PolicyRequests through one policy (reference or TT); used from one thread at a time."""

    def __init__(self, policy, tokenizer: Tokenizer, stats: NormStats | None, action_dim: int,
                 num_steps: int | None = None, seed: int = 0, chunking: ChunkingSettings = ChunkingSettings()):
        self.policy, self.tokenizer, self.stats = policy, tokenizer, cut_action_stats(stats, action_dim)
        self.config: PolicyConfig = policy.config
        self.action_dim, self.num_steps, self.chunking = action_dim, num_steps, chunking
        self._generator = torch.Generator().manual_seed(seed)

    def _observation(self, request: PolicyRequest) -> Observation:
        try:
            return make_observation(self.config, images=request.images, prompt=request.prompt, state=request.state,
                                    tokenizer=self.tokenizer, stats=self.stats)
        except ValueError as err:
            raise RequestError(f"observation rejected: {err}") from None

    def _noise(self, request: PolicyRequest) -> torch.Tensor:
        generator = self._generator if request.noise_seed is None else \
            torch.Generator().manual_seed(request.noise_seed)
        return initial_noise(1, self.config.suffix, generator=generator)

    def _chunking(self, requests: list[PolicyRequest]) -> RealTimeChunking | None:
        """One RealTimeChunking for a batch of equal batch_key: leftovers normalised, rows zero-padded to the
        horizon, the execution horizon already cut to the leftovers' length (guided_rows, part of the key)."""
        first = requests[0]
        if first.leftover is None:
            return None
        leftovers = torch.zeros(len(requests), self.config.suffix.horizon, self.action_dim)
        for row, request in enumerate(requests):
            leftover = torch.from_numpy(request.leftover)
            if self.stats is not None and self.stats.has_action:
                leftover = self.stats.action.normalize(leftover)
            leftovers[row, :leftover.shape[0]] = leftover
        s = self.chunking
        return RealTimeChunking(leftovers, inference_delay=first.inference_delay, execution_horizon=first.guided_rows,
                                prefix_attention_schedule=s.prefix_attention_schedule,
                                max_guidance_weight=s.max_guidance_weight,
                                differentiate_velocity=s.differentiate_velocity)

    def run(self, requests: list[PolicyRequest]) -> list[dict | RequestError]:
        """One outcome per request, in order: {"actions": float32 [horizon, action_dim], "policy_timing": {...}}, or
        the RequestError that request alone caused. Requests must share one batch_key."""
        if len({r.batch_key for r in requests}) != 1:
            raise ValueError("internal: a batch mixes requests with different batch keys")
        outcomes: list[dict | RequestError | None] = [None] * len(requests)
        ready: list[tuple[int, Observation]] = []
        for i, request in enumerate(requests):
            try:
                ready.append((i, self._observation(request)))
            except RequestError as err:
                outcomes[i] = err
        if ready:
            batch = [requests[i] for i, _ in ready]
            actions, timing = self._sample(_stacked([o for _, o in ready]), batch)
            for row, (i, _) in enumerate(ready):
                outcomes[i] = {"actions": actions[row], "policy_timing": timing}
        return outcomes

    def _sample(self, observation: Observation, requests: list[PolicyRequest]) -> tuple[np.ndarray, dict]:
        noise = torch.cat([self._noise(r) for r in requests])
        marks = {}
        start = time.perf_counter()
        actions = self.policy.sample_actions(observation, noise=noise, num_steps=self.num_steps,
                                             on_stage=lambda name: marks.setdefault(name, time.perf_counter()),
                                             rtc=self._chunking(requests))
        end = time.perf_counter()
        robot = postprocess_actions(actions, self.stats, self.action_dim).to(torch.float32).numpy()
        ms = 1e3
        timing = {"infer_ms": (end - start) * ms, "batch_size": len(requests),
                  "vision_ms": (marks["vision"] - start) * ms, "prefix_ms": (marks["prefix"] - marks["vision"]) * ms,
                  "denoise_ms": (end - marks["prefix"]) * ms}
        return robot, timing
