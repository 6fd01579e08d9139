"""The pi0 / pi0.5 / Qwen-backed policy in plain PyTorch: the source of truth for the TTNN tree."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from models.config import PolicyConfig
from models.masks import suffix_ar_flags
from models.noise import sampling_inputs
from models.observation import Observation
from models.rtc import RealTimeChunking

from .attention import PrefixKVCache
from .decoder import Decoder
from .dual_expert import fill_prefix_cache, run_suffix
from .prefix import Prefix, embed_prefix
from .projector import Projector
from .sampler import euler_sample
from .siglip import SiglipVisionTower
from .suffix import make_suffix


class Pi0Policy(nn.Module):
    def __init__(self, config: PolicyConfig):
        super().__init__()
        self.config = config
        self.vision = SiglipVisionTower(config.vision)
        self.projector = Projector(config.projector)
        self.vlm = Decoder(config.vlm)
        self.expert = Decoder(config.expert)
        self.suffix = make_suffix(config.suffix, config.expert.width)

    @property
    def dtype(self) -> torch.dtype:
        return self.suffix.action_in_proj.weight.dtype

    def embed_prefix(self, obs: Observation) -> Prefix:
        images, masks = obs.checked_cameras(self.config)
        return embed_prefix(self.vision, self.projector, self.vlm, [img.to(self.dtype) for img in images], masks,
                            obs.tokens, obs.token_masks)

    def fill_prefix_cache(self, prefix: Prefix) -> PrefixKVCache:
        return fill_prefix_cache(self.vlm, prefix.embs, prefix.pad)

    def velocity(self, x_t_BHA: torch.Tensor, t_B: torch.Tensor, prefix_cache: PrefixKVCache,
                 state_BS: torch.Tensor | None = None) -> torch.Tensor:
        """The flow's velocity field at (x_t, t), float32 [B, horizon, action_dim]."""
        cfg = self.config.suffix
        embs, cond = self.suffix(x_t_BHA, t_B, state_BS)
        ar = suffix_ar_flags(cfg.horizon, cfg.has_state_token)
        hidden = run_suffix(self.expert, embs, prefix_cache, ar, cond)
        return self.suffix.action_out_proj(hidden[:, -cfg.horizon:]).float()

    def padded_state(self, obs: Observation) -> torch.Tensor | None:
        return obs.padded_state(self.config.suffix)

    @torch.no_grad()
    def sample_actions(self, observation: Observation, noise: torch.Tensor | None = None,
                       num_steps: int | None = None, generator: torch.Generator | None = None,
                       on_stage: Callable[[str], None] | None = None,
                       rtc: RealTimeChunking | None = None) -> torch.Tensor:
        """Actions [B, horizon, action_dim] (float32) from the flow started at `noise` (standard normal if None).
        on_stage(name) is called as each stage ends: "vision", "prefix", "step 0", "step 1", ... (for timing).
        rtc: real-time chunking towards the previous chunk's leftover (models/rtc.py)."""
        mark = on_stage or (lambda name: None)
        noise, steps = sampling_inputs(observation, self.config, noise, num_steps, generator)
        guidance = None if rtc is None else rtc.guidance(observation.batch_size, self.config.suffix)
        prefix = self.embed_prefix(observation)
        mark("vision")
        cache = self.fill_prefix_cache(prefix)
        mark("prefix")
        state = self.padded_state(observation)
        return euler_sample(lambda x, t: self.velocity(x, t, cache, state), noise, steps,
                            on_step=lambda i: mark(f"step {i}"), guidance=guidance)
