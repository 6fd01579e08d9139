"""Multi-modal projector: image tokens from the vision width to the VLM width (no rescaling afterwards)."""

from __future__ import annotations

import torch
from torch import nn

from models.config import ProjectorConfig


class Projector(nn.Module):
    def __init__(self, cfg: ProjectorConfig):
        super().__init__()
        self.linear = nn.Linear(cfg.input_dim, cfg.output_dim)

    def forward(self, image_tokens_BND: torch.Tensor) -> torch.Tensor:
        return self.linear(image_tokens_BND)
