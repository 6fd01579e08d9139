"""The suffix embedded for the action expert, and the action output head.

pi0: [state token, horizon action tokens]; each action token is MLP(concat(action_in_proj(x_t), time_emb)).
pi0.5: horizon action tokens = action_in_proj(x_t); the time MLP output conditions the expert's adaptive norms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.config import SuffixConfig
from models.positional import time_embedding


class Pi0Suffix(nn.Module):
    def __init__(self, cfg: SuffixConfig, width: int):
        super().__init__()
        self.cfg = cfg
        self.state_proj = nn.Linear(cfg.state_dim, width)
        self.action_in_proj = nn.Linear(cfg.action_dim, width)
        self.action_time_mlp_in = nn.Linear(2 * width, width)
        self.action_time_mlp_out = nn.Linear(width, width)
        self.action_out_proj = nn.Linear(width, cfg.action_dim)

    def forward(self, x_t_BHA: torch.Tensor, t_B: torch.Tensor, state_BS: torch.Tensor):
        """Returns suffix embeddings [B, 1 + horizon, W] and no adaptive-norm condition."""
        dtype = self.action_in_proj.weight.dtype
        actions = self.action_in_proj(x_t_BHA.to(dtype))
        t_emb = time_embedding(t_B, actions.shape[-1], self.cfg.min_period, self.cfg.max_period).to(dtype)
        fused = torch.cat([actions, t_emb[:, None].expand_as(actions)], dim=2)
        fused = self.action_time_mlp_out(F.silu(self.action_time_mlp_in(fused)))
        state = self.state_proj(state_BS.to(dtype))[:, None]
        return torch.cat([state, fused], dim=1), None


class Pi05Suffix(nn.Module):
    def __init__(self, cfg: SuffixConfig, width: int):
        super().__init__()
        self.cfg = cfg
        self.action_in_proj = nn.Linear(cfg.action_dim, width)
        self.time_mlp_in = nn.Linear(width, width)
        self.time_mlp_out = nn.Linear(width, width)
        self.action_out_proj = nn.Linear(width, cfg.action_dim)

    def forward(self, x_t_BHA: torch.Tensor, t_B: torch.Tensor, state_BS: torch.Tensor | None = None):
        """Returns action embeddings [B, horizon, W] and the adaptive-norm condition [B, W]."""
        dtype = self.action_in_proj.weight.dtype
        actions = self.action_in_proj(x_t_BHA.to(dtype))
        t_emb = time_embedding(t_B, actions.shape[-1], self.cfg.min_period, self.cfg.max_period).to(dtype)
        cond = F.silu(self.time_mlp_out(F.silu(self.time_mlp_in(t_emb))))
        return actions, cond


def make_suffix(cfg: SuffixConfig, width: int) -> nn.Module:
    return Pi0Suffix(cfg, width) if cfg.kind == "pi0" else Pi05Suffix(cfg, width)
