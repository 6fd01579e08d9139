"""What the TT tests share: reading a device tensor back, and the PCC gates.

The gates are calibrated under device numerics (tt.host.numerics, the tests' default): each is the lowest PCC
measured on the tiny presets with 1 - PCC allowed to grow at least 4x, rounded down (the measurements, exact and
device, are in the closing note of issue 13). Exact numerics give at least these figures.
"""

import torch

from tt.ops import ttnn

# A single block; lowest measured under device numerics: bf16 0.99995 (pi0-qwen3 shared-attention layer), bfp8
# 0.99972 (the same layer) -> 1 - PCC x5.8 and x5.3.
BLOCK_PCC = {"bf16": 0.9997, "bfp8": 0.9985}
# One denoising step from each side's prefix cache (bfp8); lowest 0.99951 (pi0-qwen3-tiny) -> x4.0.
STEP_PCC = 0.998
# sample_actions; lowest bf16 0.999986 (pi0-tiny), bfp8 0.99981 (the pi0-qwen3 demo checkpoint) -> x7.1 and x5.3.
END_TO_END_PCC = {"bf16": 0.9999, "bfp8": 0.999}


def to_host(x) -> torch.Tensor:
    return ttnn.to_torch(x).float()
