"""The host path's execution of one TTNN op call: what runs when an op's tensors are not on a Tenstorrent device.

Per call it does what the device path would check first, then computes:
1. binds the arguments against the op's real C++ binding signature (tt.host.binding): unknown keywords, missing
   arguments and wrongly typed config arguments raise BindingError naming the op and the argument;
2. checks the dtype/layout/shape rules of the op (tt.host.rules) and the L1 its program would allocate on the
   modelled device (tt.host.resources): RuleViolation naming op, argument and rule;
3. runs the op's shipped `golden_function` (or a project golden from tt.host.goldens) on torch copies of the inputs
   -- on torch `meta` tensors where only shapes flow (a shape-only device: the dry run; a trace capture);
4. hands back `ttnn.from_torch(result, dtype=<the call's dtype, else the input's>, layout=<the input's>)`, so the
   rounding to bfloat16 / bfloat8_b and the TILE padding are ttnn's own code, in a tt.host.HostTensor on the
   call's device (or a shape-only one).

Step 3 depends on the numerics the call runs with (tt.host.numerics): "exact" runs the golden in float32, so its
results are an upper bound on device PCC; "device" computes what the hardware computes (math fidelity, Dst
accumulation, packer rounding, SFPU approximations) and hands step 4 values it stores exactly. Preallocated output
tensors are refused.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
import ttnn

from tt.host import numerics as host_numerics
from tt.host.binding import UNKNOWN_DEFAULT, BoundCall, bind
from tt.host.device import DeviceSpec
from tt.host.errors import RuleViolation
from tt.host.goldens import PROJECT_GOLDENS
from tt.host.tensor import HostTensor
from tt.host.resources import Program, check_fits, programs
from tt.host.rules import BLOCK_FLOATS, TILE_LAYOUT, check_call, tensors_in
from tt.host.timing import OpCost, op_cost

OUTPUT_TENSOR_KWARGS = ("output_tensor", "optional_tensor", "optional_output_tensor", "output_tensors")
# The tensor whose dtype/layout the output takes when the call names none (default: the first tensor argument).
OUTPUT_LIKE = {
    "ttnn.embedding": ("weight",),
    "ttnn.where": ("true_value", "false_value", "predicate"),
}
_golden_signatures: dict[object, inspect.Signature] = {}


@dataclass(frozen=True)
class Usage:
    """The programs the device op would build (None: not modelled), and whether values were computed."""

    programs: tuple[Program, ...] | None
    cb_bytes: int | None  # static buffers per core of its largest program
    shapes_only: bool
    cost: OpCost | None = None  # predicted device time (shape-only calls with modelled programs)

    @property
    def cores(self) -> int | None:
        return None if self.programs is None else max((p.work.busy_cores for p in self.programs), default=0)


def _to_torch(value, shapes_only: bool):
    """Tensors (also inside lists) as torch tensors, floats in float32 (torch meta tensors where only shapes flow);
    ttnn.Shape as a tuple."""
    if isinstance(value, HostTensor):
        return value.meta() if shapes_only else value.torch()
    if isinstance(value, ttnn.Tensor):
        t = ttnn.to_torch(value)
        return t.float() if t.is_floating_point() else t
    if isinstance(value, ttnn.Shape):
        return tuple(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_to_torch(v, shapes_only) for v in value)
    return value


# Arguments that only round a golden's values (to the output dtype); on shapes alone the output spec sets the dtype.
VALUE_ONLY = ("dtype", "output_dtype")


def _call_golden(golden, call: BoundCall, shapes_only: bool = False):
    """Positional parameters of the C++ signature go positionally, keyword-only ones by name; whatever the golden
    cannot take (no such parameter and no **kwargs) is left out, and on shapes alone the value-only ones."""
    if golden not in _golden_signatures:
        _golden_signatures[golden] = inspect.signature(golden)
    params = list(_golden_signatures[golden].parameters.values())
    takes_var_positional = any(p.kind is p.VAR_POSITIONAL for p in params)
    takes_var_keyword = any(p.kind is p.VAR_KEYWORD for p in params)
    positional_names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keyword_names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    positional = [(p.name, call.arguments[p.name]) for p in call.overload.params if not p.keyword_only]
    keywords = {p.name: call.arguments[p.name] for p in call.overload.params if p.keyword_only}
    capacity = len(positional) if takes_var_positional else len(positional_names)
    args = [_to_torch(v, shapes_only) for _, v in positional[:capacity]]
    filled = set(positional_names[: len(args)])
    kwargs = {}
    for name, value in [*positional[capacity:], *keywords.items()]:
        if value is UNKNOWN_DEFAULT or name in filled or (shapes_only and name in VALUE_ONLY):
            continue
        if name in keyword_names or takes_var_keyword:
            kwargs[name] = _to_torch(value, shapes_only)
    return golden(*args, **kwargs)


def _output_spec(call: BoundCall):
    names = OUTPUT_LIKE.get(call.op, tuple(call.arguments))
    like = next((t for n in names for t in tensors_in(call.arguments.get(n))), None)
    if like is None:
        raise NotImplementedError(f"{call.op}: ops without a tensor argument are not run on the host path; build the "
                                  "tensor in torch and upload it with ttnn.from_torch")
    dtype = call.arguments.get("dtype")
    if dtype is None:
        dtype = call.arguments.get("output_dtype")
    layout = call.arguments.get("layout")
    dtype = like.dtype if not isinstance(dtype, ttnn.DataType) else dtype
    layout = like.layout if not isinstance(layout, ttnn.Layout) else layout
    if dtype in BLOCK_FLOATS and layout != TILE_LAYOUT:
        raise RuleViolation(f"{call.op}: a {dtype.name} result needs TILE layout, got {layout.name}")
    return like, dtype, layout


def _memory_config(call: BoundCall, like):
    """The output's memory config: the call's, else the input's (ttnn's default for the ops used here)."""
    config = call.arguments.get("memory_config")
    return config if isinstance(config, ttnn.MemoryConfig) else like.memory_config()


def _from_golden(result, dtype, layout, device, memory_config, shapes_only: bool, view_of=None):
    """The golden's torch result as the op's output: HostTensors on the call's device (holding ttnn's rounding of
    the values unless only shapes flow), or bare ttnn host tensors for a call made without one."""
    if isinstance(result, torch.Tensor):
        value = None if shapes_only else ttnn.from_torch(result.contiguous(), dtype=dtype, layout=layout)
        if device is None:
            return value
        return HostTensor(result.shape, dtype, layout, memory_config, device, value, view_of)
    if isinstance(result, (list, tuple)):
        return type(result)(_from_golden(r, dtype, layout, device, memory_config, shapes_only, view_of)
                            for r in result)
    return result


def _key(value):
    """A hashable description of an argument that decides everything the call does on shapes alone."""
    if isinstance(value, HostTensor):
        return ("tensor", value.shape_tuple, value.dtype, value.layout, repr(value.memory_config()))
    if isinstance(value, (list, tuple)):
        return tuple(_key(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _key(v)) for k, v in value.items())
    if isinstance(value, (int, float, str, bool, type(None), ttnn.DataType, ttnn.Layout)):
        return value
    text = repr(value)
    if " object at 0x" in text:  # a config without a descriptive repr: its public attributes decide it
        return (type(value).__name__,) + tuple((name, repr(getattr(value, name))) for name in dir(value)
                                               if not name.startswith("_") and not callable(getattr(value, name)))
    return text


@dataclass(frozen=True)
class _TensorSpec:
    shape: tuple[int, ...]
    dtype: object
    layout: object
    memory_config: object


def _specs(result):
    """A result with its HostTensors replaced by their specs (which book no memory)."""
    if isinstance(result, HostTensor):
        return _TensorSpec(result.shape_tuple, result.dtype, result.layout, result.memory_config())
    if isinstance(result, (list, tuple)):
        return type(result)(_specs(r) for r in result)
    return result


def _rebuild(result, device, view_of=None):
    """Fresh shape-only HostTensors (each books its own buffer, unless it is a view) from remembered specs."""
    if isinstance(result, _TensorSpec):
        return HostTensor(result.shape, result.dtype, result.layout, result.memory_config, device, view_of=view_of)
    if isinstance(result, (list, tuple)):
        return type(result)(_rebuild(r, device, view_of) for r in result)
    return result


def _viewed(call: BoundCall, programs) -> HostTensor | None:
    """The tensor a view (an op that runs no program) shares its buffer with."""
    source = call.arguments.get("input_tensor")
    return source if programs == () and isinstance(source, HostTensor) else None


# Shape-only calls are pure functions of their arguments' specs: the dry run (and a trace capture) repeats each
# distinct call (every layer, every denoising step) without binding, checking and running its golden again.
_shape_only_results: dict[tuple, tuple[object, Usage]] = {}
# Ops that write into one of their arguments and return it (ttnn returns the same device tensor).
IN_PLACE = {"ttnn.fill_cache": "cache_tensor"}


def _device_of(args, kwargs):
    return next((t.device_ for t in tensors_in((args, tuple(kwargs.values()))) if isinstance(t, HostTensor)), None)


def execute(op, args, kwargs, spec: DeviceSpec, numerics: str = "exact") -> tuple[object, Usage]:
    """Run one op call on the host path, as the device `spec` would: bind, check, compute with `numerics` ("exact"
    or "device"), back to a tensor. On a shape-only device, or while the device captures a trace, only shapes flow
    (numerics do not apply)."""
    device = _device_of(args, kwargs)
    if device is None or not (device.shapes_only or device.traces.capturing is not None):
        return _execute(op, args, kwargs, spec, device, numerics=numerics)
    l1_tensors = device.memory.l1_per_core
    key = (op.python_fully_qualified_name, spec.name, l1_tensors, _key(args), _key(kwargs))
    if key not in _shape_only_results:
        result, usage = _execute(op, args, kwargs, spec, device, shapes_only=True)
        _shape_only_results[key] = _specs(result), usage
    specs, usage = _shape_only_results[key]
    in_place = IN_PLACE.get(key[0])
    if in_place is None and usage.programs != ():
        result = _rebuild(specs, device)
    else:  # the result is one of the arguments, or views one: bind to find it
        call = bind(op, args, kwargs)
        result = call.arguments[in_place] if in_place else _rebuild(specs, device, _viewed(call, usage.programs))
    for program in usage.programs or ():  # the outputs are allocated before the programs are built
        check_fits(key[0], program, spec, device.memory.l1_per_core)
    return result, usage


def _execute(op, args, kwargs, spec: DeviceSpec, device, shapes_only: bool = False,
             numerics: str = "exact") -> tuple[object, Usage]:
    call = bind(op, args, kwargs)
    given_outputs = [n for n in OUTPUT_TENSOR_KWARGS if any(True for _ in tensors_in(call.arguments.get(n)))]
    if given_outputs:
        raise NotImplementedError(f"{call.op}: preallocated {given_outputs[0]!r} is not modelled on the host path")
    check_call(call, spec)
    l1_tensors = 0 if device is None else device.memory.l1_per_core
    built = programs(call, spec, l1_tensors)
    for program in built or ():
        check_fits(call.op, program, spec, l1_tensors)
    golden = PROJECT_GOLDENS.get(call.op) or op.golden_function
    if golden is None:
        raise NotImplementedError(f"{call.op}: no golden function, so the host path cannot run it "
                                  "(add one to tt/host/goldens.py, following the op's docstring)")
    like, dtype, layout = _output_spec(call)
    if numerics == "device" and not shapes_only:
        output = host_numerics.compute(call, lambda: _call_golden(golden, call), dtype)
    else:
        output = _call_golden(golden, call, shapes_only)
    in_place = IN_PLACE.get(call.op)
    if in_place:
        target = call.arguments[in_place]
        if not shapes_only:
            target.assign(ttnn.from_torch(output.contiguous(), dtype=target.dtype, layout=target.layout))
        result = target
    else:
        memory_config = _memory_config(call, like) if device is not None else None
        result = _from_golden(output, dtype, layout, device, memory_config, shapes_only, _viewed(call, built))
    cb_bytes = None if built is None else max((p.bytes_per_core(spec) for p in built), default=0)
    cost = op_cost(call, spec, built, list(tensors_in(result))) if shapes_only else None
    return result, Usage(built, cb_bytes, shapes_only, cost)
