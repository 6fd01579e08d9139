"""The suffix and action head on TTNN. Twin of reference/suffix.py.

On the device the suffix is whole tiles, so no op ever cuts one (SuffixLayout): the horizon action tokens sit in
rows 0..H-1, pi0's state token in row H, invisible padding after it. The noise and every x_t carry those padding rows
too: the action path runs on all rows, pi0 then keeps its action rows and puts the state token in row H
(one multiply, one add), and the action head's extra rows are read by no one.

Everything that depends only on the flow time is computed for all denoising steps before the loop (`prepare`),
one small tensor per step: pi0's time half of action_time_mlp_in (models.prepare.split_action_time_mlp_in) or
pi0.5's time MLP, from sinusoidal time embeddings staged from the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.config import SuffixConfig
from models.positional import time_embedding
from models.prepare import linear_weight, split_action_time_mlp_in, tile_padded
from tt.common import Linear, upload, upload_weight
from tt.ops import ttnn


@dataclass(frozen=True)
class SuffixLayout:
    """Device rows of the suffix: actions 0..H-1, the state token (pi0) in row H, padding to a tile multiple."""

    horizon: int
    has_state_token: bool

    @property
    def length(self) -> int:
        return self.horizon + int(self.has_state_token)

    @property
    def rows(self) -> int:
        return tile_padded(self.length)

    def logical_index(self) -> torch.Tensor:
        """int64 [rows]: each device row's index in the logical order [state token, actions], -1 on padding."""
        index = torch.full((self.rows,), -1, dtype=torch.int64)
        index[: self.horizon] = torch.arange(self.horizon) + int(self.has_state_token)
        if self.has_state_token:
            index[self.horizon] = 0
        return index

    def place_rows(self, logical_BS: torch.Tensor, fill) -> torch.Tensor:
        """[B, S, ...] in logical order -> [B, rows, ...] in device order, `fill` on padding rows."""
        index = self.logical_index()
        placed = logical_BS[:, index.clamp(min=0)]
        placed[:, index < 0] = fill
        return placed

    def logical_rows(self, device_BR: torch.Tensor) -> torch.Tensor:
        """[B, rows, ...] in device order -> [B, S, ...] in logical order (padding rows dropped)."""
        index = self.logical_index()
        device_row = torch.empty(self.length, dtype=torch.int64)
        device_row[index[index >= 0]] = torch.nonzero(index >= 0)[:, 0]
        return device_BR[:, device_row]

    def place_mask(self, mask_BSK: torch.Tensor, prefix_len: int) -> torch.Tensor:
        """A logical suffix mask [B, S, P + S] -> [B, rows, P + rows]: rows and suffix key columns in device order;
        padding queries and keys see and are seen by nothing."""
        rows = self.place_rows(mask_BSK, False)
        prefix, suffix = rows[..., :prefix_len], rows[..., prefix_len:]
        return torch.cat([prefix, self.place_rows(suffix.transpose(1, 2), False).transpose(1, 2)], dim=2)


@dataclass
class SuffixPlan:
    """Per-call constants of the denoising loop: one time condition per step, and pi0's state rows."""

    step_conditions: list  # pi0: [1, 1, 1, W] time bias of action_time_mlp_in; pi0.5: [1, 1, 1, W] adaRMS condition
    state_rows: object | None  # pi0: [B, 1, rows, W], the state token in row H, zero elsewhere


class _Suffix:
    def __init__(self, runtime, cfg: SuffixConfig, width: int, w: dict, precision):
        self.runtime, self.cfg, self.width = runtime, cfg, width
        self.layout = SuffixLayout(cfg.horizon, cfg.has_state_token)
        self.action_in_proj = Linear(runtime, linear_weight(w["action_in_proj.weight"]), w["action_in_proj.bias"],
                                     precision)
        self.action_out_proj = Linear(runtime, linear_weight(w["action_out_proj.weight"]),
                                      w["action_out_proj.bias"], precision)

    def _time_embeddings(self, times: list[float]) -> list:
        """[1, 1, 1, W] per step (one upload each, so no step's row is ever cut out of a shared tensor)."""
        emb = time_embedding(torch.tensor(times, dtype=torch.float32), self.width, self.cfg.min_period,
                             self.cfg.max_period)
        return [upload(self.runtime, row[None, None, None], ttnn.bfloat16) for row in emb]

    def velocity(self, hidden_B1RW):
        """action_out_proj over every device row -> [B, 1, rows, A]; rows H.. are never read."""
        return self.action_out_proj(hidden_B1RW)


