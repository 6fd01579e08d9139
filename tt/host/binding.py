"""Binding a ttnn op call against the op's real C++ signature (nanobind `__nb_signature__`), as the device path
does first: unknown keywords, missing arguments and wrongly typed config arguments raise BindingError (a TypeError)
naming the op and the argument. The host path's HostTensor and HostDevice bind where the signature takes a
ttnn.Tensor and a MeshDevice."""

from __future__ import annotations

import importlib
import inspect
import numbers
import re
from dataclasses import dataclass

import ttnn

from tt.host.errors import BindingError
from tt.host.device import HostDevice
from tt.host.tensor import HostTensor

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
        return value if isinstance(value, (ttnn.Tensor, HostTensor)) else None


UNKNOWN_DEFAULT = object()
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
        head, default = chunk, UNKNOWN_DEFAULT
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
                                p.default if has_default else UNKNOWN_DEFAULT, None))
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
    if spec is ttnn.Tensor and isinstance(value, HostTensor):
        return True
    if spec is ttnn.MeshDevice and isinstance(value, HostDevice):
        return True
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
    raise BindingError(type_error or name_error)
