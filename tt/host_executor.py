"""Host execution path for TTNN ops: what runs when an op's tensors are not on a Tenstorrent device.

Per call it does what the device path would check first, then computes:
1. binds the arguments against the op's real C++ binding signature (nanobind `__nb_signature__`): unknown keywords,
   missing arguments and wrongly typed config arguments (program_config, compute_kernel_config, memory_config,
   dtype, layout, ...) raise TypeError naming the op and the argument;
2. checks the dtype/layout rules that the op's docstring (or, where it is silent, the device op's validation in
   tt-metal) states, plus shape rules of matmul program configs and SDPA: ValueError naming op, argument and rule;
3. runs the op's shipped `golden_function` (or a project golden from tt.host_goldens) on torch copies of the inputs;
4. hands back `ttnn.from_torch(result, dtype=<the call's dtype, else the input's>, layout=<the input's>)`, so the
   rounding to bfloat16 / bfloat8_b and the TILE padding are ttnn's own code.

Known gaps: goldens compute in float32 on the host, so math fidelity (LoFi/HiFi2/HiFi4), fp32_dest_acc_en,
approximate modes and accumulation order are not modelled; L1 capacity, sharding and memory configs are accepted
but not modelled; preallocated output tensors are refused. Results are an upper bound on device PCC.
"""

from __future__ import annotations

import inspect

import torch
import ttnn

from tt.host_goldens import PROJECT_GOLDENS
from tt.op_binding import UNKNOWN_DEFAULT, BoundCall, bind
from tt.op_rules import BLOCK_FLOATS, TILE_LAYOUT, check_call, tensors_in

OUTPUT_TENSOR_KWARGS = ("output_tensor", "optional_tensor", "optional_output_tensor", "output_tensors")
# The tensor whose dtype/layout the output takes when the call names none (default: the first tensor argument).
OUTPUT_LIKE = {
    "ttnn.embedding": ("weight",),
    "ttnn.where": ("true_value", "false_value", "predicate"),
}
_golden_signatures: dict[object, inspect.Signature] = {}


def _to_torch(value):
    """ttnn tensors (also inside lists) as torch tensors, floats in float32; ttnn.Shape as a tuple."""
    if isinstance(value, ttnn.Tensor):
        t = ttnn.to_torch(value)
        return t.float() if t.is_floating_point() else t
    if isinstance(value, ttnn.Shape):
        return tuple(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_to_torch(v) for v in value)
    return value


def _call_golden(golden, call: BoundCall):
    """Positional parameters of the C++ signature go positionally, keyword-only ones by name; whatever the golden
    cannot take (no such parameter and no **kwargs) is left out."""
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
    args = [_to_torch(v) for _, v in positional[:capacity]]
    filled = set(positional_names[: len(args)])
    kwargs = {}
    for name, value in [*positional[capacity:], *keywords.items()]:
        if value is UNKNOWN_DEFAULT or name in filled:
            continue
        if name in keyword_names or takes_var_keyword:
            kwargs[name] = _to_torch(value)
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
        raise ValueError(f"{call.op}: a {dtype.name} result needs TILE layout, got {layout.name}")
    return dtype, layout


def _from_golden(result, dtype, layout):
    if isinstance(result, torch.Tensor):
        return ttnn.from_torch(result.contiguous(), dtype=dtype, layout=layout)
    if isinstance(result, (list, tuple)):
        return type(result)(_from_golden(r, dtype, layout) for r in result)
    return result


def execute(op, args, kwargs):
    """Run one op call on the host: bind, check, golden, back to a ttnn tensor."""
    call = bind(op, args, kwargs)
    given_outputs = [n for n in OUTPUT_TENSOR_KWARGS if any(True for _ in tensors_in(call.arguments.get(n)))]
    if given_outputs:
        raise NotImplementedError(f"{call.op}: preallocated {given_outputs[0]!r} is not modelled on the host path")
    check_call(call)
    golden = PROJECT_GOLDENS.get(call.op) or op.golden_function
    if golden is None:
        raise NotImplementedError(f"{call.op}: no golden function, so the host path cannot run it "
                                  "(add one to tt/host_goldens.py, following the op's docstring)")
    dtype, layout = _output_spec(call)
    return _from_golden(_call_golden(golden, call), dtype, layout)
