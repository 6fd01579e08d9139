"""Checkpoints and tokenizers from the local Hugging Face hub cache: a fake cache with the real layout (blobs,
refs, snapshots of symlinks), found through HF_HOME / HF_HUB_CACHE, offline."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from models import get_preset, load_policy
from models.checkpoint import lerobot_dtype, write_checkpoint
from models.hub_cache import HubCache, hub_cache, repo_snapshot
from models.loading import resolve_checkpoint
from models.tokenizer import PALIGEMMA_TOKENIZER_REPO, SentencePieceTokenizer, load_tokenizer
from reference.random_init import random_policy
from tests.checkpoint_files import META, observation
from tests.test_tokenizer import train_sentencepiece

REPO = "lerobot/pi0"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OLD_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


def add_snapshot(cache: Path, repo_id: str, files: Path, commit: str = COMMIT, ref: str | None = "main") -> Path:
    """Store every file of `files` as huggingface_hub does: content in blobs/, a relative symlink per file in
    snapshots/<commit>/, and refs/<ref> naming the commit."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for file in sorted(files.iterdir()):
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, blob)
        (snapshot / file.name).symlink_to(Path("..") / ".." / "blobs" / blob.name)
    if ref is not None:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    policy = random_policy(get_preset("pi0-tiny"), seed=3)
    directory = tmp_path_factory.mktemp("pi0-tiny")
    write_checkpoint(policy.state_dict(), directory, META, stored_dtype=lerobot_dtype)
    return directory


def test_cache_location_follows_huggingface_hub():
    assert hub_cache({"HF_HUB_CACHE": "/a", "HUGGINGFACE_HUB_CACHE": "/b", "HF_HOME": "/c"}).path == Path("/a")
    assert hub_cache({"HUGGINGFACE_HUB_CACHE": "/b", "HF_HOME": "/c"}).path == Path("/b")
    assert hub_cache({"HF_HOME": "/c", "XDG_CACHE_HOME": "/x"}).path == Path("/c/hub")
    assert hub_cache({"XDG_CACHE_HOME": "/x"}).path == Path("/x/huggingface/hub")
    assert hub_cache({}).path == Path.home() / ".cache" / "huggingface" / "hub"
    assert hub_cache({"HF_HOME": "~/hf"}).path == Path.home() / "hf" / "hub"


def test_load_policy_by_repo_id_from_hf_home(tmp_path, monkeypatch, tiny_checkpoint):
    add_snapshot(tmp_path / "hub", REPO, tiny_checkpoint)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    obs, noise = observation(with_state=True), torch.randn(1, 50, 32)
    from_cache = load_policy(REPO).sample_actions(obs, noise=noise)
    assert torch.equal(from_cache, load_policy(tiny_checkpoint).sample_actions(obs, noise=noise))


def test_hf_hub_cache_wins_over_hf_home(tmp_path, monkeypatch, tiny_checkpoint):
    snapshot = add_snapshot(tmp_path / "elsewhere", REPO, tiny_checkpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    assert resolve_checkpoint(REPO) == str(snapshot)


def test_revisions_by_branch_tag_and_commit(tmp_path, tiny_checkpoint):
    cache = HubCache(tmp_path, "test")
    main = add_snapshot(tmp_path, REPO, tiny_checkpoint)
    old = add_snapshot(tmp_path, REPO, tiny_checkpoint, commit=OLD_COMMIT, ref="v1.0")
    assert repo_snapshot(REPO, cache=cache) == main
    assert repo_snapshot(REPO, "v1.0", cache=cache) == old
    assert repo_snapshot(REPO, OLD_COMMIT, cache=cache) == old


def test_missing_repo_names_the_repo_and_the_folders_searched(tmp_path):
    cache = HubCache(tmp_path / "hub", "$HF_HOME/hub")
    with pytest.raises(ValueError) as err:
        resolve_checkpoint("lerobot/pi05_base", hub=cache)
    message = str(err.value)
    repo = tmp_path / "hub" / "models--lerobot--pi05_base"
    for part in ("'lerobot/pi05_base'", str(repo), str(repo / "refs" / "main"), "$HF_HOME/hub", "neither a preset"):
        assert part in message, (part, message)


def test_ref_to_a_missing_snapshot_is_named(tmp_path, tiny_checkpoint):
    cache = HubCache(tmp_path, "test")
    add_snapshot(tmp_path, REPO, tiny_checkpoint)
    (tmp_path / "models--lerobot--pi0" / "refs" / "main").write_text(OLD_COMMIT)
    with pytest.raises(FileNotFoundError, match=f"snapshots/{OLD_COMMIT}"):
        repo_snapshot(REPO, cache=cache)


def test_not_a_repo_id_is_named():
    with pytest.raises(ValueError, match="nor a Hugging Face repo id"):
        resolve_checkpoint("no/such/dir")


def test_paligemma_tokenizer_from_the_cache(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    train_sentencepiece(files)
    add_snapshot(tmp_path / "hub", PALIGEMMA_TOKENIZER_REPO, files)
    tokenizer = load_tokenizer(PALIGEMMA_TOKENIZER_REPO, vocab_size=1024, hub=HubCache(tmp_path / "hub", "test"))
    assert isinstance(tokenizer, SentencePieceTokenizer)
    assert tokenizer.encode("pick up the red cube") == SentencePieceTokenizer(files / "tokenizer.model").encode(
        "pick up the red cube")
    with pytest.raises(FileNotFoundError, match="google/paligemma-3b-pt-224"):
        load_tokenizer(PALIGEMMA_TOKENIZER_REPO, vocab_size=1024, hub=HubCache(tmp_path / "empty", "test"))
