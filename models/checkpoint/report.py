"""What a load read, per component: returned by `load_policy(..., return_report=True)` and logged on every load."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .files import WeightFiles
from .layout import COMPONENTS, KeyMapping, component_of
from .safetensors_io import TORCH_DTYPES


@dataclass(frozen=True)
class ComponentReport:
    """One component (vision, projector, vlm, expert, suffix): its tensors as stored, or as randomly made."""

    name: str
    source: str  # "checkpoint", or "random (seed N)"
    tensors: int
    parameters: int
    bytes: int
    dtypes: tuple[str, ...]

    @property
    def random(self) -> bool:
        return self.source != "checkpoint"


@dataclass(frozen=True)
class LoadReport:
    source: str  # the checkpoint directory or preset name
    layout: str
    files: tuple[str, ...]
    dtype: str  # the dtype the policy was loaded in
    components: tuple[ComponentReport, ...]
    ignored: tuple[str, ...] = ()  # "key: why" for checkpoint tensors left out on purpose
    notes: tuple[str, ...] = ()  # config.json disagreements, assumed values, semantic differences

    @property
    def random_components(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.components if c.random)

    def summary(self) -> str:
        lines = [f"{self.source}: layout {self.layout}; loaded as {self.dtype}",
                 *(f"  file {f}" for f in self.files)]
        for c in self.components:
            lines.append(f"  {c.name:<9} {c.source:<16} {c.tensors:>5} tensors {c.parameters:>14,} parameters "
                         f"{c.bytes / 2**20:>10.1f} MiB  {'/'.join(c.dtypes)}")
        lines += [f"  ignored {i}" for i in self.ignored] + [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def checkpoint_component(name: str, mapping: KeyMapping, files: WeightFiles) -> ComponentReport:
    """A component's tensors as the checkpoint stores them (a fused QKV counts its share of rows)."""
    count = parameters = size = 0
    dtypes = set()
    for ours, ref in mapping.tensors.items():
        if component_of(ours) != name:
            continue
        entry = files.entry(ref.key)
        elements = math.prod(ref.shape_from(entry))
        count, parameters = count + 1, parameters + elements
        size += elements * TORCH_DTYPES[entry.dtype].itemsize
        dtypes.add(dtype_name(TORCH_DTYPES[entry.dtype]))
    return ComponentReport(name, "checkpoint", count, parameters, size, tuple(sorted(dtypes)))


def module_component(name: str, module: nn.Module, source: str) -> ComponentReport:
    params = list(module.parameters())
    return ComponentReport(name, source, len(params), sum(p.numel() for p in params),
                           sum(p.numel() * p.element_size() for p in params),
                           tuple(sorted({dtype_name(p.dtype) for p in params})))


def random_source(seed: int) -> str:
    return f"random (seed {seed})"


def preset_report(name: str, policy: nn.Module, seed: int) -> LoadReport:
    return LoadReport(source=name, layout="preset (random weights)", files=(), dtype=dtype_name(policy.dtype),
                      components=tuple(module_component(c, getattr(policy, c), random_source(seed))
                                       for c in COMPONENTS))
