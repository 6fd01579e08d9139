"""`ttnn` as model code sees it: `from tt.ops import ttnn`, then idiomatic ttnn calls.

Routing, decided per call: an op whose tensors live on a Tenstorrent card runs the real op; one whose tensors are the
host path's (tt.host.HostTensor on a tt.host.HostDevice) runs on the host path (tt.host.executor), which checks the
call as the modelled device would and computes it on host values, or on shapes alone. Transfers (from_torch /
as_tensor with a device, to_device, copy_host_to_device_tensor, from_device, to_torch) go to tt.host.transfers, and
trace capture and replay, command-queue events and device synchronisation to the HostDevice, when the device or
tensor is the host path's. Everything else (dtypes, layouts, config classes, enums) is the real ttnn attribute.

Ops and transfers are recorded into the runtime's open recordings (tt.runtime); a call that a device would refuse
raises naming the model code that made it.
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

from tt.host import executor, transfers
from tt.host.binding import bind
from tt.host.device import DEVICES, HostDevice
from tt.host.errors import DeviceRefusal
from tt.host.tensor import HostTensor
from tt.host.trace import HostEvent, TraceEntry
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


def _on_card(value) -> bool:
    if isinstance(value, _ttnn.Tensor):
        return value.storage_type() == _ttnn.StorageType.DEVICE
    if isinstance(value, (list, tuple)):
        return any(_on_card(v) for v in value)
    return False


def _tensors(args, kwargs) -> list:
    found = []
    for value in (*args, *kwargs.values()):
        items = value if isinstance(value, (list, tuple)) else (value,)
        found.extend(v for v in items if isinstance(v, (_ttnn.Tensor, HostTensor, torch.Tensor)))
    return found


def _record(op: str, kind: str, backend: str, args, kwargs, usage=None, result=None, replayed=None) -> None:
    """Into the open recordings; a replayed trace entry is recorded as traced, in its capture's sections."""
    runtime = active_runtime()
    if runtime is not None and runtime.recording_active:
        results = result if isinstance(result, (list, tuple)) else [result]
        site = call_site() if replayed is None else replayed.call_site
        runtime.record(op, kind, backend, _tensors(args, kwargs), kwargs, site, usage,
                       [r for r in results if isinstance(r, (_ttnn.Tensor, HostTensor))],
                       traced=replayed is not None, sections=None if replayed is None else replayed.sections)


def _numerics() -> str:
    runtime = active_runtime()
    return "exact" if runtime is None else runtime.numerics


def _numerics() -> str:
    runtime = active_runtime()
    return "exact" if runtime is None else runtime.numerics


def _spec(args, kwargs):
    """The modelled device of a host-path call: the one its tensors live on, else the runtime's."""
    tensor = next((t for t in _tensors(args, kwargs) if isinstance(t, HostTensor)), None)
    if tensor is not None:
        return tensor.device_.spec
    runtime = active_runtime()
    device = None if runtime is None else runtime.device
    return device.spec if isinstance(device, HostDevice) else _DEFAULT_SPEC


def _from_torch(op, args, kwargs):
    bound = inspect.signature(op.function).bind(*args, **kwargs)
    device = bound.arguments.get("device")
    if isinstance(device, HostDevice):
        result = transfers.upload(op, dict(bound.arguments), device)
        _record(op.python_fully_qualified_name, "to_device", "host", args, kwargs)
        return result
    result = op(*args, **kwargs)
    if device is not None:
        _record(op.python_fully_qualified_name, "to_device", "device", args, kwargs)
    return result


def _to_torch(op, args, kwargs):
    tensor = args[0] if args else kwargs["tensor"]
    if isinstance(tensor, HostTensor):
        result = transfers.read(tensor, kwargs.get("cq_id"))
        _record(op.python_fully_qualified_name, "from_device", "host", args, kwargs)
        return result
    on_card = _on_card(tensor)
    result = op(*args, **kwargs)
    if on_card:
        _record(op.python_fully_qualified_name, "from_device", "device", args, kwargs)
    return result


def _to_device(op, args, kwargs):
    arguments = bind(op, args, kwargs).arguments
    device = arguments.get("device")
    if isinstance(device, HostDevice):
        result = transfers.to_device(arguments["tensor"], device, arguments.get("memory_config"))
        _record(op.python_fully_qualified_name, "to_device", "host", args, kwargs)
        return result
    result = op(*args, **kwargs)
    _record(op.python_fully_qualified_name, "to_device", "device", args, kwargs)
    return result


def _from_device(op, args, kwargs):
    tensor = args[0] if args else kwargs["tensor"]
    if isinstance(tensor, HostTensor):
        _record(op.python_fully_qualified_name, "from_device", "host", args, kwargs)
        return transfers.from_device(tensor)
    on_card = _on_card(tensor)
    result = op(*args, **kwargs)
    if on_card:
        _record(op.python_fully_qualified_name, "from_device", "device", args, kwargs)
    return result


