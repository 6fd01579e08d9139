"""Checkpoints and tokenizers found in the local Hugging Face hub cache, offline: nothing is ever downloaded.

The cache location and layout are huggingface_hub's (`huggingface_hub/constants.py`, `file_download.py`):
- location: $HF_HUB_CACHE, else the legacy $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, with HF_HOME defaulting to
  $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface (`~` and `$VARS` expanded);
- a model repo "org/name" lives in `models--org--name/`; `refs/<branch or tag>` holds a commit hash and
  `snapshots/<commit>/` the files of that commit (symlinks into `blobs/`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
DEFAULT_REVISION = "main"


@dataclass(frozen=True)
class HubCache:
    """The hub cache folder and what chose it (for error messages)."""

    path: Path
    chosen_by: str


def hub_cache(environ: Mapping[str, str] | None = None) -> HubCache:
    """Where huggingface_hub keeps downloaded repos, from the environment (`os.environ` unless given)."""
    env = os.environ if environ is None else environ

    def expanded(value: str) -> Path:
        return Path(os.path.expandvars(os.path.expanduser(value)))

    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(name):
            return HubCache(expanded(env[name]), f"${name}")
    if env.get("HF_HOME"):
        return HubCache(expanded(env["HF_HOME"]) / "hub", "$HF_HOME/hub")
    if env.get("XDG_CACHE_HOME"):
        return HubCache(expanded(env["XDG_CACHE_HOME"]) / "huggingface" / "hub", "$XDG_CACHE_HOME/huggingface/hub")
    return HubCache(expanded("~/.cache/huggingface/hub"), "the default ~/.cache/huggingface/hub")


def is_repo_id(text: str) -> bool:
    """"org/name" as the Hub spells model repos."""
    return bool(_REPO_ID.match(text)) and ".." not in text


def repo_snapshot(repo_id: str, revision: str = DEFAULT_REVISION, cache: HubCache | None = None) -> Path:
    """The cached files of `repo_id` at `revision` (a branch or tag in refs/, or a commit hash).

    Raises FileNotFoundError naming the repo id, the revision and every folder looked in when they are not cached.
    """
    if not is_repo_id(repo_id):
        raise ValueError(f"{repo_id!r} is not a Hugging Face repo id (expected 'org/name')")
    cache = cache or hub_cache()
    repo = cache.path / ("models--" + repo_id.replace("/", "--"))
    looked = [str(repo)]
    commit = revision
    ref = repo / "refs" / revision
    if not _COMMIT.match(revision):
        looked.append(str(ref))
        commit = ref.read_text().strip() if ref.is_file() else None
    if commit is not None:
        snapshot = repo / "snapshots" / commit
        looked.append(str(snapshot))
        if snapshot.is_dir():
            return snapshot
    raise FileNotFoundError(
        f"{repo_id!r} (revision {revision!r}) is not in the local Hugging Face cache {cache.path} (chosen by "
        f"{cache.chosen_by}); looked for: {', '.join(looked)}. Nothing is downloaded here: fetch it first (e.g. "
        f"`huggingface-cli download {repo_id}`), set HF_HOME or HF_HUB_CACHE to the cache that holds it, or pass "
        "the directory itself")
