"""What the cases run against: tiny policies, a tokenizer, statistics, valid inputs to spoil, and files on disk,
each built on first use under one temporary directory."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from models import Observation, get_preset, load_policy
from models.checks import warn_once
from models.inputs import make_observation, postprocess_actions
from models.normalization import ACTION_KEY, STATE_KEY, stats_from_dict
from models.tokenizer import SentencePieceTokenizer

CAMERA = "base_0_rgb"
STATE_DIM, ACTION_DIM = 7, 6
TOKENS = 8
_UNSET = object()


def raw_stats(kind: str) -> dict[str, dict[str, torch.Tensor]]:
    """lerobot-style statistics of a 7-dim state and 6-dim actions: mean/std/min/max (pi0), q01/q99 (pi0.5)."""
    gen = torch.Generator().manual_seed(3)

    def feature(dim: int) -> dict[str, torch.Tensor]:
        mean, std = torch.randn(dim, generator=gen), torch.rand(dim, generator=gen) + 0.5
        if kind == "pi0":
            return {"mean": mean, "std": std, "min": mean - 3 * std, "max": mean + 3 * std}
        return {"q01": mean - 2 * std, "q99": mean + 2 * std}
    return {STATE_KEY: feature(STATE_DIM), ACTION_KEY: feature(ACTION_DIM)}


class Env:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._policies: dict[tuple[str, str], object] = {}
        self._files = 0

    @staticmethod
    def reset_warnings() -> None:
        """Each case sees its warnings even when an earlier case logged the same one."""
        warn_once.cache_clear()

    def config(self, kind: str):
        return get_preset(f"{kind}-tiny")

    def policy(self, kind: str, backend: str = "reference"):
        if (kind, backend) not in self._policies:
            self._policies[kind, backend] = load_policy(f"{kind}-tiny", backend=backend, tt_cache_dir=None)
        return self._policies[kind, backend]

    # --- files ---

    def directory(self) -> Path:
        """A fresh empty directory under the root."""
        self._files += 1
        directory = self.root / f"{self._files:03d}"
        directory.mkdir(parents=True)
        return directory

    def path(self, name: str, content: bytes | str | None = None) -> Path:
        """A fresh path; written with `content` when given."""
        path = self.directory() / name
        if isinstance(content, str):
            path.write_text(content)
        elif content is not None:
            path.write_bytes(content)
        return path

    @cached_property
    def sp_model(self) -> Path:
        from tests.test_tokenizer import train_sentencepiece

        directory = self.root / "spm"
        directory.mkdir()
        return train_sentencepiece(directory)

    @cached_property
    def tokenizer(self) -> SentencePieceTokenizer:
        return SentencePieceTokenizer(self.sp_model)

    @cached_property
    def demo_checkpoint(self) -> Path:
        from demo.checkpoint import ensure_demo_checkpoint

        return ensure_demo_checkpoint("pi0", self.root / "weights")

    def stats_dir(self, kind: str = "pi0", change=None, preprocessor: dict | None = None) -> Path:
        """A checkpoint directory holding only normalisation statistics in lerobot's file names; `change(stats)`
        edits the raw statistics first; `preprocessor` is written as policy_preprocessor.json."""
        stats = raw_stats(kind)
        if change is not None:
            change(stats)
        directory = self.directory()
        flat = {f"{feature}.{name}": value for feature, values in stats.items() for name, value in values.items()}
        save_file(flat, str(directory / "policy_preprocessor_step_0_normalizer_processor.safetensors"))
        save_file({k: v for k, v in flat.items() if k.startswith(ACTION_KEY)},
                  str(directory / "policy_postprocessor_step_0_unnormalizer_processor.safetensors"))
        if preprocessor is not None:
            (directory / "policy_preprocessor.json").write_text(json.dumps(preprocessor))
        return directory

    # --- valid inputs, and calls with some of them replaced ---

    def stats(self, kind: str = "pi0"):
        return stats_from_dict(raw_stats(kind), kind)

    def raw_state(self, kind: str = "pi0") -> np.ndarray:
        """A robot state in the middle of the statistics' range."""
        stats = raw_stats(kind)[STATE_KEY]
        middle = stats["mean"] if kind == "pi0" else (stats["q01"] + stats["q99"]) / 2
        return middle.numpy().astype(np.float32)

    @staticmethod
    def raw_image(batch: int | None = None) -> np.ndarray:
        shape = (240, 320, 3) if batch is None else (batch, 240, 320, 3)
        return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)

    def make(self, kind: str = "pi0", **changes) -> Observation:
        arguments = dict(config=self.config(kind), images={CAMERA: self.raw_image()}, prompt="pick up the cube",
                         state=self.raw_state(kind), tokenizer=self.tokenizer, stats=self.stats(kind))
        arguments.update(changes)
        return make_observation(**arguments)

    def observation(self, kind: str = "pi0", batch: int = 1, **changes) -> Observation:
        """A model-ready Observation; `changes` replace its fields."""
        gen = torch.Generator().manual_seed(1)
        fields = dict(images={CAMERA: torch.rand(batch, 3, 224, 224, generator=gen) * 2 - 1},
                      tokens=torch.randint(0, 400, (batch, TOKENS), generator=gen),
                      token_masks=torch.ones(batch, TOKENS, dtype=torch.bool),
                      state=torch.randn(batch, 32, generator=gen) if kind == "pi0" else None)
        fields.update(changes)
        return Observation(**fields)

    def sample(self, kind: str = "pi0", backend: str = "reference", observation=_UNSET, noise=None,
               num_steps=1, **changes):
        """policy.sample_actions on a valid observation (or the one given), one step unless told."""
        policy = self.policy(kind, backend)
        observation = self.observation(kind, **changes) if observation is _UNSET else observation
        return policy.sample_actions(observation, noise=noise, num_steps=num_steps)

    def noise(self, batch: int = 1) -> torch.Tensor:
        suffix = self.config("pi0").suffix
        return torch.randn(batch, suffix.horizon, suffix.action_dim, generator=torch.Generator().manual_seed(2))

    def postprocess(self, actions=_UNSET, stats=_UNSET, action_dim=ACTION_DIM):
        actions = torch.randn(1, 50, 32) if actions is _UNSET else actions
        return postprocess_actions(actions, self.stats("pi0") if stats is _UNSET else stats, action_dim)

    def demo(self, *args: str, backend: str = "reference"):
        """The demo CLI on the tiny pi0 checkpoint (one denoising step unless told), writing under a fresh
        directory."""
        from demo.__main__ import cli

        out = self.directory()
        return cli(["--checkpoint", str(self.demo_checkpoint), "--backend", backend, "--tokenizer",
                    str(self.sp_model), "--out", str(out / "demo_output"), "--tt-cache", str(out / "tt-cache"),
                    "--steps", "1", *args])
