"""Files and loaders: `load_stats` / `stats_from_dict`, `load_tokenizer`, `load_policy`."""

from __future__ import annotations

import torch

from models import load_policy
from models.normalization import load_stats, stats_from_dict
from models.tokenizer import load_tokenizer

from .env import raw_stats
from .runner import Case

STATE_FILE = "policy_preprocessor_step_0_normalizer_processor.safetensors"
ACTION_FILE = "policy_postprocessor_step_0_unnormalizer_processor.safetensors"


def _set(feature: str, stat: str, dim: int, value: float):
    def change(stats):
        stats[feature][stat][dim] = value
    return change


def _stats(env, kind: str = "pi0", change=None, preprocessor=None, load_as: str | None = None):
    return load_stats(env.stats_dir(kind, change, preprocessor), load_as or kind)


def _corrupt(env, name: str):
    directory = env.stats_dir()
    (directory / name).write_bytes(b"\x00not safetensors")
    return load_stats(directory, "pi0")


def _preprocessor(mode: str = "MEAN_STD", state_file: str = STATE_FILE) -> dict:
    return {"name": "policy_preprocessor",
            "steps": [{"registry_name": "normalizer_processor", "state_file": state_file,
                       "config": {"norm_map": {"STATE": mode, "ACTION": mode}, "eps": 1e-8}}]}


def _widths(stats):
    stats["observation.state"]["std"] = stats["observation.state"]["std"][:5]


def _matrix(stats):
    stats["observation.state"]["mean"] = stats["observation.state"]["mean"][:, None]


def _tt_cache(env, under_file: bool):
    blocker = env.path("cache-file", "not a directory")
    return load_policy("pi0-tiny", backend="tt", tt_cache_dir=blocker / "tt" if under_file else blocker)


