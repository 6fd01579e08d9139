"""The pi0 / pi0.5 / Qwen-backed policy on TTNN. Twin of reference/policy.py, same public methods.

A sample_actions call is staged on the host first (tt.staging: patches, token ids, RoPE tables, masks, the state,
the noise), then its device part runs with no host work and no transfer inside it: the vision tower, the prefix and
its KV cache once, the whole denoising loop on the device, and one read of the actions. The device part is captured
into a trace per input signature and replayed (tt.traced); the constants of a step schedule (time conditions,
pi0.5's adaptive-norm modulations) are computed once per step count and kept on the device.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from models.config import PolicyConfig
from models.masks import attention_mask_2d, prefix_positions
from models.noise import sampling_inputs
from models.observation import Observation
from models.rtc import RealTimeChunking
from tt import velocity_vjp
from tt.attention import ExpertKV, PrefixKVCache, Rope, upload_mask
from tt.common import CachedRuntime, scoped, upload
from tt.decoder import Decoder, token_ids
from tt.dual_expert import fill_prefix_cache, run_suffix
from tt.ops import ttnn
from tt.precision import Precision
from tt.prefix import Prefix, prefix_embeddings, stage_prefix
from tt.projector import Projector
from tt.rtc import DeviceGuidance, guided_velocity
from tt.sampler import euler_sample, step_times
from tt.siglip import SiglipVisionTower
from tt.staging import StagedCall, stage_call, suffix_attention_inputs
from tt.suffix import SuffixPlan, make_suffix
from tt.traced import TracedCalls
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
        self.expert = Decoder(build, config.expert, scoped(state_dict, "expert."), precision, role="expert")
        self.suffix = make_suffix(build, config.suffix, config.expert.width, scoped(state_dict, "suffix."),
                                  precision.matmuls("expert_mlp"))
        self.traced = TracedCalls(runtime)
        self._schedules: dict[int, tuple[list, list | None]] = {}
        if weight_cache is not None:
            weight_cache.report()

    # --- the per-stage API (eager; for per-step checks) ---------------------------------------------------------

    def embed_prefix(self, obs: Observation) -> Prefix:
        images, masks = obs.checked_cameras(self.config)
        staged = stage_prefix(self.vision, images, masks, obs.tokens, obs.token_masks)
        patches = upload(self.runtime, staged.patches, ttnn.bfloat16)
        ids = upload(self.runtime, *token_ids(staged.tokens))
        return Prefix(prefix_embeddings(self.vision, self.projector, self.vlm, patches, ids), staged.pad)

    def fill_prefix_cache(self, prefix: Prefix) -> PrefixKVCache:
        rope = Rope.upload(self.runtime, prefix_positions(prefix.pad), self.config.vlm.rope_theta, self.vlm.rotation)
        mask = upload_mask(self.runtime, attention_mask_2d(prefix.pad, torch.zeros_like(prefix.pad)))
        cache = fill_prefix_cache(self.vlm, prefix.embs, rope, mask)
        return PrefixKVCache(cache.keys, cache.values, prefix.pad)

    def suffix_attention(self, prefix_pad_BP: torch.Tensor):
        """RoPE and mask of the suffix's device rows against [cached prefix, suffix]; constant across steps."""
        inputs = {name: upload(self.runtime, i.tensor, i.dtype, i.layout)
                  for name, i in suffix_attention_inputs(self, prefix_pad_BP).items()}
        return Rope.on_device(self.runtime, inputs["suffix_cos"], inputs["suffix_sin"], self.expert.rotation), \
            inputs["suffix_mask"]

    def plan_denoising(self, times: list[float], state: torch.Tensor | None, batch: int):
        plan = self.suffix.prepare(times, state, batch)
        return plan, self._modulations(plan.step_conditions)

    def _modulations(self, conditions: list) -> list | None:
        if not self.config.expert.adarms:
            return None
        return [[layer.modulations(cond) for layer in self.expert.layers] + [self.expert.norm.modulation(cond)]
                for cond in conditions]

    def velocity(self, x_t_BHA: torch.Tensor, t_B: torch.Tensor, prefix_cache: PrefixKVCache,
                 state_BS: torch.Tensor | None = None) -> torch.Tensor:
        """One velocity evaluation at (x_t, t) for per-step checks: float32 [B, horizon, action_dim] on the host.
        Every row of t_B must hold the same time (the denoising loop's case)."""
        rope, mask, plan, modulations = self._one_step(t_B, prefix_cache, state_BS, x_t_BHA.shape[0])
        v = self._velocity(self.upload_actions(x_t_BHA), 0, ExpertKV(prefix_cache), rope, mask, plan, modulations)
        return self._read_actions(v)

    def velocity_and_pullback(self, x_t_BHA: torch.Tensor, t_B: torch.Tensor, prefix_cache: PrefixKVCache,
                              state_BS: torch.Tensor | None = None):
        """velocity() and the function e -> (dv/dx_t)^T e, both computed on the device (tt/velocity_vjp.py), with
        host float32 [B, horizon, action_dim] tensors in and out, for per-step checks."""
        rope, mask, plan, modulations = self._one_step(t_B, prefix_cache, state_BS, x_t_BHA.shape[0])
        v, pullback = velocity_vjp.velocity_and_pullback(self, self.upload_actions(x_t_BHA), 0, prefix_cache, rope,
                                                         velocity_vjp.PullbackContext.build(self.expert, mask), plan,
                                                         modulations)

        def host_pullback(cotangent_BHA: torch.Tensor) -> torch.Tensor:
            return self._read_actions(pullback(self.upload_actions(cotangent_BHA)))

        return self._read_actions(v), host_pullback

    def _one_step(self, t_B, prefix_cache: PrefixKVCache, state_BS, batch: int):
        if not bool((t_B == t_B[0]).all()):
            raise ValueError("the TT velocity takes one flow time for the whole batch")
        rope, mask = self.suffix_attention(prefix_cache.pad)
        plan, modulations = self.plan_denoising([float(t_B[0])], state_BS, batch)
        return rope, mask, plan, modulations

    def upload_actions(self, x_BHA: torch.Tensor):
        """[B, horizon, A] -> float32 [B, 1, rows, A] on the device (action_rows)."""
        return upload(self.runtime, self.action_rows(x_BHA), ttnn.float32)

    def action_rows(self, x_BHA: torch.Tensor) -> torch.Tensor:
        """[B, horizon, A] in the suffix's device rows, [B, 1, rows, A], zero on the other rows."""
        rows = torch.zeros(x_BHA.shape[0], 1, self.suffix.layout.rows, x_BHA.shape[2])
        rows[:, 0, : x_BHA.shape[1]] = x_BHA.float()
        return rows

    def _read_actions(self, x_B1RA) -> torch.Tensor:
        return ttnn.to_torch(x_B1RA).float()[:, 0, : self.config.suffix.horizon]

    # --- sample_actions ----------------------------------------------------------------------------------------

    def _schedule(self, steps: int):
        """The time conditions of every step (and pi0.5's modulations of every layer at every step), computed once
        per step count and kept on the device: they depend on the flow times alone."""
        if steps not in self._schedules:
            conditions = self.suffix.conditions(step_times(steps))
            self._schedules[steps] = conditions, self._modulations(conditions)
        return self._schedules[steps]

    def _velocity(self, x_B1RA, step: int, kv: ExpertKV, rope, mask, plan: SuffixPlan, modulations):
        embs = self.suffix.embed(ttnn.typecast(x_B1RA, ttnn.bfloat16), plan, step)
        hidden = run_suffix(self.expert, embs, kv, rope, mask, modulations[step] if modulations else None)
        return self.suffix.velocity(hidden)

    def _step_velocity(self, cache, rope, mask, plan: SuffixPlan, modulations, times: list[float],
                       guidance: DeviceGuidance | None):
        """velocity(x, step) for the Euler loop: the plain one, or guided by real-time chunking."""
        kv = ExpertKV(cache)

        def plain(x, step):
            return self._velocity(x, step, kv, rope, mask, plan, modulations)

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

    def _device_part(self, inputs: dict, staged: StagedCall, mark: Callable[[str], None] = lambda name: None):
        """The device part of sample_actions: device tensors in (tt.staging's names), x after the last step out."""
        section, times = self.runtime.section, step_times(staged.steps)
        with section("schedule"):  # ops only on the first call with this step count
            conditions, modulations = self._schedule(staged.steps)
        with section("vision"):
            embs = prefix_embeddings(self.vision, self.projector, self.vlm, inputs["patches"], inputs["token_ids"])
        mark("vision")
        with section("prefix"):
            rope = Rope.on_device(self.runtime, inputs["prefix_cos"], inputs["prefix_sin"], self.vlm.rotation)
            cache = fill_prefix_cache(self.vlm, embs, rope, inputs["prefix_mask"])
        mark("prefix")
        with section("plan"):
            rope = Rope.on_device(self.runtime, inputs["suffix_cos"], inputs["suffix_sin"], self.expert.rotation)
            mask = inputs["suffix_mask"]
            state_rows = self.suffix.state_rows(inputs["state_rows"]) if "state_rows" in inputs else None
            plan = SuffixPlan(conditions, state_rows)
            guidance = None if staged.guidance is None else \
                DeviceGuidance(inputs["guidance_target"], inputs["guidance_weights"], staged.guidance)
            velocity = self._step_velocity(cache, rope, mask, plan, modulations, times, guidance)
        with section("denoise"):
            return euler_sample(velocity, inputs["noise"], staged.steps, on_step=lambda i: mark(f"step {i}"),
                                step_scope=lambda i: section(f"step {i}"))

    def _marker(self, on_stage: Callable[[str], None]):
        """Stage callback; on a card it first waits for the enqueued work, so stage times are real."""
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
        guidance (and, with differentiate_velocity, its pullback through the expert) runs inside the on-device loop.
        With on_stage the call runs eagerly, so each stage can be timed; otherwise it is traced (tt.traced)."""
        noise, steps = sampling_inputs(observation, self.config, noise, num_steps, generator)
        guidance = None if rtc is None else rtc.guidance(observation.batch_size, self.config.suffix)
        images, masks = observation.checked_cameras(self.config)
        prefix = stage_prefix(self.vision, images, masks, observation.tokens, observation.token_masks)
        staged = stage_call(self, prefix, observation.padded_state(self.config.suffix), noise, steps, guidance)
        if on_stage is None:
            x = self.traced.run(staged, self._device_part)
        else:
            x = self._device_part({name: upload(self.runtime, i.tensor, i.dtype, i.layout)
                                   for name, i in staged.inputs.items()}, staged, self._marker(on_stage))
        return self._read_actions(x)
