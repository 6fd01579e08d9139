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

import importlib
import inspect
import math
import numbers
import re
from dataclasses import dataclass

import torch
import ttnn

from tt.host_goldens import PROJECT_GOLDENS
from tt.runtime import N150_GRID

TILE = 32
F32, BF16, BFP8, BFP4 = ttnn.float32, ttnn.bfloat16, ttnn.bfloat8_b, ttnn.bfloat4_b
INT32, UINT32, UINT16, UINT8, INT8 = ttnn.int32, ttnn.uint32, ttnn.uint16, ttnn.uint8, ttnn.int8
TILE_LAYOUT, ROW_MAJOR = ttnn.TILE_LAYOUT, ttnn.ROW_MAJOR_LAYOUT
FLOATS = (F32, BF16, BFP8, BFP4)
BLOCK_FLOATS = (BFP8, BFP4)
# Wormhole dest register: 8 tiles in 16-bit mode, 4 with fp32 accumulation (the matmul subblock limit).
DEST_TILES, DEST_TILES_FP32 = 8, 4
OUTPUT_TENSOR_KWARGS = ("output_tensor", "optional_tensor", "optional_output_tensor", "output_tensors")
# Ops that real ttnn already runs on host tensors with no numeric effect.
HOST_NATIVE = ("ttnn.deallocate",)


# ---------------------------------------------------------------------------------------------------------------
# 1. Binding against the C++ signature
# ---------------------------------------------------------------------------------------------------------------

NONE = object()  # the `None` alternative of an annotation


@dataclass(frozen=True)
class Seq:
    """collections.abc.Sequence[...]; `items` None when the element type did not resolve."""

    items: tuple | None


@dataclass(frozen=True)
class Param:
    name: str
    keyword_only: bool
    has_default: bool
    default: object
    types: tuple | None  # accepted alternatives; None = not checked (no annotation, or nothing resolved)


@dataclass(frozen=True)
class Overload:
    params: tuple[Param, ...]
    var_positional: bool
    var_keyword: bool
    text: str


@dataclass
class BoundCall:
    op: str
    overload: Overload
    arguments: dict  # every parameter of the chosen overload, in signature order, defaults filled in

    def tensor(self, name):
        value = self.arguments.get(name)
        return value if isinstance(value, ttnn.Tensor) else None


_UNKNOWN_DEFAULT = object()
_BUILTINS = {"int": int, "float": float, "bool": bool, "str": str, "bytes": bytes, "object": object}
_SEQUENCES = ("collections.abc.Sequence", "typing.Sequence", "list", "collections.abc.MutableSequence")
_signatures: dict[str, tuple[Overload, ...]] = {}
_resolved: dict[str, object] = {}


