"""The pi0 / pi0.5 / Qwen-backed policy on TTNN. Twin of reference/policy.py, same public methods.

Host staging per sample_actions call, all before the first device op of the network: image patches, token ids,
RoPE tables, attention masks, the time embeddings of every step, the state and the noise are uploaded. After that
the prefix runs once, the whole denoising loop runs on the device, and the actions come back in one transfer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from models.config import PolicyConfig
from models.masks import attention_mask_2d, prefix_positions, suffix_ar_flags, suffix_attention_mask, suffix_positions
from models.noise import sampling_inputs
from models.observation import Observation
from models.rtc import RealTimeChunking
from tt import velocity_vjp
from tt.attention import PrefixKVCache, Rope, upload_mask
from tt.common import CachedRuntime, scoped, upload
from tt.decoder import Decoder
from tt.dual_expert import fill_prefix_cache, run_suffix
from tt.ops import ttnn
from tt.precision import Precision
from tt.prefix import Prefix, embed_prefix
from tt.projector import Projector
from tt.rtc import DeviceGuidance, guided_velocity
from tt.sampler import euler_sample, step_times
from tt.siglip import SiglipVisionTower
from tt.suffix import SuffixPlan, make_suffix
from tt.weight_cache import WeightCache


class Pi0Policy:
    def __init__(self, runtime, config: PolicyConfig, state_dict: dict[str, torch.Tensor],
                 precision: Precision = Precision(), weight_cache: WeightCache | None = None):
        """state_dict: reference parameter names (reference.policy.Pi0Policy). With a weight_cache, prepared
        weights are read from / stored to disk instead of being converted on every load."""
        self.runtime, self.config, self.precision = runtime, config, precision
        build = runtime if weight_cache is None else CachedRuntime(runtime, weight_cache)
        self.vision = SiglipVisionTower(build, config.vision, scoped(state_dict, "vision."), precision)
        self.projector = Projector(build, scoped(state_dict, "projector."), precision)
        self.vlm = Decoder(build, config.vlm, scoped(state_dict, "vlm."), precision)
        self.expert = Decoder(build, config.expert, scoped(state_dict, "expert."), precision)
        self.suffix = make_suffix(build, config.suffix, config.expert.width, scoped(state_dict, "suffix."),
                                  precision)
        if weight_cache is not None:
            weight_cache.report()

    def embed_prefix(self, obs: Observation) -> Prefix:
        images, masks = obs.checked_cameras(self.config)
        return embed_prefix(self.vision, self.projector, self.vlm, images, masks, obs.tokens, obs.token_masks)

    def fill_prefix_cache(self, prefix: Prefix) -> PrefixKVCache:
        rope = Rope.upload(self.runtime, prefix_positions(prefix.pad), self.config.vlm.rope_theta, self.vlm.rotation)
        mask = upload_mask(self.runtime, attention_mask_2d(prefix.pad, torch.zeros_like(prefix.pad)))
        return fill_prefix_cache(self.vlm, prefix.embs, prefix.pad, rope, mask)

    def suffix_attention(self, cache: PrefixKVCache):
        """RoPE and mask of the suffix's device rows (SuffixLayout) against [cached prefix, suffix]; constant across
        steps."""
        layout = self.suffix.layout
        mask = suffix_attention_mask(cache.pad, suffix_ar_flags(layout.horizon, layout.has_state_token))
        positions = layout.place_rows(suffix_positions(cache.pad, layout.length), 0)
        rope = Rope.upload(self.runtime, positions, self.config.expert.rope_theta, self.expert.rotation)
        return rope, upload_mask(self.runtime, layout.place_mask(mask, cache.length))

    def plan_denoising(self, times: list[float], state: torch.Tensor | None, batch: int):
        plan = self.suffix.prepare(times, state, batch)
        if not self.config.expert.adarms:
            return plan, None
        modulations = [[layer.modulations(cond) for layer in self.expert.layers]
                       + [self.expert.norm.modulation(cond)] for cond in plan.step_conditions]
        return plan, modulations

    def _velocity(self, x_B1RA, step: int, cache, rope, mask, plan: SuffixPlan, modulations):
        embs = self.suffix.embed(ttnn.typecast(x_B1RA, ttnn.bfloat16), plan, step)
        hidden = run_suffix(self.expert, embs, cache, rope, mask, modulations[step] if modulations else None)
        return self.suffix.velocity(hidden)

    def upload_actions(self, x_BHA: torch.Tensor):
        """[B, horizon, A] -> float32 [B, 1, rows, A] on the device, zero on the suffix's other rows."""
        rows = torch.zeros(x_BHA.shape[0], 1, self.suffix.layout.rows, x_BHA.shape[2])
        rows[:, 0, : x_BHA.shape[1]] = x_BHA.float()
        return upload(self.runtime, rows, ttnn.float32)

    def _read_actions(self, x_B1RA) -> torch.Tensor:
        return ttnn.to_torch(x_B1RA).float()[:, 0, : self.config.suffix.horizon]

    def _step_velocity(self, cache, rope, mask, plan: SuffixPlan, modulations, times: list[float],
                       guidance: DeviceGuidance | None):
        """velocity(x, step) for the Euler loop: the plain one, or guided by real-time chunking."""
        def plain(x, step):
            return self._velocity(x, step, cache, rope, mask, plan, modulations)

        if guidance is None:
            return plain
        if guidance.plan.differentiate_velocity:
            context = velocity_vjp.PullbackContext.build(self.expert, mask)

            def evaluate(x, step):
                return velocity_vjp.velocity_and_pullback(self, x, step, cache, rope, context, plan, modulations)
        else:
            def evaluate(x, step):
                return plain(x, step), None
        return lambda x, step: guided_velocity(lambda x_t: evaluate(x_t, step), x, times[step], guidance)

    def padded_state(self, obs: Observation) -> torch.Tensor | None:
        return obs.padded_state(self.config.suffix)

    def velocity(self, x_t_BHA: torch.Tensor, t_B: torch.Tensor, prefix_cache: PrefixKVCache,
                 state_BS: torch.Tensor | None = None) -> torch.Tensor:
        """One velocity evaluation at (x_t, t) for per-step checks: float32 [B, horizon, action_dim] on the host.
        Every row of t_B must hold the same time (the denoising loop's case)."""
        if not bool((t_B == t_B[0]).all()):
            raise ValueError("the TT velocity takes one flow time for the whole batch")
        rope, mask = self.suffix_attention(prefix_cache)
        plan, modulations = self.plan_denoising([float(t_B[0])], state_BS, x_t_BHA.shape[0])
        v = self._velocity(self.upload_actions(x_t_BHA), 0, prefix_cache, rope, mask, plan, modulations)
        return self._read_actions(v)

    def velocity_and_pullback(self, x_t_BHA: torch.Tensor, t_B: torch.Tensor, prefix_cache: PrefixKVCache,
                              state_BS: torch.Tensor | None = None):
        """velocity() and the function e -> (dv/dx_t)^T e, both computed on the device (tt/velocity_vjp.py), with
        host float32 [B, horizon, action_dim] tensors in and out, for per-step checks."""
        if not bool((t_B == t_B[0]).all()):
            raise ValueError("the TT velocity takes one flow time for the whole batch")
        rope, mask = self.suffix_attention(prefix_cache)
        plan, modulations = self.plan_denoising([float(t_B[0])], state_BS, x_t_BHA.shape[0])
        v, pullback = velocity_vjp.velocity_and_pullback(self, self.upload_actions(x_t_BHA), 0, prefix_cache, rope,
                                                         velocity_vjp.PullbackContext.build(self.expert, mask), plan,
                                                         modulations)

        def host_pullback(cotangent_BHA: torch.Tensor) -> torch.Tensor:
            return self._read_actions(pullback(self.upload_actions(cotangent_BHA)))

        return self._read_actions(v), host_pullback

    def _marker(self, on_stage: Callable[[str], None] | None):
        """Stage callback; on a card it first waits for the enqueued work, so stage times are real."""
        if on_stage is None:
            return lambda name: None

        def mark(name: str) -> None:
            if self.runtime.mode == "device":
                ttnn.synchronize_device(self.runtime.device)
            on_stage(name)
        return mark

    def sample_actions(self, observation: Observation, noise: torch.Tensor | None = None,
                       num_steps: int | None = None, generator: torch.Generator | None = None,
                       on_stage: Callable[[str], None] | None = None,
                       rtc: RealTimeChunking | None = None) -> torch.Tensor:
        """Actions [B, horizon, action_dim] (float32); on_stage and rtc as in the reference policy. With rtc the
        guidance (and, with differentiate_velocity, its pullback through the expert) runs inside the on-device loop."""
        mark, section = self._marker(on_stage), self.runtime.section
        noise, steps = sampling_inputs(observation, self.config, noise, num_steps, generator)
        chunk_guidance = None if rtc is None else rtc.guidance(observation.batch_size, self.config.suffix)
        times = step_times(steps)
        with section("vision"):
            prefix = self.embed_prefix(observation)
        mark("vision")
        with section("prefix"):
            cache = self.fill_prefix_cache(prefix)
        mark("prefix")
        with section("plan"):
            rope, mask = self.suffix_attention(cache)
            plan, modulations = self.plan_denoising(times, self.padded_state(observation), observation.batch_size)
            x = self.upload_actions(noise)
            guidance = None if chunk_guidance is None else \
                DeviceGuidance.upload(self.runtime, chunk_guidance, self.suffix.layout.rows)
            velocity = self._step_velocity(cache, rope, mask, plan, modulations, times, guidance)
        with section("denoise"):
            x = euler_sample(velocity, x, steps, on_step=lambda i: mark(f"step {i}"),
                             step_scope=lambda i: section(f"step {i}"))
        return self._read_actions(x)
