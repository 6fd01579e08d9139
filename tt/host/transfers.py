"""Host <-> device transfers on the host path: what from_torch / to_device / copy_host_to_device_tensor write into a
HostDevice and what to_torch / from_device read back, with the device's checks (dtype and layout rules of an
upload, a buffer written on one command queue read on another, no transfer inside a trace capture)."""

from __future__ import annotations

import torch
import ttnn

from tt.host.device import HostDevice
from tt.host.errors import BindingError, RuleViolation
from tt.host.tensor import HostTensor

BLOCK_FLOATS = (ttnn.bfloat8_b, ttnn.bfloat4_b)


def _memory_config(op_name: str, memory_config):
    """What the device's binding would refuse; DRAM interleaved when not given, as ttnn does."""
    if memory_config is not None and not isinstance(memory_config, ttnn.MemoryConfig):
        raise BindingError(f"{op_name}: memory_config expects MemoryConfig, found {type(memory_config)}")
    return memory_config or ttnn.DRAM_MEMORY_CONFIG


def upload(op, arguments: dict, device: HostDevice) -> HostTensor:
    """from_torch / as_tensor with a HostDevice: a new buffer holding ttnn's own conversion of the tensor."""
    name = op.python_fully_qualified_name
    device.traces.forbid_in_capture(f"{name} (an upload: a new buffer and a host write)")
    config = _memory_config(name, arguments.pop("memory_config", None))
    del arguments["device"]
    tensor, dtype = arguments["tensor"], arguments.get("dtype")
    layout = arguments.get("layout") or ttnn.ROW_MAJOR_LAYOUT
    if device.shapes_only:
        if dtype is None:
            raise RuleViolation(f"{name}: a shape-only upload needs an explicit dtype")
        if dtype in BLOCK_FLOATS and layout != ttnn.TILE_LAYOUT:
            raise RuleViolation(f"{name}: {dtype.name} tensors must be TILE layout, got {layout.name}")
        result = HostTensor(tensor.shape, dtype, layout, config, device)
    else:
        value = op(**arguments)
        result = HostTensor(value.shape, value.dtype, value.layout, config, device, value)
    device.traces.wrote(result, 0)
    return result


def to_device(tensor, device: HostDevice, memory_config) -> HostTensor:
    """A host ttnn tensor (a cached weight, say) into a new buffer."""
    device.traces.forbid_in_capture("to_device (a new buffer and a host write)")
    config = _memory_config("ttnn.to_device", memory_config)
    result = HostTensor(tensor.shape, tensor.dtype, tensor.layout, config, device,
                        None if device.shapes_only else tensor)
    device.traces.wrote(result, 0)
    return result


def copy_to(host_tensor, device_tensor: HostTensor, cq_id) -> None:
    """copy_host_to_device_tensor: a host write into an existing buffer, on command queue cq_id."""
    device = device_tensor.device_
    device.traces.wrote(device_tensor, cq_id)
    if device.shapes_only:
        if tuple(host_tensor.shape) != device_tensor.shape_tuple:
            raise RuleViolation(f"copy_host_to_device_tensor: a {list(host_tensor.shape)} tensor into a "
                                f"{list(device_tensor.shape_tuple)} device buffer")
        return
    device_tensor.assign(host_tensor)


def read(tensor: HostTensor, cq_id=None) -> torch.Tensor:
    """to_torch of a buffer: its contents as ttnn converts them (a meta tensor on a shape-only device)."""
    device = tensor.device_
    device.traces.forbid_in_capture("a read of a device buffer")
    device.traces.check_readable(tensor, 0 if cq_id is None else int(cq_id))
    if device.shapes_only:
        return tensor.meta()
    if tensor.value is None:
        raise RuleViolation(f"reading a device buffer that holds no value yet ({tensor})")
    return ttnn.to_torch(tensor.value)


def from_device(tensor: HostTensor):
    """from_device of a buffer: the host tensor of its contents (the buffer itself on a shape-only device)."""
    tensor.device_.traces.forbid_in_capture("a read of a device buffer")
    return tensor if tensor.device_.shapes_only else tensor.value