def _split_top(text: str, sep: str) -> list[str]:
    """Split at `sep` outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _resolve(dotted: str):
    """A class from its dotted name (`ttnn._ttnn.operations.matmul.MatmulMultiCoreReuseProgramConfig`), else None."""
    if dotted in _BUILTINS:
        return _BUILTINS[dotted]
    if dotted not in _resolved:
        parts, found = dotted.split("."), None
        for cut in range(len(parts) - 1, 0, -1):
            try:
                found = importlib.import_module(".".join(parts[:cut]))
                for attr in parts[cut:]:
                    found = getattr(found, attr)
                break
            except (ImportError, AttributeError):
                found = None
        _resolved[dotted] = found if isinstance(found, type) else None
    return _resolved[dotted]


def _parse_type(text: str):
    """One alternative of an annotation; None when it does not resolve (quoted C++ names, unknown classes)."""
    if text.startswith(("'", '"')):
        return None
    if text == "None":
        return NONE
    if "[" in text:
        base, inner = text.split("[", 1)
        if base.strip() in _SEQUENCES:
            return Seq(_parse_union(inner[:-1]))
        return _resolve(base.strip())
    return _resolve(text)


def _parse_union(text: str) -> tuple | None:
    alternatives = [t for t in (_parse_type(a) for a in _split_top(text, "|")) if t is not None]
    return tuple(dict.fromkeys(alternatives)) or None


def _parse_overload(text: str, defaults) -> Overload:
    inner = text[text.index("(") + 1: text.rindex(") ->") if ") ->" in text else text.rindex(")")]
    params, keyword_only, var_positional, var_keyword = [], False, False, False
    for chunk in _split_top(inner, ","):
        if chunk == "self":
            continue
        if chunk == "*":
            keyword_only = True
            continue
        if chunk.startswith("**"):
            var_keyword = True
            continue
        if chunk.startswith("*"):
            var_positional, keyword_only = True, True
            continue
        head, default = chunk, _UNKNOWN_DEFAULT
        match = re.search(r"\s*=\s*\\(\d+)$", chunk)
        if match:
            head, default = chunk[: match.start()], defaults[int(match.group(1))]
        elif " = " in chunk:
            head = chunk[: chunk.rindex(" = ")]
        has_default = head != chunk
        name, _, annotation = head.partition(":")
        params.append(Param(name=name.strip(), keyword_only=keyword_only, has_default=has_default, default=default,
                            types=_parse_union(annotation) if annotation.strip() else None))
    return Overload(tuple(params), var_positional, var_keyword, text)


def _python_overload(function) -> Overload:
    """Python-implemented ops: their inspect signature, unchecked types."""
    params, var_positional, var_keyword = [], False, False
    for p in inspect.signature(function).parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            var_positional = True
        elif p.kind is p.VAR_KEYWORD:
            var_keyword = True
        else:
            has_default = p.default is not p.empty
            params.append(Param(p.name, p.kind is p.KEYWORD_ONLY, has_default,
                                p.default if has_default else _UNKNOWN_DEFAULT, None))
    return Overload(tuple(params), var_positional, var_keyword, str(inspect.signature(function)))


def signatures(op) -> tuple[Overload, ...]:
    """The op's overloads, parsed once per op."""
    name = op.python_fully_qualified_name
    if name not in _signatures:
        function = op.function
        raw = getattr(function, "__nb_signature__", None)
        if raw is None:
            raw = getattr(type(function).__call__, "__nb_signature__", None)
        if raw is None:
            _signatures[name] = (_python_overload(function),)
        else:
            _signatures[name] = tuple(_parse_overload(text, defaults or ()) for text, _, defaults in raw)
    return _signatures[name]


def _matches(value, spec) -> bool:
    if spec is NONE:
        return value is None
    if isinstance(spec, Seq):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or not hasattr(value, "__getitem__"):
            return False
        return spec.items is None or all(any(_matches(v, s) for s in spec.items) for v in value)
    if spec is float:
        return isinstance(value, numbers.Real)
    if spec is int:
        return isinstance(value, numbers.Integral)
    if spec is bool:
        return isinstance(value, bool)
    return isinstance(value, spec)


def _type_name(spec) -> str:
    if spec is NONE:
        return "None"
    if isinstance(spec, Seq):
        return f"Sequence[{' | '.join(_type_name(s) for s in spec.items or ())}]"
    return spec.__name__


def _try_bind(op: str, overload: Overload, args, kwargs) -> tuple[dict | None, str | None, bool]:
    """(arguments, error, names_bound): names_bound tells a type mismatch from a name mismatch."""
    params = {p.name: p for p in overload.params}
    positional = [p for p in overload.params if not p.keyword_only]
    if len(args) > len(positional) and not overload.var_positional:
        return None, f"{op}: takes at most {len(positional)} positional arguments, got {len(args)}", False
    given = {p.name: v for p, v in zip(positional, args)}
    for key, value in kwargs.items():
        if key not in params:
            if overload.var_keyword:
                continue
            return None, (f"{op}: unexpected keyword argument {key!r} "
                          f"(accepted: {', '.join(params)})"), False
        if key in given:
            return None, f"{op}: got multiple values for argument {key!r}", False
        given[key] = value
    missing = [p.name for p in overload.params if p.name not in given and not p.has_default]
    if missing:
        return None, f"{op}: missing required argument {missing[0]!r}", False
    for name, value in given.items():
        spec = params[name].types
        if spec is not None and not any(_matches(value, s) for s in spec):
            expected = " | ".join(_type_name(s) for s in spec)
            return None, (f"{op}: argument {name!r} expects {expected}, "
                          f"found {type(value).__module__}.{type(value).__qualname__}"), True
    arguments = {p.name: given.get(p.name, p.default) for p in overload.params}
    return arguments, None, True


