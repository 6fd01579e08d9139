"""The prefix: image tokens of every camera, then language tokens; bidirectional among themselves."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .decoder import Decoder
from .projector import Projector
from .siglip import SiglipVisionTower


@dataclass
class Prefix:
    embs: torch.Tensor  # [B, P, D] VLM-width embeddings
    pad: torch.Tensor  # bool [B, P]: False on language padding and on masked cameras


def embed_prefix(vision: SiglipVisionTower, projector: Projector, vlm: Decoder, images: list[torch.Tensor],
                 image_masks: list[torch.Tensor], tokens_BL: torch.Tensor, token_masks_BL: torch.Tensor) -> Prefix:
    """images[c]: [B, 3, H, W]; image_masks[c]: bool [B].

    Cameras hidden in every batch element and language columns padded in every row are left out: nothing can
    attend to them and position ids skip them, so the result for the visible tokens is unchanged.
    """
    shown = [(img, m) for img, m in zip(images, image_masks) if bool(m.any())]
    if not shown:
        raise ValueError("every camera is masked out for every batch element; at least one image is needed")
    b = tokens_BL.shape[0]
    pixels = torch.cat([img for img, _ in shown], dim=0)  # all cameras in one batch
    image_tokens = projector(vision(pixels)).reshape(len(shown), b, -1, vlm.cfg.width)
    n = image_tokens.shape[2]

    keep = token_masks_BL.any(dim=0)
    tokens_BL, token_masks_BL = tokens_BL[:, keep], token_masks_BL[:, keep]
    lang = vlm.embed(tokens_BL).to(image_tokens.dtype)

    embs = torch.cat([*image_tokens, lang], dim=1)
    pad = torch.cat([m[:, None].expand(b, n) for _, m in shown] + [token_masks_BL], dim=1)
    return Prefix(embs, pad)
