"""The suffix and action head on TTNN. Twin of reference/suffix.py.

Everything that depends only on the flow time is computed for all denoising steps before the loop (`prepare`):
the sinusoidal time embeddings are staged from the host once, then pi0's time half of action_time_mlp_in
(models.prepare.split_action_time_mlp_in) or pi0.5's time MLP run on the device. The suffix is padded with
invisible tokens to a tile multiple.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.config import SuffixConfig
from models.positional import time_embedding
from models.prepare import linear_weight, split_action_time_mlp_in, tile_padded
from tt.common import Linear, upload
from tt.ops import ttnn


@dataclass
class SuffixPlan:
    """Per-call constants of the denoising loop: one time condition per step, the state token, the padding."""

    step_conditions: list  # pi0: [1, 1, 1, W] time bias of action_time_mlp_in; pi0.5: [1, 1, 1, W] adaRMS condition
    state_token: object | None  # [B, 1, 1, W] (pi0)
    padding: object  # [B, 1, S_pad - S, W] zeros


class _Suffix:
    def __init__(self, runtime, cfg: SuffixConfig, width: int, w: dict, precision):
        self.runtime, self.cfg, self.width = runtime, cfg, width
        self.action_in_proj = Linear(runtime, linear_weight(w["action_in_proj.weight"]), w["action_in_proj.bias"],
                                     precision)
        self.action_out_proj = Linear(runtime, linear_weight(w["action_out_proj.weight"]),
                                      w["action_out_proj.bias"], precision)

    @property
    def length(self) -> int:
        return self.cfg.horizon + int(self.cfg.has_state_token)

    def _time_embeddings(self, times: list[float]):
        emb = time_embedding(torch.tensor(times, dtype=torch.float32), self.width, self.cfg.min_period,
                             self.cfg.max_period)
        return upload(self.runtime, emb[None, None], ttnn.bfloat16)  # [1, 1, steps, W]

    def _padding(self, batch: int):
        extra = tile_padded(self.length) - self.length
        return upload(self.runtime, torch.zeros(batch, 1, extra, self.width), ttnn.bfloat16)

    @staticmethod
    def _rows(t, count: int):
        width = t.shape[-1]
        return [ttnn.slice(t, [0, 0, i, 0], [1, 1, i + 1, width]) for i in range(count)]

    def velocity(self, hidden_B1SW):
        """action_out_proj over the action rows of the expert's output -> [B, 1, horizon, A]."""
        start = self.length - self.cfg.horizon
        b, _, _, w = hidden_B1SW.shape
        actions = ttnn.slice(hidden_B1SW, [0, 0, start, 0], [b, 1, start + self.cfg.horizon, w])
        return self.action_out_proj(actions)


class Pi0Suffix(_Suffix):
    def __init__(self, runtime, cfg: SuffixConfig, width: int, w: dict, precision):
        super().__init__(runtime, cfg, width, w, precision)
        self.state_proj = Linear(runtime, linear_weight(w["state_proj.weight"]), w["state_proj.bias"], precision)
        w_action, w_time = split_action_time_mlp_in(w["action_time_mlp_in.weight"], width)
        self.mlp_in_action = Linear(runtime, w_action, None, precision)
        self.mlp_in_time = Linear(runtime, w_time, w["action_time_mlp_in.bias"], precision)
        self.mlp_out = Linear(runtime, linear_weight(w["action_time_mlp_out.weight"]),
                              w["action_time_mlp_out.bias"], precision)

    def prepare(self, times: list[float], state_BS: torch.Tensor, batch: int) -> SuffixPlan:
        time_bias = self.mlp_in_time(self._time_embeddings(times))
        state = upload(self.runtime, state_BS.float()[:, None, None], ttnn.bfloat16)
        return SuffixPlan(self._rows(time_bias, len(times)), self.state_proj(state),
                          self._padding(batch))

    def embed(self, x_t_B1HA, plan: SuffixPlan, step: int):
        fused = ttnn.add(self.mlp_in_action(self.action_in_proj(x_t_B1HA)), plan.step_conditions[step])
        fused = self.mlp_out(ttnn.silu(fused))
        return ttnn.concat([plan.state_token, fused, plan.padding], dim=2)


class Pi05Suffix(_Suffix):
    def __init__(self, runtime, cfg: SuffixConfig, width: int, w: dict, precision):
        super().__init__(runtime, cfg, width, w, precision)
        self.time_mlp_in = Linear(runtime, linear_weight(w["time_mlp_in.weight"]), w["time_mlp_in.bias"], precision)
        self.time_mlp_out = Linear(runtime, linear_weight(w["time_mlp_out.weight"]), w["time_mlp_out.bias"],
                                   precision)

    def prepare(self, times: list[float], state_BS: torch.Tensor | None, batch: int) -> SuffixPlan:
        cond = ttnn.silu(self.time_mlp_out(ttnn.silu(self.time_mlp_in(self._time_embeddings(times)))))
        return SuffixPlan(self._rows(cond, len(times)), None, self._padding(batch))

    def embed(self, x_t_B1HA, plan: SuffixPlan, step: int):
        return ttnn.concat([self.action_in_proj(x_t_B1HA), plan.padding], dim=2)


def make_suffix(runtime, cfg: SuffixConfig, width: int, weights: dict, precision):
    return (Pi0Suffix if cfg.kind == "pi0" else Pi05Suffix)(runtime, cfg, width, weights, precision)
