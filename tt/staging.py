"""Host staging of one sample_actions call: every tensor its device part reads, computed on the host before the
first device op (image patches, token ids, RoPE tables, additive masks, the state in its row, the noise, real-time
chunking's target and weights), by name, with the dtype and layout each is uploaded in.

The names and shapes of these inputs, with the step count and the guidance mode, decide the device part's whole op
sequence: they are the signature a trace is captured for.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.masks import attention_mask_2d, prefix_positions, suffix_ar_flags, suffix_attention_mask, suffix_positions
from models.rtc import ChunkGuidance
from tt.attention import Rope, mask_input
from tt.decoder import token_ids
from tt.ops import ttnn
from tt.prefix import StagedPrefix
from tt.rtc import DeviceGuidance

TILE, ROW_MAJOR = ttnn.TILE_LAYOUT, ttnn.ROW_MAJOR_LAYOUT


@dataclass(frozen=True)
class Input:
    tensor: torch.Tensor
    dtype: object
    layout: object = TILE

    def host(self):
        """The tensor converted for the device (a host ttnn tensor, ttnn's own rounding and tiling)."""
        return ttnn.from_torch(self.tensor.contiguous(), dtype=self.dtype, layout=self.layout)


@dataclass
class StagedCall:
    inputs: dict[str, Input]
    steps: int
    guidance: ChunkGuidance | None

    @property
    def signature(self) -> tuple:
        shapes = tuple((name, tuple(i.tensor.shape), i.dtype, i.layout) for name, i in self.inputs.items())
        mode = None if self.guidance is None else self.guidance.differentiate_velocity
        return shapes, self.steps, mode


def stage_call(policy, prefix: StagedPrefix, state_BS: torch.Tensor | None, noise_BHA: torch.Tensor, steps: int,
               guidance: ChunkGuidance | None) -> StagedCall:
    """policy: tt.policy.Pi0Policy (its config, rotations and suffix layout)."""
    config, layout = policy.config, policy.suffix.layout
    inputs = {"patches": Input(prefix.patches, ttnn.bfloat16)}
    inputs["token_ids"] = Input(*token_ids(prefix.tokens))
    cos, sin = Rope.tables(prefix_positions(prefix.pad), config.vlm.rope_theta, policy.vlm.rotation)
    inputs |= {"prefix_cos": Input(cos, ttnn.bfloat16), "prefix_sin": Input(sin, ttnn.bfloat16),
               "prefix_mask": Input(mask_input(attention_mask_2d(prefix.pad, torch.zeros_like(prefix.pad))),
                                    ttnn.bfloat16)}
    inputs |= suffix_attention_inputs(policy, prefix.pad)
    if config.suffix.has_state_token:
        inputs["state_rows"] = Input(policy.suffix.state_input(state_BS), ttnn.bfloat16)
    inputs["noise"] = Input(policy.action_rows(noise_BHA), ttnn.float32)
    if guidance is not None:
        target, weights = DeviceGuidance.inputs(guidance, layout.rows)
        inputs |= {"guidance_target": Input(target, ttnn.float32), "guidance_weights": Input(weights, ttnn.float32)}
    return StagedCall(inputs, steps, guidance)


def suffix_attention_inputs(policy, prefix_pad_BP: torch.Tensor) -> dict[str, Input]:
    """RoPE tables and the mask of the suffix's device rows (SuffixLayout) against [prefix, suffix]."""
    layout = policy.suffix.layout
    mask = suffix_attention_mask(prefix_pad_BP, suffix_ar_flags(layout.horizon, layout.has_state_token))
    positions = layout.place_rows(suffix_positions(prefix_pad_BP, layout.length), 0)
    cos, sin = Rope.tables(positions, policy.config.expert.rope_theta, policy.expert.rotation)
    return {"suffix_cos": Input(cos, ttnn.bfloat16), "suffix_sin": Input(sin, ttnn.bfloat16),
            "suffix_mask": Input(mask_input(layout.place_mask(mask, prefix_pad_BP.shape[1])), ttnn.bfloat16)}
