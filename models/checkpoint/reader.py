"""Read a checkpoint directory: detect its layout, infer the architecture, validate everything, then hand out the
weights as zero-copy views (converted tensor by tensor only where the requested dtype differs)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from loguru import logger

from ..config import PolicyConfig
from . import decoder_layout, lerobot_layout, prismatic_layout
from .architecture import infer_config
from .errors import CheckpointError, raise_problems
from .files import WeightFiles, open_weight_files, read_config
from .layout import COMPONENTS, KeyMapping, component_of
from .report import ComponentReport, LoadReport, checkpoint_component, dtype_name
from .safetensors_io import TensorEntry
from .shapes import Shapes
from .validation import content_problems, structure_problems

# Tried in order; the first whose rule matches the keys wins (pi0 trees may carry stray foreign keys).
LAYOUTS = (lerobot_layout, prismatic_layout, decoder_layout)


def map_checkpoint(entries: dict[str, TensorEntry], directory: Path) -> KeyMapping:
    keys = list(entries)
    for layout in LAYOUTS:
        if layout.matches(keys):
            return layout.map_keys(entries)
    sample = ", ".join(repr(k) for k in keys[:5]) or "none"
    raise CheckpointError(f"{directory}: unknown checkpoint layout (keys: {sample}{', ...' if len(keys) > 5 else ''})."
                          " Known: lerobot / openpi pi0 and pi0.5, Hugging Face decoders (model.layers.*), Prismatic")


@dataclass
class Checkpoint:
    """A validated checkpoint: its architecture and where each of our parameters is in the mapped files."""

    directory: Path
    config: PolicyConfig
    files: WeightFiles
    mapping: KeyMapping
    base_preset: str | None
    notes: tuple[str, ...]

    @property
    def random_components(self) -> tuple[str, ...]:
        return tuple(c for c in COMPONENTS if c not in self.mapping.provided)

    def tensors(self, dtype: torch.dtype) -> Iterator[tuple[str, torch.Tensor]]:
        """(our name, tensor) pairs: views of the file when stored in `dtype`, else converted one at a time, the
        source pages dropped as soon as a key's last use is converted."""
        pending = Counter(ref.key for ref in self.mapping.tensors.values())
        for name, ref in self.mapping.tensors.items():
            tensor = self.files.tensor(ref.key)
            if ref.rows is not None:
                tensor = tensor[ref.rows[0]:ref.rows[1]]
            if ref.shape is not None:
                tensor = tensor.reshape(ref.shape)
            pending[ref.key] -= 1
            if tensor.dtype != dtype:
                tensor = tensor.to(dtype)
                if not pending[ref.key]:
                    self.files.release(ref.key)
            yield name, tensor

    def report(self, dtype: torch.dtype, random_parts: dict[str, ComponentReport]) -> LoadReport:
        """The load report, given the reports of the components built with random weights."""
        components = tuple(random_parts.get(c) or checkpoint_component(c, self.mapping, self.files) for c in COMPONENTS)
        ignored = tuple(f"{key}: {why}" for key, why in self.mapping.ignored.items())
        return LoadReport(source=str(self.directory), layout=self.mapping.layout,
                          files=tuple(str(f.path) for f in self.files.files), dtype=dtype_name(dtype),
                          components=components, ignored=ignored, notes=self.notes)


def read_checkpoint(directory: str | Path, parameter_shapes: Callable[[PolicyConfig], dict[str, tuple[int, ...]]],
                    base_preset: str | None = None) -> Checkpoint:
    """Open, detect, infer and validate. Raises one CheckpointError listing every problem found.

    parameter_shapes(config) gives the policy's parameter names and shapes for an architecture (the caller owns the
    module tree). Nothing is allocated for the weights here; the non-finite scan only reads the mapped pages.
    """
    directory = Path(directory)
    files = open_weight_files(directory)
    meta = read_config(directory)
    entries = {key: files.entry(key) for key in files.owner}
    mapping = map_checkpoint(entries, directory)
    found = {name: ref.shape_from(entries[ref.key]) for name, ref in mapping.tensors.items()}
    notes = list(mapping.notes)
    for note in mapping.notes:
        logger.warning("{}: {}", directory, note)
    problems, config, base = [], None, None
    try:
        config, base = infer_config(mapping, Shapes(found, mapping.describe), meta, base_preset, notes)
    except CheckpointError as err:
        problems.append(str(err))
    if config is not None:
        expected = {name: shape for name, shape in parameter_shapes(config).items()
                    if component_of(name) in mapping.provided}
        problems += structure_problems(mapping, found, expected)
    else:
        problems += structure_problems(mapping, {}, {})  # the key-level problems still count
    problems += content_problems(files)
    for key in mapping.ignored:
        files.release(key)
    raise_problems(directory, problems)
    if base_preset is not None and base is None:
        notes.append(f"base_preset {base_preset!r} unused: the checkpoint has every component")
    return Checkpoint(directory, config, files, mapping, base, tuple(notes))