def bind(op, args, kwargs) -> BoundCall:
    """Bind a call to the first overload it fits, as nanobind would; TypeError naming op and argument if none."""
    name = op.python_fully_qualified_name
    name_error = type_error = None
    for overload in signatures(op):
        arguments, error, names_bound = _try_bind(name, overload, args, kwargs)
        if arguments is not None:
            return BoundCall(name, overload, arguments)
        if names_bound:
            type_error = type_error or error
        else:
            name_error = name_error or error
    raise TypeError(type_error or name_error)


# ---------------------------------------------------------------------------------------------------------------
# 2. Dtype / layout / shape rules
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    args: tuple[str, ...]
    layouts: tuple = ()
    dtypes: tuple = ()
    source: str = "docstring"


_MATMUL = (Rule(("input_tensor_a", "input_tensor_b", "bias"), (TILE_LAYOUT,), FLOATS),)
_BINARY = (Rule(("input_tensor_a", "input_tensor_b"), (TILE_LAYOUT, ROW_MAJOR), FLOATS + (INT32, UINT32, UINT16)),)
_NORM = (Rule(("input_tensor", "residual_input_tensor"), (TILE_LAYOUT,), (BF16, F32, BFP8)),
         Rule(("weight", "bias"), (TILE_LAYOUT, ROW_MAJOR), (BF16, F32)))
_UNARY_TRIG = (Rule(("input_tensor",), (), (BF16, BFP8, F32)),)
RULES = {
    "ttnn.linear": _MATMUL,
    "ttnn.matmul": _MATMUL,
    "ttnn.add": _BINARY,
    "ttnn.subtract": _BINARY,
    "ttnn.multiply": _BINARY,
    "ttnn.rms_norm": _NORM,
    "ttnn.layer_norm": _NORM,
    "ttnn.softmax": (Rule(("input_tensor",), (TILE_LAYOUT,), (BF16, F32, BFP8)),),
    "ttnn.gelu": (Rule(("input_tensor",), (), (BF16, BFP8)),),
    "ttnn.silu": (Rule(("input_tensor",), (), (F32, BF16, BFP8)),),
    "ttnn.sin": _UNARY_TRIG,
    "ttnn.cos": _UNARY_TRIG,
    "ttnn.where": (Rule(("predicate", "true_value", "false_value"), (TILE_LAYOUT,), FLOATS + (INT32, UINT32)),),
    "ttnn.typecast": (Rule(("input_tensor",), (), FLOATS + (UINT32, INT32, UINT16, UINT8, INT8)),),
    "ttnn.embedding": (Rule(("input_tensor",), (ROW_MAJOR,), (UINT32, BF16), "embedding device op validation"),
                       Rule(("weight",), (ROW_MAJOR,), (BF16,), "embedding device op validation")),
    "ttnn.experimental.nlp_create_qkv_heads": (
        Rule(("input", "input_kv"), (TILE_LAYOUT,), (F32, BF16, BFP8), "nlp_create_qkv_heads device op validation"),),
    "ttnn.experimental.nlp_concat_heads": (
        Rule(("input_tensor",), (TILE_LAYOUT,), (F32, BF16, BFP8), "nlp_concat_heads device op validation"),),
    "ttnn.experimental.rotary_embedding": (
        Rule(("input_tensor", "cos_cache", "sin_cache"), (TILE_LAYOUT,), (), "rotary_embedding device op validation"),),
    "ttnn.transformer.scaled_dot_product_attention": (
        Rule(("input_tensor_q", "input_tensor_k", "input_tensor_v", "attn_mask"), (TILE_LAYOUT,), (BF16, BFP8, BFP4),
             "sdpa device op validation"),),
}


def _names(values) -> str:
    return "/".join(v.name for v in values)


def _reject(call: BoundCall, arg: str, rule: str):
    raise ValueError(f"{call.op}: argument {arg!r}: {rule}")


