"""What a layout module produces: where each of our parameters comes from in the checkpoint.

Our parameter names are the module tree of reference/policy.py: `vision.*` (HF SigLIP names), `projector.linear.*`,
`vlm.*` and `expert.*` (HF decoder names), `suffix.*`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .safetensors_io import TensorEntry

COMPONENTS = ("vision", "projector", "vlm", "expert", "suffix")


def component_of(name: str) -> str:
    return name.split(".", 1)[0]


@dataclass(frozen=True)
class TensorRef:
    """One of our parameters read from a checkpoint key: all of it, or a block of rows of a fused tensor (QKV),
    optionally reshaped (timm's [1, N, D] position embedding). Both stay views of the mapped file."""

    key: str
    rows: tuple[int, int] | None = None
    shape: tuple[int, ...] | None = None

    def shape_from(self, entry: TensorEntry) -> tuple[int, ...]:
        if self.shape is not None:
            return self.shape
        if self.rows is not None:
            return (self.rows[1] - self.rows[0], *entry.shape[1:])
        return entry.shape


@dataclass
class KeyMapping:
    """A checkpoint's keys sorted into: our parameters, keys knowingly left out (with why), keys that belong
    nowhere, and layout-level problems (an unsupported projector form, a fused vision backbone...)."""

    layout: str
    provided: frozenset[str]  # components the checkpoint carries; the others are built with random weights
    tensors: dict[str, TensorRef] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # warnings about what loads but differs from the source model
    source_key: Callable[[str], str | None] = lambda name: None  # our name -> checkpoint key, for messages

    def add(self, name: str, ref: TensorRef) -> None:
        previous = self.tensors.get(name)
        if previous is not None and previous.key != ref.key:
            self.problems.append(f"duplicate {name}: both {previous.key!r} and {ref.key!r} map to it")
        self.tensors[name] = ref

    def tie_embedding(self, embed: str, lm_head_key: str | None, note: str) -> None:
        """Fill a missing token embedding from the tied lm_head, or record why the lm_head is left out."""
        if lm_head_key is None:
            return
        if embed in self.tensors:
            self.ignored[lm_head_key] = note
        else:
            self.tensors[embed] = TensorRef(lm_head_key)
            self.ignored.pop(lm_head_key, None)

    def describe(self, name: str) -> str:
        key = self.tensors[name].key if name in self.tensors else self.source_key(name)
        return name if key is None or key == name else f"{name} (checkpoint key {key!r})"
