"""float32 linear layers through oneDNN for CPU inference.

On the AMD EPYC CPUs this project benchmarks on, torch's default float32 GEMM (MKL sgemm) reaches about half the
throughput of oneDNN's (measured 120-180 vs 265-340 GFLOP/s on 2 cores for the pi0 MLP shapes). The math is
unchanged: float32 inputs, weights and accumulation; only the summation order differs (~1e-6 relative).
bfloat16 linears already run through oneDNN and are left alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class OneDNNLinear(nn.Module):
    """Stand-in for a float32 nn.Linear, weight kept in oneDNN's tensor format; no gradient reaches the weights."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("weight", linear.weight.detach().to_mkldnn())
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().to_mkldnn())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad and torch.is_grad_enabled():
            # mkldnn_linear's backward needs a dense weight; a pullback (real-time chunking's vector-Jacobian
            # product) runs the plain op on a dense copy instead.
            bias = None if self.bias is None else self.bias.to_dense()
            return F.linear(x, self.weight.to_dense(), bias)
        return torch._C._nn.mkldnn_linear(x.contiguous().to_mkldnn(), self.weight, self.bias).to_dense()


def use_onednn_linears_(module: nn.Module) -> nn.Module:
    """Replace every float32 nn.Linear below `module` in place, one at a time (peak memory grows by one layer)."""
    for name, child in module.named_children():
        if isinstance(child, nn.Linear) and child.weight.dtype == torch.float32:
            setattr(module, name, OneDNNLinear(child))
        else:
            use_onednn_linears_(child)
    return module
