"""The prefix on TTNN (image tokens of every shown camera, then language tokens). Twin of reference/prefix.py.

Host staging: cameras hidden in every batch element and language columns padded in every row are dropped (as in
the reference); the language part is then padded with invisible tokens to a tile multiple, so that every sequence
the device sees is a whole number of tiles and padding is hidden by the mask, never by implicit tile padding. A long
prefix is padded further, to whole SDPA_ROWS-row blocks (`pad_language`), so that SDPA may take it in 64-row query
chunks: its chunks divide the length, so an odd number of tiles allows only 32-row chunks, and every query chunk of
every head reads all of K and V again. The device-time model predicts the extra tile row costs more than it saves
below LONG_PREFIX_ROWS (one 224 px camera and a short prompt, 288 -> 320 rows: 1.7 ms slower per pi0 call on an
n150) and saves from there up (pi0.5's full prompt, 456 -> 512 rows: 0.6 ms; three cameras, 968 -> 1024: 11.8 ms).
The shown cameras of every batch element go through the vision tower as one batch, batch element by batch
element ([B * C, 1, rows, ...]); the tower's rows are a tile multiple, so its output is [B, 1, C * rows, D] by a
reshape that moves no data (ttnn.reshape's zero-cost view).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.prepare import TILE
from tt.decoder import Decoder
from tt.ops import ttnn
from tt.projector import Projector
from tt.siglip import SiglipVisionTower

SDPA_ROWS = 2 * TILE
LONG_PREFIX_ROWS = 12 * TILE


@dataclass
class Prefix:
    embs: object  # [B, 1, P, D] on the device
    pad: torch.Tensor  # bool [B, P] on the host


@dataclass
class StagedPrefix:
    """Host staging of the prefix: the shown cameras' patches, the kept and tile-padded token ids, and the pad flags
    of the rows they make."""

    patches: torch.Tensor  # [B * C, 1, rows, 3 * patch * patch]: the tower's input of each shown camera
    tokens: torch.Tensor  # [B, L_padded]
    pad: torch.Tensor  # bool [B, P]


def pad_language(tokens_BL: torch.Tensor, masks_BL: torch.Tensor, image_rows: int):
    """Invisible tokens after the language part, up to a prefix of whole tiles, or of whole SDPA_ROWS-row blocks
    when the tiled prefix has LONG_PREFIX_ROWS rows or more."""
    rows = image_rows + tokens_BL.shape[1]
    block = SDPA_ROWS if rows + -rows % TILE >= LONG_PREFIX_ROWS else TILE
    extra = -rows % block
    tokens = torch.cat([tokens_BL, tokens_BL.new_zeros(tokens_BL.shape[0], extra)], dim=1)
    return tokens, torch.cat([masks_BL, masks_BL.new_zeros(masks_BL.shape[0], extra)], dim=1)


def stage_prefix(vision: SiglipVisionTower, images: list[torch.Tensor], image_masks: list[torch.Tensor],
                 tokens_BL: torch.Tensor, token_masks_BL: torch.Tensor) -> StagedPrefix:
    shown = [(img, m) for img, m in zip(images, image_masks) if bool(m.any())]
    if not shown:
        raise ValueError("every camera is masked out for every batch element; at least one image is needed")
    keep = token_masks_BL.any(dim=0)
    tokens, token_masks = pad_language(tokens_BL[:, keep], token_masks_BL[:, keep], len(shown) * vision.rows)
    real_rows = torch.arange(vision.rows) < vision.cfg.num_tokens
    pad = torch.cat([m[:, None] & real_rows[None] for _, m in shown] + [token_masks], dim=1)
    patches = torch.stack([vision.patches(img) for img, _ in shown], dim=1)  # [B, C, 1, rows, P]
    return StagedPrefix(patches.flatten(0, 1), tokens, pad)


def prefix_embeddings(vision: SiglipVisionTower, projector: Projector, vlm: Decoder, patches_BC1RP, ids_BL):
    """[B, 1, P, D] on the device from the staged inputs on the device."""
    images = projector(vision.forward(patches_BC1RP))
    batch, _, rows, width = images.shape
    images = ttnn.reshape(images, [ids_BL.shape[0], 1, batch // ids_BL.shape[0] * rows, width])
    return ttnn.concat([images, vlm.embed_ids(ids_BL)], dim=2)