class Pi0Suffix(_Suffix):
    def __init__(self, runtime, cfg: SuffixConfig, width: int, w: dict, precision):
        super().__init__(runtime, cfg, width, w, precision)
        self.state_proj = Linear(runtime, linear_weight(w["state_proj.weight"]), w["state_proj.bias"], precision)
        w_action, w_time = split_action_time_mlp_in(w["action_time_mlp_in.weight"], width)
        self.mlp_in_action = Linear(runtime, w_action, None, precision, activation=ttnn.UnaryOpType.SILU)
        self.mlp_in_time = Linear(runtime, w_time, w["action_time_mlp_in.bias"], precision)
        self.mlp_out = Linear(runtime, linear_weight(w["action_time_mlp_out.weight"]),
                              w["action_time_mlp_out.bias"], precision)
        rows = torch.arange(self.layout.rows)[None, None, :, None]  # column masks [1, 1, rows, 1]
        self.action_rows = upload_weight(runtime, (rows < cfg.horizon).float(), ttnn.bfloat16)
        self.state_row = upload_weight(runtime, (rows == cfg.horizon).float(), ttnn.bfloat16)

    def conditions(self, times: list[float]) -> list:
        """The time half of action_time_mlp_in at each step's flow time, [1, 1, 1, W] each."""
        return [self.mlp_in_time(emb) for emb in self._time_embeddings(times)]

    def state_input(self, state_BS: torch.Tensor) -> torch.Tensor:
        """Host staging: the state in the state token's row, [B, 1, rows, state_dim] (uploaded as bfloat16)."""
        rows = torch.zeros(state_BS.shape[0], 1, self.layout.rows, state_BS.shape[1])
        rows[:, 0, self.cfg.horizon] = state_BS.float()
        return rows

    def state_rows(self, state_in_B1RS):
        """The state token in its row, zero on every other (state_proj's bias lands on every row)."""
        return ttnn.multiply(self.state_proj(state_in_B1RS), self.state_row)

    def prepare(self, times: list[float], state_BS: torch.Tensor, batch: int) -> SuffixPlan:
        state = upload(self.runtime, self.state_input(state_BS), ttnn.bfloat16)
        return SuffixPlan(self.conditions(times), self.state_rows(state))

    def embed(self, x_t_B1RA, plan: SuffixPlan, step: int):
        """The step's time condition is the bias of the action half of action_time_mlp_in, its silu fused."""
        fused = self.mlp_out(self.mlp_in_action(self.action_in_proj(x_t_B1RA), bias=plan.step_conditions[step]))
        return ttnn.add(ttnn.multiply(fused, self.action_rows), plan.state_rows)


class Pi05Suffix(_Suffix):
    def __init__(self, runtime, cfg: SuffixConfig, width: int, w: dict, precision):
        super().__init__(runtime, cfg, width, w, precision)
        self.time_mlp_in = Linear(runtime, linear_weight(w["time_mlp_in.weight"]), w["time_mlp_in.bias"], precision)
        self.time_mlp_out = Linear(runtime, linear_weight(w["time_mlp_out.weight"]), w["time_mlp_out.bias"],
                                   precision)

    def conditions(self, times: list[float]) -> list:
        """The adaRMS condition at each step's flow time, [1, 1, 1, W] each."""
        return [ttnn.silu(self.time_mlp_out(ttnn.silu(self.time_mlp_in(emb)))) for emb in self._time_embeddings(times)]

    def prepare(self, times: list[float], state_BS: torch.Tensor | None, batch: int) -> SuffixPlan:
        return SuffixPlan(self.conditions(times), None)

    def embed(self, x_t_B1RA, plan: SuffixPlan, step: int):
        """Padding rows carry action_in_proj of x's padding rows: finite, and invisible to every real token."""
        return self.action_in_proj(x_t_B1RA)


def make_suffix(runtime, cfg: SuffixConfig, width: int, weights: dict, precision):
    return (Pi0Suffix if cfg.kind == "pi0" else Pi05Suffix)(runtime, cfg, width, weights, precision)
