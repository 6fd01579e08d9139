"""What the TT tests share: reading a device tensor back, and the PCC a single block must reach."""

import torch

from tt.ops import ttnn

BLOCK_PCC = {"bf16": 0.999, "bfp8": 0.995}


def to_host(x) -> torch.Tensor:
    return ttnn.to_torch(x).float()
