"""`ttnn` as model code sees it: `from tt.ops import ttnn`, then idiomatic ttnn calls.

Routing, decided per call: an op whose ttnn.Tensor arguments include one on a device runs the real op; otherwise it
runs on the host executor (tt.host_executor). Everything that is not an op (dtypes, layouts, config classes, enums)
is the real ttnn attribute. Transfers are from_torch / as_tensor with a device, to_device, from_device and to_torch;
in host mode "the device" is `runtime.HostDevice`, so `from_torch(..., device=HostDevice)` builds the host tensor
with ttnn's own packing and counts as a to_device transfer, and every `to_torch` / `from_device` counts as a
from_device transfer. The executor converts with the real
ttnn module, so its internal conversions are never logged.
"""

from __future__ import annotations

import inspect
import types

import torch
import ttnn as _ttnn
from ttnn.decorators import FastOperation

from tt import host_executor
from tt.runtime import HostDevice, active_runtime


def _on_device(value) -> bool:
    if isinstance(value, _ttnn.Tensor):
        return value.storage_type() == _ttnn.StorageType.DEVICE
    if isinstance(value, (list, tuple)):
        return any(_on_device(v) for v in value)
    return False


def _tensors(args, kwargs) -> list:
    found = []
    for value in (*args, *kwargs.values()):
        items = value if isinstance(value, (list, tuple)) else (value,)
        found.extend(v for v in items if isinstance(v, (_ttnn.Tensor, torch.Tensor)))
    return found


def _record(op: str, kind: str, backend: str, args, kwargs) -> None:
    runtime = active_runtime()
    if runtime is not None:
        runtime.log.record(op, kind, backend, _tensors(args, kwargs), kwargs)


def _host_mode() -> bool:
    runtime = active_runtime()
    return runtime is not None and runtime.mode == "host"


def _check_memory_config(op, memory_config) -> None:
    """What the device path's binding would refuse; on the host the config itself has no effect."""
    if memory_config is not None and not isinstance(memory_config, _ttnn.MemoryConfig):
        raise TypeError(f"{op.python_fully_qualified_name}: memory_config expects MemoryConfig, "
                        f"found {type(memory_config)}")


def _from_torch(op, args, kwargs):
    bound = inspect.signature(op.function).bind(*args, **kwargs)
    device = bound.arguments.get("device")
    if isinstance(device, HostDevice):
        _check_memory_config(op, bound.arguments.pop("memory_config", None))
        del bound.arguments["device"]
        result = op(*bound.args, **bound.kwargs)
        _record(op.python_fully_qualified_name, "to_device", "host", args, kwargs)
        return result
    result = op(*args, **kwargs)
    if device is not None:
        _record(op.python_fully_qualified_name, "to_device", "device", args, kwargs)
    return result


def _to_torch(op, args, kwargs):
    tensor = args[0] if args else kwargs["tensor"]
    if isinstance(kwargs.get("device"), HostDevice):
        kwargs = {k: v for k, v in kwargs.items() if k != "device"}
    on_device = _on_device(tensor)
    result = op(*args, **kwargs)
    if on_device or _host_mode():
        _record(op.python_fully_qualified_name, "from_device", "device" if on_device else "host", args, kwargs)
    return result


def _to_device(op, args, kwargs):
    tensor = args[0] if args else kwargs["tensor"]
    device = args[1] if len(args) > 1 else kwargs.get("device")
    if not isinstance(device, HostDevice):
        result = op(*args, **kwargs)
        _record(op.python_fully_qualified_name, "to_device", "device", args, kwargs)
        return result
    _check_memory_config(op, args[2] if len(args) > 2 else kwargs.get("memory_config"))
    _record(op.python_fully_qualified_name, "to_device", "host", args, kwargs)
    return tensor


def _from_device(op, args, kwargs):
    tensor = args[0] if args else kwargs["tensor"]
    if _on_device(tensor):
        result = op(*args, **kwargs)
        _record(op.python_fully_qualified_name, "from_device", "device", args, kwargs)
        return result
    if _host_mode():
        _record(op.python_fully_qualified_name, "from_device", "host", args, kwargs)
        return tensor
    return op(*args, **kwargs)


_TRANSFERS = {
    "ttnn.from_torch": _from_torch,
    "ttnn.as_tensor": _from_torch,
    "ttnn.to_torch": _to_torch,
    "ttnn.to_device": _to_device,
    "ttnn.from_device": _from_device,
}


class _Op:
    """One ttnn op, routed per call to the device or to the host executor."""

    def __init__(self, op: FastOperation):
        self._op = op
        self.__name__ = op.python_fully_qualified_name
        self.__doc__ = op.__doc__

    def __call__(self, *args, **kwargs):
        name = self._op.python_fully_qualified_name
        transfer = _TRANSFERS.get(name)
        if transfer is not None:
            return transfer(self._op, args, kwargs)
        if _on_device(args) or _on_device(tuple(kwargs.values())):
            result, backend = self._op(*args, **kwargs), "device"
        else:
            result, backend = host_executor.execute(self._op, args, kwargs), "host"
        _record(name, "op", backend, args, kwargs)
        return result

    def __getattr__(self, name):
        return getattr(self._op, name)

    def __repr__(self) -> str:
        return f"<routed {self.__name__}>"


class _Namespace:
    """A ttnn module whose ops are routed and whose other attributes are the real ones."""

    def __init__(self, module: types.ModuleType):
        self._module = module

    def __getattr__(self, name):
        value = getattr(self._module, name)
        if isinstance(value, FastOperation):
            value = _Op(value)
        elif isinstance(value, types.ModuleType) and value.__name__.startswith("ttnn."):
            value = _Namespace(value)
        else:
            return value
        setattr(self, name, value)
        return value

    def __dir__(self):
        return dir(self._module)

    def __repr__(self) -> str:
        return f"<routed {self._module.__name__}>"


ttnn = _Namespace(_ttnn)
