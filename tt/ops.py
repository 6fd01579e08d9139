"""`ttnn` as model code sees it: `from tt.ops import ttnn`, then idiomatic ttnn calls.

Routing, decided per call: an op whose ttnn.Tensor arguments include one on a device runs the real op; otherwise it
runs on the host path (tt.host.executor), which checks the call as the modelled device would and computes it on host
values, or on shapes alone in a dry run. Everything that is not an op (dtypes, layouts, config classes, enums) is
the real ttnn attribute. Transfers are from_torch / as_tensor with a device, to_device, from_device and to_torch; on
the host path "the device" is a `tt.host.HostDevice`, so `from_torch(..., device=HostDevice)` builds the host
tensor with ttnn's own packing (or a shape-only `MetaTensor`) and counts as a to_device transfer, and every
`to_torch` / `from_device` counts as a from_device transfer. The executor converts with the real ttnn module, so its
internal conversions are never recorded. A refused call names the model code that made it.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from pathlib import Path

import torch
import ttnn as _ttnn
from ttnn.decorators import FastOperation

from tt.host import executor
from tt.host.device import DEVICES, HostDevice
from tt.host.errors import DeviceRefusal, RuleViolation
from tt.host.meta import MetaTensor
from tt.runtime import active_runtime

_HOST_PATH_FILES = (str(Path(__file__).resolve()), str(Path(__file__).resolve().parent / "host"))
_DEFAULT_SPEC = DEVICES["n150"]


_ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def _short_path(filename: str) -> str:
    path = Path(filename)
    return str(path.relative_to(_ROOT)) if path.is_relative_to(_ROOT) else filename


def call_site(depth: int = 2) -> str:
    """file:line (function) of the `depth` innermost callers outside tt.ops and tt.host, innermost first, files
    relative to the project: "tt/common.py:84 (Linear.__call__) <- tt/siglip.py:52 (SiglipMLP.__call__)"."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_HOST_PATH_FILES):
        frame = frame.f_back
    sites = []
    while frame is not None and len(sites) < depth:
        sites.append(f"{_short_path(frame.f_code.co_filename)}:{frame.f_lineno} ({frame.f_code.co_qualname})")
        frame = frame.f_back
    return " <- ".join(sites) or "?"


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
        found.extend(v for v in items if isinstance(v, (_ttnn.Tensor, MetaTensor, torch.Tensor)))
    return found


def _record(op: str, kind: str, backend: str, args, kwargs, usage=None) -> None:
    runtime = active_runtime()
    if runtime is not None and runtime.recording_active:
        runtime.record(op, kind, backend, _tensors(args, kwargs), kwargs, call_site(), usage)


def _host_mode() -> bool:
    runtime = active_runtime()
    return runtime is not None and runtime.mode in ("host", "dry")


def _numerics() -> str:
    runtime = active_runtime()
    return "exact" if runtime is None else runtime.numerics


def _spec(args, kwargs):
    """The modelled device of a host-path call: the one its shape-only tensors live on, else the runtime's."""
    meta = next((t for t in _tensors(args, kwargs) if isinstance(t, MetaTensor)), None)
    if meta is not None:
        return meta.device_.spec
    runtime = active_runtime()
    device = None if runtime is None else runtime.device
    return device.spec if isinstance(device, HostDevice) else _DEFAULT_SPEC


def _check_memory_config(op, memory_config) -> None:
    """What the device path's binding would refuse; on the host the config itself has no effect on values."""
    if memory_config is not None and not isinstance(memory_config, _ttnn.MemoryConfig):
        raise TypeError(f"{op.python_fully_qualified_name}: memory_config expects MemoryConfig, "
                        f"found {type(memory_config)}")


def _meta_upload(op, arguments, device: HostDevice) -> MetaTensor:
    tensor, dtype = arguments["tensor"], arguments.get("dtype")
    layout = arguments.get("layout") or _ttnn.ROW_MAJOR_LAYOUT
    if dtype is None:
        raise RuleViolation(f"{op.python_fully_qualified_name}: a shape-only upload needs an explicit dtype")
    if dtype in (_ttnn.bfloat8_b, _ttnn.bfloat4_b) and layout != _ttnn.TILE_LAYOUT:
        raise RuleViolation(f"{op.python_fully_qualified_name}: {dtype.name} tensors must be TILE layout, got "
                            f"{layout.name}")
    return MetaTensor(tensor.shape, dtype, layout, arguments.get("memory_config") or _ttnn.DRAM_MEMORY_CONFIG, device)


def _from_torch(op, args, kwargs):
    bound = inspect.signature(op.function).bind(*args, **kwargs)
    device = bound.arguments.get("device")
    if isinstance(device, HostDevice):
        _check_memory_config(op, bound.arguments.get("memory_config"))
        if device.shapes_only:
            result = _meta_upload(op, bound.arguments, device)
        else:
            bound.arguments.pop("memory_config", None)
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
    if isinstance(tensor, MetaTensor):
        _record(op.python_fully_qualified_name, "from_device", "dry", args, kwargs)
        return tensor.as_meta_torch()
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
    if _host_mode() or isinstance(tensor, MetaTensor):
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
    """One ttnn op, routed per call to the device or to the host path."""

    def __init__(self, op: FastOperation):
        self._op = op
        self.__name__ = op.python_fully_qualified_name
        self.__doc__ = op.__doc__

    def __call__(self, *args, **kwargs):
        try:
            return self._call(args, kwargs)
        except DeviceRefusal as refusal:
            refusal.call_site = call_site(depth=3)
            raise

    def _call(self, args, kwargs):
        name = self._op.python_fully_qualified_name
        transfer = _TRANSFERS.get(name)
        if transfer is not None:
            return transfer(self._op, args, kwargs)
        if _on_device(args) or _on_device(tuple(kwargs.values())):
            _record(name, "op", "device", args, kwargs)
            return self._op(*args, **kwargs)
        result, usage = executor.execute(self._op, args, kwargs, _spec(args, kwargs), _numerics())
        _record(name, "op", "dry" if usage.shapes_only else "host", args, kwargs, usage)
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
