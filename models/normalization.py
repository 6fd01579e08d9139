"""State/action normalisation, with statistics read from a lerobot checkpoint directory.

lerobot (>= 0.4) saves them next to a pretrained policy as processor-pipeline state
(`lerobot/processor/pipeline.py`, `DataProcessorPipeline._save_pretrained`):
- `policy_preprocessor.json`: the steps; the one with registry_name "normalizer_processor" names its
  `state_file` and carries `config.norm_map` ({"STATE": "MEAN_STD", "ACTION": ...}) and `config.eps`;
- `policy_preprocessor_step_{i}_normalizer_processor.safetensors`: flat `{feature}.{stat}` tensors, e.g.
  `observation.state.mean`, `observation.state.std`, `observation.state.q01`, `action.q99`;
- `policy_postprocessor.json` / `policy_postprocessor_step_{i}_unnormalizer_processor.safetensors`: the same for
  the action unnormaliser.
The formulas are lerobot's `_NormalizationMixin._apply_transform` (`lerobot/processor/normalize_processor.py`),
written in the same operation order so that float32 results agree; pi0 uses MEAN_STD and pi0.5 QUANTILES
(`normalization_mapping` in `configuration_pi0.py` / `configuration_pi05.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Mapping

import torch
from loguru import logger
from safetensors.torch import load_file

STATE_KEY = "observation.state"
ACTION_KEY = "action"
PREPROCESSOR = "policy_preprocessor"
POSTPROCESSOR = "policy_postprocessor"
NORMALIZER_STEP = "normalizer_processor"
UNNORMALIZER_STEP = "unnormalizer_processor"
EPS = 1e-8  # lerobot's default `eps`


class NormMode(str, Enum):
    IDENTITY = "IDENTITY"
    MEAN_STD = "MEAN_STD"
    MIN_MAX = "MIN_MAX"
    QUANTILES = "QUANTILES"
    QUANTILE10 = "QUANTILE10"


REQUIRED_STATS = {
    NormMode.IDENTITY: (),
    NormMode.MEAN_STD: ("mean", "std"),
    NormMode.MIN_MAX: ("min", "max"),
    NormMode.QUANTILES: ("q01", "q99"),
    NormMode.QUANTILE10: ("q10", "q90"),
}


def default_mode(kind: str) -> NormMode:
    """lerobot's default for the policy kind: pi0 MEAN_STD, pi0.5 QUANTILES."""
    return NormMode.MEAN_STD if kind == "pi0" else NormMode.QUANTILES