CASES = [
    Case("load_stats", "a directory that does not exist", "error", ("missing", "does not exist"),
         lambda env: load_stats(env.root / "missing", "pi0")),
    Case("load_stats", "a file instead of a directory", "error", ("notes.txt", "not a directory"),
         lambda env: load_stats(env.path("notes.txt", "x"), "pi0")),
    Case("load_stats", "an unknown policy kind", "error", ("kind", "'pi1'", "pi05"),
         lambda env: _stats(env, load_as="pi1")),
    Case("load_stats", "a NaN std", "error", (STATE_FILE, "observation.state.std", "NaN"),
         lambda env: _stats(env, change=_set("observation.state", "std", 1, float("nan")))),
    Case("load_stats", "an infinite mean", "error", (STATE_FILE, "observation.state.mean", "inf"),
         lambda env: _stats(env, change=_set("observation.state", "mean", 1, float("inf")))),
    Case("load_stats", "a NaN action q99", "error", (ACTION_FILE, "action.q99", "NaN"),
         lambda env: _stats(env, "pi05", change=_set("action", "q99", 0, float("nan")))),
    Case("load_stats", "a negative std", "error", (STATE_FILE, "observation.state.std", "negative"),
         lambda env: _stats(env, change=_set("observation.state", "std", 1, -0.5))),
    Case("load_stats", "q01 above q99", "error", (STATE_FILE, "observation.state", "q01", "q99", "dim 0"),
         lambda env: _stats(env, "pi05", change=_set("observation.state", "q01", 0, 100.0))),
    Case("load_stats", "a state std of zero", "warning", ("observation.state", "dim 2", "std"),
         lambda env: _stats(env, change=_set("observation.state", "std", 2, 0.0))),
    Case("load_stats", "a state with q01 == q99", "warning", ("observation.state", "dim 2", "q01"),
         lambda env: _stats(env, "pi05", change=lambda s: s["observation.state"]["q99"].__setitem__(
             2, s["observation.state"]["q01"][2]))),
    Case("load_stats", "an action std of zero (a constant action)", "ok", (),
         lambda env: _stats(env, change=_set("action", "std", 2, 0.0))),
    Case("load_stats", "stats of different widths", "error", ("observation.state", "std", "5", "7"),
         lambda env: _stats(env, change=_widths)),
    Case("load_stats", "a 2-D statistic", "error", ("observation.state.mean", "(7, 1)"),
         lambda env: _stats(env, change=_matrix)),
    Case("load_stats", "a corrupt statistics file", "error", (STATE_FILE,),
         lambda env: _corrupt(env, STATE_FILE)),
    Case("load_stats", "a corrupt policy_preprocessor.json", "error", ("policy_preprocessor.json",),
         lambda env: _corrupt(env, "policy_preprocessor.json")),
    Case("load_stats", "an unknown normalisation mode", "error", ("policy_preprocessor.json", "'FOO'", "MEAN_STD"),
         lambda env: _stats(env, preprocessor=_preprocessor("FOO"))),
    Case("load_stats", "a json naming a missing statistics file", "error",
         ("policy_preprocessor.json", "gone.safetensors"),
         lambda env: _stats(env, preprocessor=_preprocessor(state_file="gone.safetensors"))),
    Case("stats_from_dict", "a NaN statistic", "error", ("observation.state.std", "NaN"),
         lambda env: stats_from_dict({"observation.state": {"mean": [0.0, 1.0], "std": [1.0, float("nan")]}},
                                     "pi0")),
    Case("stats_from_dict", "lists of numbers", "ok", (),
         lambda env: stats_from_dict({k: {s: v.tolist() for s, v in f.items()} for k, f in raw_stats("pi0").items()},
                                     "pi0")),
    Case("stats_from_dict", "an unknown policy kind", "error", ("kind", "'pi1'"),
         lambda env: stats_from_dict(raw_stats("pi0"), "pi1")),
    Case("stats_from_dict", "a statistic that is not numbers", "error", ("observation.state.mean", "str"),
         lambda env: stats_from_dict({"observation.state": {"mean": "zero", "std": [1.0]}}, "pi0")),
    Case("load_tokenizer", "a malformed tokenizer.json", "error", ("tokenizer.json",),
         lambda env: load_tokenizer(env.path("tokenizer.json", "{ not json"), 1024)),
    Case("load_tokenizer", "a corrupt SentencePiece .model", "error", ("tokenizer.model",),
         lambda env: load_tokenizer(env.path("tokenizer.model", b"\x01\x02garbage"), 1024)),
    Case("load_tokenizer", "an empty .model file", "error", ("empty.model",),
         lambda env: load_tokenizer(env.path("empty.model", b""), 1024)),
    Case("load_tokenizer", "a path that does not exist", "error", ("nothing.model", "does not exist"),
         lambda env: load_tokenizer(env.root / "nothing.model", 1024)),
    Case("load_tokenizer", "a directory without a tokenizer", "error", ("tokenizer.model", "tokenizer.json"),
         lambda env: load_tokenizer(env.directory(), 1024)),
    Case("load_tokenizer", "an unknown file type", "error", ("vocab.txt", ".model", "tokenizer.json"),
         lambda env: load_tokenizer(env.path("vocab.txt", "a b c"), 1024)),
    Case("load_tokenizer", "an integer as the path", "error", ("tokenizer", "int"),
         lambda env: load_tokenizer(5, 1024)),
    Case("load_tokenizer", "a string vocab_size", "error", ("vocab_size", "'1024'"),
         lambda env: load_tokenizer(None, "1024")),
    Case("load_policy", "a TT cache path that is a file", "error", ("tt_cache_dir", "cache-file", "not a directory"),
         lambda env: _tt_cache(env, under_file=False)),
    Case("load_policy", "a TT cache path under a file", "error", ("tt_cache_dir", "cache-file", "not a directory"),
         lambda env: _tt_cache(env, under_file=True)),
    Case("load_policy", "a TT cache path that is a number", "error", ("tt_cache_dir", "int"),
         lambda env: load_policy("pi0-tiny", backend="tt", tt_cache_dir=7)),
    Case("load_policy", "an unknown backend", "error", ("backend", "'cuda'", "reference"),
         lambda env: load_policy("pi0-tiny", backend="cuda")),
    Case("load_policy", "an unknown precision", "error", ("precision", "'fp4'", "bfp8"),
         lambda env: load_policy("pi0-tiny", backend="tt", precision="fp4", tt_cache_dir=None)),
    Case("load_policy", "a float16 dtype", "error", ("dtype", "float16"),
         lambda env: load_policy("pi0-tiny", dtype=torch.float16)),
    Case("load_policy", "a checkpoint directory that does not exist", "error", ("no-such-dir", "preset"),
         lambda env: load_policy(env.root / "no-such-dir")),
    Case("load_policy", "a directory without weights", "error", ("safetensors",),
         lambda env: load_policy(env.directory())),
    Case("load_policy", "a string seed", "error", ("seed", "'0'"),
         lambda env: load_policy("pi0-tiny", seed="0")),
]