def _tensors(value):
    if isinstance(value, ttnn.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def _check_rules(call: BoundCall) -> None:
    for arg, value in call.arguments.items():
        for t in _tensors(value):
            if t.dtype in BLOCK_FLOATS and t.layout != TILE_LAYOUT:
                _reject(call, arg, f"{t.dtype.name} tensors must be TILE layout, got {t.layout.name}")
    for rule in RULES.get(call.op, ()):
        for arg in rule.args:
            t = call.tensor(arg)
            if t is None:
                continue
            if rule.layouts and t.layout not in rule.layouts:
                _reject(call, arg, f"layout must be {_names(rule.layouts)}, got {t.layout.name} ({rule.source})")
            if rule.dtypes and t.dtype not in rule.dtypes:
                _reject(call, arg, f"dtype must be {_names(rule.dtypes)}, got {t.dtype.name} ({rule.source})")
    check = _SHAPE_CHECKS.get(call.op)
    if check is not None:
        check(call)


def _check_grid(call: BoundCall, arg: str, grid) -> None:
    if grid.x > N150_GRID[0] or grid.y > N150_GRID[1]:
        _reject(call, arg, f"compute_with_storage_grid_size {grid.x}x{grid.y} exceeds the device grid "
                           f"{N150_GRID[0]}x{N150_GRID[1]}")


def _check_matmul(call: BoundCall) -> None:
    """Program config rules of the matmul program factories (tt-metal matmul validation)."""
    config = call.arguments.get("program_config")
    a, b = call.tensor("input_tensor_a"), call.tensor("input_tensor_b")
    multicast = (ttnn.MatmulMultiCoreReuseMultiCastProgramConfig, ttnn.MatmulMultiCoreReuseMultiCast1DProgramConfig)
    if not isinstance(config, multicast) or a is None or b is None:
        return
    grid = config.compute_with_storage_grid_size
    _check_grid(call, "program_config", grid)
    a_shape, b_shape = list(a.padded_shape), list(b.padded_shape)
    m, k = (a_shape[-1], a_shape[-2]) if call.arguments.get("transpose_a") else (a_shape[-2], a_shape[-1])
    n = b_shape[-2] if call.arguments.get("transpose_b") else b_shape[-1]
    batch = math.prod(a_shape[:-2])
    kt, nt = k // TILE, n // TILE
    if kt % config.in0_block_w:
        _reject(call, "program_config", f"Kt ({kt}) must be divisible by in0_block_w ({config.in0_block_w})")
    if config.per_core_M % config.out_subblock_h or config.per_core_N % config.out_subblock_w:
        _reject(call, "program_config", f"out_subblock {config.out_subblock_h}x{config.out_subblock_w} must divide "
                                        f"the per-core block {config.per_core_M}x{config.per_core_N}")
    kernel = call.arguments.get("compute_kernel_config")
    dest = DEST_TILES_FP32 if kernel is not None and kernel.fp32_dest_acc_en else DEST_TILES
    if config.out_subblock_h * config.out_subblock_w > dest:
        _reject(call, "program_config", f"out_subblock_h * out_subblock_w must be <= {dest} dest tiles "
                                        f"(fp32_dest_acc_en={dest == DEST_TILES_FP32})")
    if isinstance(config, ttnn.MatmulMultiCoreReuseMultiCastProgramConfig):
        blocks_y, blocks_x = -(-(batch * m // TILE) // config.per_core_M), -(-nt // config.per_core_N)
        if config.transpose_mcast:
            blocks_x, blocks_y = blocks_y, blocks_x
        if blocks_x > grid.x or blocks_y > grid.y:
            _reject(call, "program_config", f"output blocks {blocks_x}x{blocks_y} (x by y) do not fit the grid "
                                            f"{grid.x}x{grid.y}")
    else:
        mt = (batch * m if config.fuse_batch else m) // TILE
        blocks = -(-mt // config.per_core_M) * -(-nt // config.per_core_N)
        if blocks > grid.x * grid.y:
            _reject(call, "program_config", f"{blocks} output blocks exceed the {grid.x * grid.y} cores of the grid")


def _check_sdpa(call: BoundCall) -> None:
    """tt-metal sdpa_device_operation validation, regular (non-chunked, non-windowed) mode; the messages are in the
    0.81.1 binary."""
    q, k, v = (call.tensor(n) for n in ("input_tensor_q", "input_tensor_k", "input_tensor_v"))
    mask, causal = call.tensor("attn_mask"), call.arguments.get("is_causal")
    config = call.arguments.get("program_config")
    for name, t in (("input_tensor_q", q), ("input_tensor_k", k), ("input_tensor_v", v)):
        if list(t.shape)[-1] != list(t.padded_shape)[-1]:
            _reject(call, name, f"head_dim {t.shape[-1]} must be a multiple of {TILE} (no padding on head_dim)")
    (b, nqh, sq, dh), (bk, nkv, sk, dk), vs = list(q.shape), list(k.shape), list(v.shape)
    if causal and mask is not None:
        _reject(call, "attn_mask", "is_causal and attn_mask are mutually exclusive; pass is_causal=False with a mask")
    if mask is not None and call.arguments.get("sliding_window_size"):
        _reject(call, "attn_mask", "sliding_window_size and attn_mask cannot both be present")
    if bk != b or vs[0] != b or vs[1] != nkv or vs[2] != sk or dk != dh or vs[3] != dh:
        _reject(call, "input_tensor_k", f"q {list(q.shape)}, k {list(k.shape)}, v {vs} disagree")
    if nqh < nkv or nqh % nkv:
        _reject(call, "input_tensor_k", f"Q heads ({nqh}) must be a multiple of K heads ({nkv})")
    if causal and sq != sk:
        _reject(call, "is_causal", f"causal SDPA needs equal Q and K lengths, got {sq} and {sk}")
    if config is not None:
        if config.q_chunk_size % TILE or config.k_chunk_size % TILE:
            _reject(call, "program_config", f"chunk sizes ({config.q_chunk_size}, {config.k_chunk_size}) must be "
                                            f"multiples of {TILE}")
        _check_grid(call, "program_config", config.compute_with_storage_grid_size)
    if mask is not None:
        mb, mh, mq, mk = list(mask.shape)
        if mb not in (1, b) or mh not in (1, nqh) or mq != sq or mk != sk:
            _reject(call, "attn_mask", f"shape {list(mask.shape)} must be [1 or {b}, 1 or {nqh}, {sq}, {sk}]")


def _check_rotary(call: BoundCall) -> None:
    """tt-metal rotary_embedding device op validation."""
    x, cos, sin = (call.tensor(n) for n in ("input_tensor", "cos_cache", "sin_cache"))
    x_shape, cos_shape = list(x.padded_shape), list(cos.padded_shape)
    if x_shape[-1] % (2 * TILE):
        _reject(call, "input_tensor", f"padded width {x_shape[-1]} must be a multiple of {2 * TILE}")
    if cos.dtype != sin.dtype or cos_shape != list(sin.padded_shape):
        _reject(call, "sin_cache", "cos and sin caches must share dtype and shape")
    if cos_shape[0] != 1 or cos_shape[1] != 1 or cos_shape[-1] != x_shape[-1]:
        _reject(call, "cos_cache", f"shape {list(cos.shape)} must be [1, 1, S, {x.shape[-1]}]")
    if call.arguments.get("token_index") is None and cos_shape[-2] < x_shape[-2]:
        _reject(call, "cos_cache", f"holds {cos_shape[-2]} positions, input needs {x_shape[-2]}")


def _check_norm(call: BoundCall) -> None:
    """Limitations listed in the rms_norm / layer_norm docstrings."""
    x = call.tensor("input_tensor")
    residual = call.tensor("residual_input_tensor")
    if residual is not None and list(residual.padded_shape) != list(x.padded_shape):
        _reject(call, "residual_input_tensor", "must match the input's padded shape")
    width = list(x.padded_shape)[-1]
    for name in ("weight", "bias"):
        p = call.tensor(name)
        if p is None:
            continue
        padded = list(p.padded_shape)
        if p.layout == TILE_LAYOUT:
            if padded[-1] != width or (call.op == "ttnn.layer_norm" and (p.shape[-1] != x.shape[-1]
                                                                          or padded[-2] != TILE)):
                _reject(call, name, f"TILE {list(p.shape)} must be one row as wide as the input ({x.shape[-1]})")
        elif padded[-1] != TILE or math.prod(padded) != width:
            _reject(call, name, f"ROW_MAJOR {list(p.shape)} must be [{width // TILE}, {TILE}] sticks")


def _check_binary(call: BoundCall) -> None:
    a, b = call.tensor("input_tensor_a"), call.tensor("input_tensor_b")
    if a is not None and b is not None and a.dtype != b.dtype and not (a.dtype in FLOATS and b.dtype in FLOATS):
        _reject(call, "input_tensor_b", f"dtypes {a.dtype.name} and {b.dtype.name} may not mix (only float "
                                        "dtypes mix)")


def _check_concat(call: BoundCall) -> None:
    tensors = list(_tensors(call.arguments.get("tensors")))
    first = tensors[0]
    for t in tensors[1:]:
        if t.layout != first.layout or t.dtype != first.dtype or len(t.shape) != len(first.shape):
            _reject(call, "tensors", "all tensors must share layout, dtype and rank")


def _check_slice(call: BoundCall) -> None:
    x = call.tensor("input_tensor")
    starts = call.arguments.get("starts", call.arguments.get("slice_start"))
    ends = call.arguments.get("ends", call.arguments.get("slice_end"))
    steps = call.arguments.get("steps", call.arguments.get("slice_step")) or [1] * len(starts)
    if isinstance(starts, ttnn.Tensor):
        return
    shape = list(x.shape)
    if not len(starts) == len(ends) == len(steps) == len(shape):
        _reject(call, "starts", f"starts/ends/steps need one entry per dim of {shape}")
    for dim, (s, e) in enumerate(zip(starts, ends)):
        if not (0 <= s < shape[dim] and 0 < e <= shape[dim]):
            _reject(call, "starts", f"dim {dim}: start {s} must be in [0, {shape[dim]}) and end {e} in "
                                    f"(0, {shape[dim]}]")
    if x.dtype == BFP8 and any(step != 1 for step in steps):
        _reject(call, "steps", "strided slicing is not supported for bfloat8_b tensors")


def _check_embedding(call: BoundCall) -> None:
    weight, dtype, layout = call.tensor("weight"), call.arguments.get("dtype"), call.arguments.get("layout")
    if dtype is not None and dtype != weight.dtype and (layout or weight.layout) != TILE_LAYOUT:
        _reject(call, "dtype", "can only typecast output embeddings when producing TILE_LAYOUT output")


_SHAPE_CHECKS = {
    "ttnn.linear": _check_matmul,
    "ttnn.matmul": _check_matmul,
    "ttnn.transformer.scaled_dot_product_attention": _check_sdpa,
    "ttnn.experimental.rotary_embedding": _check_rotary,
    "ttnn.rms_norm": _check_norm,
    "ttnn.layer_norm": _check_norm,
    "ttnn.add": _check_binary,
    "ttnn.subtract": _check_binary,
    "ttnn.multiply": _check_binary,
    "ttnn.concat": _check_concat,
    "ttnn.slice": _check_slice,
    "ttnn.embedding": _check_embedding,
}


# ---------------------------------------------------------------------------------------------------------------
# 3./4. Golden execution and the result as a ttnn tensor
# ---------------------------------------------------------------------------------------------------------------

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
        if value is _UNKNOWN_DEFAULT or name in filled:
            continue
        if name in keyword_names or takes_var_keyword:
            kwargs[name] = _to_torch(value)
    return golden(*args, **kwargs)


def _output_spec(call: BoundCall):
    names = OUTPUT_LIKE.get(call.op, tuple(call.arguments))
    like = next((t for n in names for t in _tensors(call.arguments.get(n))), None)
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
    given_outputs = [n for n in OUTPUT_TENSOR_KWARGS if any(True for _ in _tensors(call.arguments.get(n)))]
    if given_outputs:
        raise NotImplementedError(f"{call.op}: preallocated {given_outputs[0]!r} is not modelled on the host path")
    _check_rules(call)
    if call.op in HOST_NATIVE:
        return op(*args, **kwargs)
    golden = PROJECT_GOLDENS.get(call.op) or op.golden_function
    if golden is None:
        raise NotImplementedError(f"{call.op}: no golden function, so the host path cannot run it "
                                  "(add one to tt/host_goldens.py, following the op's docstring)")
    dtype, layout = _output_spec(call)
    return _from_golden(_call_golden(golden, call), dtype, layout)
