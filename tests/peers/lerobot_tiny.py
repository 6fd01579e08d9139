"""lerobot 0.6.1's own PI0Policy / PI05Policy at a reduced size, saved in lerobot's own checkpoint format.

lerobot sizes its Gemma configs from variant names and builds PaliGemma from the so400m defaults; this shrinks
both (keeping 8 heads of 256, one KV head and equal depth for both experts) and the vocabulary, then gives every
parameter random values so that no zero-initialised weight (norms, adaRMS dense layers) hides a bug.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

VLM_WIDTH, EXPERT_WIDTH, DEPTH = 128, 64, 2
VISION_WIDTH, VISION_DEPTH, VISION_HEADS = 144, 2, 2  # head_dim 72 as so400m
VOCAB = 1024
CAMERAS = ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")
KINDS = ("pi0", "pi05")


@contextmanager
def _shrunk(module):
    from transformers.models.auto import CONFIG_MAPPING

    def tiny_gemma(variant: str):
        width, mlp = (VLM_WIDTH, 2 * VLM_WIDTH) if variant == "gemma_2b" else (EXPERT_WIDTH, 2 * EXPERT_WIDTH)
        return module.GemmaConfig(width=width, depth=DEPTH, mlp_dim=mlp, num_heads=8, num_kv_heads=1, head_dim=256)

    class SmallVision(dict):
        def __getitem__(self, key):
            if key != "paligemma":
                return CONFIG_MAPPING[key]

            def make():
                cfg = CONFIG_MAPPING["paligemma"]()
                vision = cfg.vision_config
                vision.hidden_size, vision.num_hidden_layers = VISION_WIDTH, VISION_DEPTH
                vision.num_attention_heads = VISION_HEADS
                return cfg
            return make

    saved = module.get_gemma_config, module.CONFIG_MAPPING
    module.get_gemma_config, module.CONFIG_MAPPING = tiny_gemma, SmallVision()
    try:
        yield
    finally:
        module.get_gemma_config, module.CONFIG_MAPPING = saved


def _fit_shrunk_widths(model) -> None:
    """lerobot hard-codes projection_dim 2048 and a 257152 vocabulary; resize those to the shrunk VLM."""
    paligemma = model.paligemma_with_expert.paligemma
    paligemma.model.multi_modal_projector.linear = nn.Linear(VISION_WIDTH, VLM_WIDTH)
    old = paligemma.model.language_model.embed_tokens
    paligemma.model.language_model.embed_tokens = type(old)(VOCAB, VLM_WIDTH, old.padding_idx,
                                                            embed_scale=VLM_WIDTH ** 0.5)
    paligemma.lm_head = nn.Linear(VLM_WIDTH, VOCAB, bias=False)
    paligemma.lm_head.weight = paligemma.model.language_model.embed_tokens.weight
    model.paligemma_with_expert.gemma_expert.lm_head = nn.Linear(EXPERT_WIDTH, VOCAB, bias=False)


def build(kind: str, seed: int):
    """A random-weight lerobot policy of the given kind ("pi0" or "pi05"), float32, eval mode."""
    from lerobot.configs.types import FeatureType, PolicyFeature

    from lerobot.policies.pi_gemma import PiGemmaRMSNorm

    from reference.random_init import init_random_

    if kind == "pi0":
        from lerobot.policies.pi0 import modeling_pi0 as module
        from lerobot.policies.pi0.configuration_pi0 import PI0Config as Config
        policy_cls = module.PI0Policy
    else:
        from lerobot.policies.pi05 import modeling_pi05 as module
        from lerobot.policies.pi05.configuration_pi05 import PI05Config as Config
        policy_cls = module.PI05Policy
    features = {f"observation.images.{c}": PolicyFeature(FeatureType.VISUAL, (3, 224, 224)) for c in CAMERAS}
    features["observation.state"] = PolicyFeature(FeatureType.STATE, (32,))
    config = Config(device="cpu", input_features=features,
                    output_features={"action": PolicyFeature(FeatureType.ACTION, (32,))})
    with _shrunk(module):
        policy = policy_cls(config)
    _fit_shrunk_widths(policy.model)
    init_random_(policy, seed, gemma_norm_types=(PiGemmaRMSNorm,))
    return policy.eval()


@torch.no_grad()
def sample_actions(policy, kind: str, images, image_masks, tokens, token_masks, state, noise,
                   **rtc_kwargs) -> torch.Tensor:
    """lerobot's network-level sampler (inputs already model-ready: images in [-1, 1], state padded). rtc_kwargs
    (inference_delay, prev_chunk_left_over, execution_horizon) need `rtc_enabled`."""
    if kind == "pi0":
        return policy.model.sample_actions(images, image_masks, tokens, token_masks, state, noise=noise, **rtc_kwargs)
    return policy.model.sample_actions(images, image_masks, tokens, token_masks, noise=noise, **rtc_kwargs)


@contextmanager
def rtc_enabled(policy, schedule: str, max_guidance_weight: float, execution_horizon: int):
    """The policy with lerobot's own RTC processor in this configuration, restored to none afterwards."""
    from lerobot.configs import RTCAttentionSchedule
    from lerobot.policies.rtc.configuration_rtc import RTCConfig

    policy.config.rtc_config = RTCConfig(prefix_attention_schedule=RTCAttentionSchedule(schedule),
                                         max_guidance_weight=max_guidance_weight,
                                         execution_horizon=execution_horizon)
    policy.init_rtc_processor()
    try:
        yield policy
    finally:
        policy.config.rtc_config = None
        policy.init_rtc_processor()