@dataclass(frozen=True)
class FeatureNorm:
    """Statistics of one feature (state or action) and the mode that uses them; tensors are float32 [D]."""

    name: str
    mode: NormMode
    stats: Mapping[str, torch.Tensor]
    eps: float = EPS

    def __post_init__(self):
        missing = [s for s in REQUIRED_STATS[self.mode] if s not in self.stats]
        if missing:
            raise ValueError(f"{self.mode.value} normalisation of {self.name!r} needs stats {missing}, "
                             f"found {sorted(self.stats)}")

    @property
    def dim(self) -> int | None:
        needed = REQUIRED_STATS[self.mode]
        return self.stats[needed[0]].shape[-1] if needed else None

    def _check(self, x: torch.Tensor) -> None:
        if self.dim is not None and x.shape[-1] != self.dim:
            raise ValueError(f"{self.name!r} has {x.shape[-1]} dims but its normalisation stats have {self.dim}")

    def _stat(self, key: str, like: torch.Tensor) -> torch.Tensor:
        return self.stats[key].to(device=like.device, dtype=like.dtype)

    def _range(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low_key, high_key = REQUIRED_STATS[self.mode]
        low = self._stat(low_key, like)
        denom = self._stat(high_key, like) - low
        # lerobot: identical bounds divide by eps instead of 0.
        denom = torch.where(denom == 0, torch.tensor(self.eps, device=like.device, dtype=like.dtype), denom)
        return low, denom

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        if self.mode == NormMode.IDENTITY:
            return x
        if self.mode == NormMode.MEAN_STD:
            return (x - self._stat("mean", x)) / (self._stat("std", x) + self.eps)
        low, denom = self._range(x)
        return 2.0 * (x - low) / denom - 1.0

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        if self.mode == NormMode.IDENTITY:
            return x
        if self.mode == NormMode.MEAN_STD:
            return x * self._stat("std", x) + self._stat("mean", x)
        low, denom = self._range(x)
        if self.mode == NormMode.MIN_MAX:
            return (x + 1) / 2 * denom + low
        return (x + 1.0) * denom / 2.0 + low


@dataclass(frozen=True)
class NormStats:
    """State and action normalisation; None where the checkpoint has no statistics (never invented)."""

    state: FeatureNorm | None = None
    action: FeatureNorm | None = None
    source: str | None = None

    @property
    def has_state(self) -> bool:
        return self.state is not None

    @property
    def has_action(self) -> bool:
        return self.action is not None


def _feature(flat: Mapping[str, torch.Tensor], key: str, mode: NormMode, eps: float) -> FeatureNorm | None:
    stats = {name.rsplit(".", 1)[1]: t.to(torch.float32) for name, t in flat.items() if name.rsplit(".", 1)[0] == key}
    return FeatureNorm(key, mode, stats, eps) if stats else None


def stats_from_dict(stats: Mapping[str, Mapping[str, object]], kind: str) -> NormStats:
    """lerobot-style `{"observation.state": {"mean": ..., "std": ...}, "action": {...}}` (e.g. a dataset's
    `meta.stats`) -> NormStats with the policy kind's default mode."""
    mode = default_mode(kind)
    flat = {f"{key}.{name}": torch.as_tensor(value) for key, sub in stats.items() for name, value in sub.items()}
    return NormStats(_feature(flat, STATE_KEY, mode, EPS), _feature(flat, ACTION_KEY, mode, EPS), "dict")


def _find_step(directory: Path, pipeline: str, registry_name: str) -> tuple[Path | None, dict]:
    """The step's state file and config, from `{pipeline}.json` or else by lerobot's file-name pattern."""
    config_path = directory / f"{pipeline}.json"
    if config_path.is_file():
        for step in json.loads(config_path.read_text()).get("steps", []):
            if step.get("registry_name") == registry_name and step.get("state_file"):
                return directory / step["state_file"], step.get("config", {})
    matches = sorted(directory.glob(f"{pipeline}_step_*_{registry_name}.safetensors"))
    return (matches[0], {}) if matches else (None, {})


def _mode(config: dict, feature_type: str, kind: str) -> NormMode:
    return NormMode(config.get("norm_map", {}).get(feature_type, default_mode(kind).value))


def load_stats(directory: str | Path, kind: str) -> NormStats:
    """Statistics saved next to a lerobot policy. Modes come from the saved norm_map, else the kind's default.
    Missing statistics are logged as warnings and left as None."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"checkpoint directory {directory} does not exist")
    pre_file, pre_config = _find_step(directory, PREPROCESSOR, NORMALIZER_STEP)
    post_file, post_config = _find_step(directory, POSTPROCESSOR, UNNORMALIZER_STEP)
    pre = load_file(pre_file) if pre_file and pre_file.is_file() else {}
    post = load_file(post_file) if post_file and post_file.is_file() else {}
    state = _feature(pre, STATE_KEY, _mode(pre_config, "STATE", kind), pre_config.get("eps", EPS))
    # Actions are unnormalised by the postprocessor; its stats win over the preprocessor's copy.
    action = (_feature(post, ACTION_KEY, _mode(post_config, "ACTION", kind), post_config.get("eps", EPS))
              or _feature(pre, ACTION_KEY, _mode(pre_config, "ACTION", kind), pre_config.get("eps", EPS)))
    if state is None:
        logger.warning("no state normalisation statistics ({}.*) in {}: the state will reach the model "
                       "unnormalised", STATE_KEY, directory)
    if action is None:
        logger.warning("no action normalisation statistics ({}.*) in {}: actions will be returned in the "
                       "model's normalised units", ACTION_KEY, directory)
    sources = [str(f) for f, data in ((pre_file, pre), (post_file, post)) if data]
    return NormStats(state, action, ", ".join(sources) or None)
