"""Prices op calls before they are made: the device time the host path predicts for one call on tensors of given
specs, through the same binding, rules, program models and timing as a dry run (tt.host.executor on shapes alone).
Model code chooses between equivalent forms with it, on a card as on the host path: nothing is recorded, no value is
computed, and the tensors priced live on a scratch shape-only device of the same modelled chip.
"""

from __future__ import annotations

import functools

import ttnn

from tt.host import executor
from tt.host.device import DeviceSpec, HostDevice
from tt.host.tensor import HostTensor
from tt.host.timing import OpCost, arch_constants


class Pricing:
    """A scratch shape-only device of one modelled chip, on which hypothetical calls are priced."""

    def __init__(self, spec: DeviceSpec):
        self.spec = spec
        self._device = HostDevice(spec, shapes_only=True)

    @classmethod
    @functools.cache
    def of(cls, spec: DeviceSpec) -> "Pricing":
        return cls(spec)

    def tensor(self, shape, dtype, layout=ttnn.TILE_LAYOUT, memory_config=ttnn.DRAM_MEMORY_CONFIG) -> HostTensor:
        """A shape-only tensor on the scratch device."""
        return HostTensor(tuple(shape), dtype, layout, memory_config, self._device)

    def like(self, tensor, shape=None) -> HostTensor:
        """A shape-only stand-in for `tensor` (a card's or the host path's): its dtype, layout and memory config, and
        its shape unless `shape` is given."""
        return self.tensor(tuple(tensor.shape) if shape is None else shape, tensor.dtype, tensor.layout,
                           tensor.memory_config())

    def cost(self, op_name: str, *args, **kwargs) -> OpCost | None:
        """The predicted cost of the call `op_name(*args, **kwargs)` (tt.host.timing.OpCost); None for a view, which
        runs no program. A call the device would refuse raises, as it would if made."""
        op = functools.reduce(getattr, op_name.split(".")[1:], ttnn)
        _, usage = executor.execute(op, args, kwargs, self.spec)
        if usage.programs == ():
            return None
        if usage.cost is None:
            raise NotImplementedError(f"{op_name}: the host path has no device-time model of this call (of this op, "
                                      "or of its sharded form: only matmuls are modelled sharded), so it cannot be "
                                      "priced")
        return usage.cost

    def ns(self, op_name: str, *args, **kwargs) -> float:
        """Predicted time the call holds a traced call's queue: its kernel plus the op-to-op gap (0 for a view)."""
        cost = self.cost(op_name, *args, **kwargs)
        return 0.0 if cost is None else cost.kernel_ns + arch_constants(self.spec).traced_gap_ns