def _copy_host_to_device(op, args, kwargs):
    arguments = bind(op, args, kwargs).arguments
    target = arguments["device_tensor"]
    if isinstance(target, HostTensor):
        transfers.copy_to(arguments["host_tensor"], target, arguments.get("cq_id"))
        _record(op.python_fully_qualified_name, "to_device", "host", args, kwargs)
        return None
    result = op(*args, **kwargs)
    _record(op.python_fully_qualified_name, "to_device", "device", args, kwargs)
    return result


_TRANSFERS = {
    "ttnn.from_torch": _from_torch,
    "ttnn.as_tensor": _from_torch,
    "ttnn.to_torch": _to_torch,
    "ttnn.to_device": _to_device,
    "ttnn.from_device": _from_device,
    "ttnn.copy_host_to_device_tensor": _copy_host_to_device,
}


def _run_host_op(op, args, kwargs):
    """One op on the host path; inside a trace capture it is recorded into the trace (shapes only)."""
    name = op.python_fully_qualified_name
    result, usage = executor.execute(op, args, kwargs, _spec(args, kwargs), _numerics())
    device = next((t.device_ for t in _tensors(args, kwargs) if isinstance(t, HostTensor)), None)
    capturing = device is not None and device.traces.capturing is not None
    if capturing:
        runtime = active_runtime()
        device.traces.record(op, args, kwargs, result, runtime.sections if runtime else (), call_site())
    backend = "capture" if capturing else ("dry" if usage.shapes_only else "host")
    _record(name, "op", backend, args, kwargs, usage, result)
    return result


def _replay(device: HostDevice, trace_id, cq_id) -> None:
    """execute_trace on the host path: every recorded call again, its results written into the recorded buffers;
    recorded as traced ops (no host dispatch)."""
    def run(entry: TraceEntry, args, kwargs):
        result, usage = executor.execute(entry.op, args, kwargs, device.spec, _numerics())
        _record(entry.op.python_fully_qualified_name, "op", "dry" if usage.shapes_only else "host", args, kwargs,
                usage, result, replayed=entry)
        return result

    device.traces.replay(trace_id, cq_id, run)


def _begin_trace_capture(device, cq_id=None):
    return device.traces.begin(cq_id)


def _end_trace_capture(device, trace_id, cq_id=None):
    device.traces.end(trace_id, cq_id)


def _execute_trace(device, trace_id, cq_id=None, blocking=True):
    _replay(device, trace_id, cq_id)


def _release_trace(device, trace_id):
    device.traces.release(trace_id)


def _record_event(device, cq_id=None, *_):
    return device.traces.record_event(cq_id)


def _synchronize_device(device, *_, **__):
    """The host path runs each call to completion: nothing is in flight."""


# Device-level functions (not ttnn ops) that take the host path's device (or its events) in place of a card's.
_DEVICE_FUNCTIONS = {
    "begin_trace_capture": _begin_trace_capture,
    "end_trace_capture": _end_trace_capture,
    "execute_trace": _execute_trace,
    "release_trace": _release_trace,
    "record_event": _record_event,
    "synchronize_device": _synchronize_device,
}


class _DeviceFunction:
    """A ttnn device-level function: the host path's when called with a HostDevice (or HostEvent), else the real."""

    def __init__(self, name: str, real):
        self._name, self._real = name, real

    def __call__(self, *args, **kwargs):
        try:
            values = (*args, *kwargs.values())
            if any(isinstance(v, HostDevice) for v in values):
                return _DEVICE_FUNCTIONS[self._name](*args, **kwargs)
            event = next((v for v in values if isinstance(v, HostEvent)), None)
            if event is not None:  # wait_for_event(cq_id, event)
                cq_id = kwargs.get("cq_id", args[0] if args and not isinstance(args[0], HostEvent) else 0)
                return event.traces.wait_for_event(cq_id, event)
            return self._real(*args, **kwargs)
        except DeviceRefusal as refusal:
            refusal.call_site = call_site(depth=3)
            raise


class _Op:
    """One ttnn op, routed per call to the card or to the host path."""

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
        if _on_card(args) or _on_card(tuple(kwargs.values())):
            _record(name, "op", "device", args, kwargs)
            return self._op(*args, **kwargs)
        return _run_host_op(self._op, args, kwargs)

    def __getattr__(self, name):
        return getattr(self._op, name)

    def __repr__(self) -> str:
        return f"<routed {self.__name__}>"


class _Namespace:
    """A ttnn module whose ops and device-level functions are routed and whose other attributes are the real ones."""

    def __init__(self, module: types.ModuleType):
        self._module = module

    def __getattr__(self, name):
        value = getattr(self._module, name)
        if isinstance(value, FastOperation):
            value = _Op(value)
        elif self._module is _ttnn and (name in _DEVICE_FUNCTIONS or name == "wait_for_event"):
            value = _DeviceFunction(name, value)
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
