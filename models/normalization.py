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
from safetensors import SafetensorError
from safetensors.torch import load_file

from .checks import described, dims_phrase

STATE_KEY = "observation.state"
ACTION_KEY = "action"
PREPROCESSOR = "policy_preprocessor"
POSTPROCESSOR = "policy_postprocessor"
NORMALIZER_STEP = "normalizer_processor"
UNNORMALIZER_STEP = "unnormalizer_processor"
EPS = 1e-8  # lerobot's default `eps`
KINDS = ("pi0", "pi05")
# Without a range of its own (MEAN_STD), a value this many standard deviations from the mean is outside what the
# statistics describe.
OUTLIER_STDS = 5.0


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


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} (the policy's config.suffix.kind), found {kind!r}")


def default_mode(kind: str) -> NormMode:
    """lerobot's default for the policy kind: pi0 MEAN_STD, pi0.5 QUANTILES."""
    check_kind(kind)
    return NormMode.MEAN_STD if kind == "pi0" else NormMode.QUANTILES


@dataclass(frozen=True)
class FeatureNorm:
    """Statistics of one feature (state or action) and the mode that uses them; tensors are float32 [D]."""

    name: str
    mode: NormMode
    stats: Mapping[str, torch.Tensor]
    eps: float = EPS

    def __post_init__(self):
        """Statistics that would divide by a negative spread, or turn every value into NaN, are errors."""
        needed = REQUIRED_STATS[self.mode]
        missing = [s for s in needed if s not in self.stats]
        if missing:
            raise ValueError(f"{self.mode.value} normalisation of {self.name!r} needs stats {missing}, "
                             f"found {sorted(self.stats)}")
        for stat in needed:
            value = self.stats[stat]
            if value.ndim != 1:
                raise ValueError(f"{self.name}.{stat} must be a vector [D], found shape {tuple(value.shape)}")
            bad = (~torch.isfinite(value)).nonzero()[:, 0]
            if len(bad):
                raise ValueError(f"{self.name}.{stat} holds NaN or infinite values at {dims_phrase(bad)}")
            if value.shape != self.stats[needed[0]].shape:
                raise ValueError(f"{self.name}: {stat} has {value.shape[0]} values, {needed[0]} has "
                                 f"{self.stats[needed[0]].shape[0]}")
        if self.mode == NormMode.MEAN_STD:
            negative = (self.stats["std"] < 0).nonzero()[:, 0]
            if len(negative):
                raise ValueError(f"{self.name}.std is negative at {dims_phrase(negative)} (e.g. "
                                 f"{float(self.stats['std'][negative[0]]):.4g})")
        elif needed:
            low, high = needed
            inverted = (self.stats[low] > self.stats[high]).nonzero()[:, 0]
            if len(inverted):
                first = int(inverted[0])
                raise ValueError(f"{self.name}: {low} above {high} at {dims_phrase(inverted)} (e.g. "
                                 f"{float(self.stats[low][first]):.4g} > {float(self.stats[high][first]):.4g})")

    def zero_spread_dims(self) -> list[int]:
        """Dims whose statistics have no spread (std 0, or equal bounds): a constant joint in the training data."""
        needed = REQUIRED_STATS[self.mode]
        if not needed:
            return []
        if self.mode == NormMode.MEAN_STD:
            return (self.stats["std"] == 0).nonzero()[:, 0].tolist()
        return (self.stats[needed[0]] == self.stats[needed[1]]).nonzero()[:, 0].tolist()

    def zero_spread_reason(self) -> str:
        """What zero spread means in this mode, for messages: "std 0" or "q01 == q99"."""
        needed = REQUIRED_STATS[self.mode]
        return "std 0" if self.mode == NormMode.MEAN_STD else " == ".join(needed)

    def outside_range(self, x: torch.Tensor) -> torch.Tensor:
        """bool, like x: values outside what the statistics describe: beyond the mode's bounds (min..max,
        q01..q99, q10..q90), or OUTLIER_STDS standard deviations from the mean (MEAN_STD)."""
        self._check(x)
        if self.mode == NormMode.IDENTITY:
            return torch.zeros_like(x, dtype=torch.bool)
        if self.mode == NormMode.MEAN_STD:
            return (x - self._stat("mean", x)).abs() > OUTLIER_STDS * self._stat("std", x)
        low_key, high_key = REQUIRED_STATS[self.mode]
        return (x < self._stat(low_key, x)) | (x > self._stat(high_key, x))

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


def _warn_zero_spread(state: FeatureNorm | None, source: str) -> None:
    """A constant joint is legitimate for actions (the policy then always outputs it) but a trap for the state: any
    value there other than the constant normalises to (x - constant) / eps."""
    dims = state.zero_spread_dims() if state is not None else []
    if dims:
        logger.warning("{} {} has zero spread in {} ({}): any state there other than the training value "
                       "normalises to (x - value) / {:g}", state.name, dims_phrase(dims), source,
                       state.zero_spread_reason(), state.eps)


def _tensor(value, name: str) -> torch.Tensor:
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be numbers, found {described(value)}") from None


def stats_from_dict(stats: Mapping[str, Mapping[str, object]], kind: str) -> NormStats:
    """lerobot-style `{"observation.state": {"mean": ..., "std": ...}, "action": {...}}` (e.g. a dataset's
    `meta.stats`) -> NormStats with the policy kind's default mode."""
    mode = default_mode(kind)
    flat = {f"{key}.{name}": _tensor(value, f"{key}.{name}")
            for key, sub in stats.items() for name, value in sub.items()}
    state = _feature(flat, STATE_KEY, mode, EPS)
    _warn_zero_spread(state, "the statistics given")
    return NormStats(state, _feature(flat, ACTION_KEY, mode, EPS), "the statistics given")


def _find_step(directory: Path, pipeline: str, registry_name: str) -> tuple[Path | None, dict, Path | None]:
    """The step's state file and config, from `{pipeline}.json` or else by lerobot's file-name pattern; and the
    json the config came from, if any."""
    config_path = directory / f"{pipeline}.json"
    if config_path.is_file():
        try:
            steps = json.loads(config_path.read_text()).get("steps", [])
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
            raise ValueError(f"{config_path}: not a lerobot processor config ({err})") from None
        for step in steps:
            if step.get("registry_name") == registry_name and step.get("state_file"):
                state_file = directory / step["state_file"]
                if not state_file.is_file():
                    raise ValueError(f"{config_path} names the statistics file {step['state_file']}, which is not "
                                     f"in {directory}")
                return state_file, step.get("config", {}), config_path
    matches = sorted(directory.glob(f"{pipeline}_step_*_{registry_name}.safetensors"))
    return (matches[0], {}, None) if matches else (None, {}, None)


def _mode(config: dict, feature_type: str, kind: str, config_path: Path | None) -> NormMode:
    value = config.get("norm_map", {}).get(feature_type, default_mode(kind).value)
    try:
        return NormMode(value)
    except ValueError:
        raise ValueError(f"{config_path}: unknown normalisation mode {value!r} for {feature_type}; known: "
                         f"{', '.join(m.value for m in NormMode)}") from None


def _read(file: Path | None) -> dict[str, torch.Tensor]:
    if file is None:
        return {}
    try:
        return load_file(file)
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{file}: unreadable statistics file ({err})") from None


def _file_feature(flat, key: str, config: dict, feature_type: str, kind: str, config_path: Path | None,
                  file: Path | None) -> FeatureNorm | None:
    """_feature, with any problem of the statistics named by the file that holds them."""
    mode = _mode(config, feature_type, kind, config_path)
    try:
        return _feature(flat, key, mode, config.get("eps", EPS))
    except ValueError as err:
        raise ValueError(f"{file}: {err}") from None


def load_stats(directory: str | Path, kind: str) -> NormStats:
    """Statistics saved next to a lerobot policy. Modes come from the saved norm_map, else the kind's default.
    Missing statistics are left as None (make_observation / postprocess_actions warn when they go without); any
    problem with what is there is an error naming its file."""
    check_kind(kind)
    directory = Path(directory)
    if not directory.exists():
        raise ValueError(f"checkpoint directory {directory} does not exist")
    if not directory.is_dir():
        raise ValueError(f"load_stats: {directory} is not a directory (expected the checkpoint directory)")
    pre_file, pre_config, pre_json = _find_step(directory, PREPROCESSOR, NORMALIZER_STEP)
    post_file, post_config, post_json = _find_step(directory, POSTPROCESSOR, UNNORMALIZER_STEP)
    pre, post = _read(pre_file), _read(post_file)
    state = _file_feature(pre, STATE_KEY, pre_config, "STATE", kind, pre_json, pre_file)
    # Actions are unnormalised by the postprocessor; its stats win over the preprocessor's copy.
    action = (_file_feature(post, ACTION_KEY, post_config, "ACTION", kind, post_json, post_file)
              or _file_feature(pre, ACTION_KEY, pre_config, "ACTION", kind, pre_json, pre_file))
    _warn_zero_spread(state, str(pre_file))
    sources = [str(f) for f, data in ((pre_file, pre), (post_file, post)) if data]
    return NormStats(state, action, ", ".join(sources) or str(directory))
