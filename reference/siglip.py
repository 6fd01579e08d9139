"""SigLIP vision tower (so400m/14 and smaller), Hugging Face parameter names, no pooling head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.config import SiglipConfig
from models.positional import interpolate_positions


class SiglipEmbeddings(nn.Module):
    def __init__(self, cfg: SiglipConfig):
        super().__init__()
        self.patch_embedding = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.position_embedding = nn.Embedding(cfg.pretrained_grid ** 2, cfg.width)

    def forward(self, pixels_B3HW: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embedding(pixels_B3HW.to(self.patch_embedding.weight.dtype))
        grid = patches.shape[-1]
        return patches.flatten(2).transpose(1, 2) + interpolate_positions(self.position_embedding.weight, grid)


class SiglipAttention(nn.Module):
    def __init__(self, cfg: SiglipConfig):
        super().__init__()
        self.num_heads, self.head_dim = cfg.num_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.width, cfg.width)
        self.k_proj = nn.Linear(cfg.width, cfg.width)
        self.v_proj = nn.Linear(cfg.width, cfg.width)
        self.out_proj = nn.Linear(cfg.width, cfg.width)

    def forward(self, x_BND: torch.Tensor) -> torch.Tensor:
        b, n, d = x_BND.shape

        def heads(t):
            return t.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

        out = F.scaled_dot_product_attention(heads(self.q_proj(x_BND)), heads(self.k_proj(x_BND)),
                                             heads(self.v_proj(x_BND)), scale=self.head_dim ** -0.5)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


class SiglipMLP(nn.Module):
    def __init__(self, cfg: SiglipConfig):
        super().__init__()
        self.fc1 = nn.Linear(cfg.width, cfg.mlp_dim)
        self.fc2 = nn.Linear(cfg.mlp_dim, cfg.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class SiglipEncoderLayer(nn.Module):
    def __init__(self, cfg: SiglipConfig):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(cfg.width, eps=cfg.norm_eps)
        self.self_attn = SiglipAttention(cfg)
        self.layer_norm2 = nn.LayerNorm(cfg.width, eps=cfg.norm_eps)
        self.mlp = SiglipMLP(cfg)

    def forward(self, x_BND: torch.Tensor) -> torch.Tensor:
        x_BND = x_BND + self.self_attn(self.layer_norm1(x_BND))
        return x_BND + self.mlp(self.layer_norm2(x_BND))


class SiglipEncoder(nn.Module):
    def __init__(self, cfg: SiglipConfig):
        super().__init__()
        self.layers = nn.ModuleList(SiglipEncoderLayer(cfg) for _ in range(cfg.depth))

    def forward(self, x_BND: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x_BND = layer(x_BND)
        return x_BND


class SiglipVisionTower(nn.Module):
    """pixels [B, 3, H, W] in [-1, 1] -> tokens [B, (H / patch) * (W / patch), width]."""

    def __init__(self, cfg: SiglipConfig):
        super().__init__()
        self.embeddings = SiglipEmbeddings(cfg)
        self.encoder = SiglipEncoder(cfg)
        self.post_layernorm = nn.LayerNorm(cfg.width, eps=cfg.norm_eps)

    def forward(self, pixels_B3HW: torch.Tensor) -> torch.Tensor:
        return self.post_layernorm(self.encoder(self.embeddings(pixels_B3HW)))
