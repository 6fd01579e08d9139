"""Prompt text -> token ids [B, L] with a padding mask, for PaliGemma (SentencePiece) or Qwen (tokenizer.json).

Prompt formats follow lerobot 0.6.1:
- pi0 (`lerobot/policies/pi0/processor_pi0.py`, `Pi0NewLineProcessor.complementary_data`): the task as given,
  plus "\\n" unless it already ends with one; no other cleaning. openpi instead strips the task and replaces "_"
  and "\\n" with spaces; lerobot's checkpoints are what we load, so lerobot's format is used.
- pi0.5 (`lerobot/policies/pi05/processor_pi05.py`, `Pi05PrepareStateTokenizerProcessorStep.__call__`, from openpi
  `PaligemmaTokenizer.tokenize`): f"Task: {cleaned}, State: {bins};\\nAction: " with
  cleaned = task.strip().replace("_", " ").replace("\\n", " ") and bins the normalised state discretised into 256
  bins, space-separated.
Both are then tokenised by the PaliGemma tokenizer with BOS and right-padded to the policy's max length
(`TokenizerProcessorStep`, padding="max_length", padding_side="right").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, Sequence

import sentencepiece
import torch
from loguru import logger
from tokenizers import Tokenizer as _JsonTokenizer

from .checks import described, positive_int
from .hub_cache import HubCache, is_repo_id, repo_snapshot

STATE_BINS = 256
QWEN_PAD_TOKEN = "<|endoftext|>"


class Tokenizer(Protocol):
    """Text -> ids, including any BOS the model was trained with; pad_id fills the padded tail."""

    pad_id: int

    def encode(self, text: str) -> list[int]: ...


class SentencePieceTokenizer:
    """A SentencePiece `.model` file (PaliGemma / Gemma). Adds BOS as the PaliGemma tokenizer does."""

    def __init__(self, path: str | Path, add_bos: bool = True):
        self.path = Path(path)
        try:
            self._processor = sentencepiece.SentencePieceProcessor(model_file=str(self.path))
        except (RuntimeError, OSError) as err:
            raise ValueError(f"tokenizer file {self.path} is not a SentencePiece model ({err})") from None
        self.add_bos = add_bos
        self.pad_id = max(self._processor.pad_id(), 0)

    def encode(self, text: str) -> list[int]:
        return self._processor.encode(text, add_bos=self.add_bos)


class QwenTokenizer:
    """A Hugging Face `tokenizer.json` (Qwen), through the `tokenizers` library. Qwen adds no BOS."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._tokenizer = _JsonTokenizer.from_file(str(self.path))
        except Exception as err:  # the tokenizers library raises a bare Exception for a malformed file
            raise ValueError(f"tokenizer file {self.path} is not a Hugging Face tokenizer.json ({err})") from None
        padding = self._tokenizer.padding
        pad_id = padding["pad_id"] if padding else self._tokenizer.token_to_id(QWEN_PAD_TOKEN)
        self.pad_id = 0 if pad_id is None else pad_id

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(text).ids


class ByteTokenizer:
    """Fallback when no tokenizer file is given: pad 0, BOS 2, byte b -> BYTE_OFFSET + b of the UTF-8 text.

    Deterministic, but NOT the PaliGemma or Qwen tokenizer: a pretrained checkpoint will not understand it.
    """

    PAD, BOS, BYTE_OFFSET = 0, 2, 3

    def __init__(self, vocab_size: int):
        if vocab_size < self.BYTE_OFFSET + 256:
            raise ValueError(f"the byte fallback tokenizer needs a vocabulary of at least {self.BYTE_OFFSET + 256} "
                             f"ids, the model has {vocab_size}")
        self.pad_id = self.PAD
        logger.warning("NO TOKENIZER FILE GIVEN: using a byte-level fallback tokenizer. This is NOT the PaliGemma "
                       "(or Qwen) tokenizer; a pretrained policy will not understand these prompts. Pass the "
                       "tokenizer.model (PaliGemma) or tokenizer.json (Qwen) of the checkpoint.")

    def encode(self, text: str) -> list[int]:
        return [self.BOS] + [self.BYTE_OFFSET + b for b in text.encode("utf-8")]


PALIGEMMA_TOKENIZER_REPO = "google/paligemma-3b-pt-224"  # the tokenizer lerobot's pi0 / pi0.5 processors load


def load_tokenizer(path: str | Path | None, vocab_size: int, hub: HubCache | None = None) -> Tokenizer:
    """A `.model` file -> SentencePiece, a `.json` file -> tokenizer.json, a directory -> whichever of
    tokenizer.model / tokenizer.json it holds, a Hugging Face repo id (e.g. PALIGEMMA_TOKENIZER_REPO) -> that
    directory in the local hub cache (models/hub_cache.py; never downloaded), None -> the byte fallback (with a
    warning)."""
    vocab_size = positive_int(vocab_size, "vocab_size")
    if path is None:
        return ByteTokenizer(vocab_size)
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"tokenizer path must be a file or directory path (or None), found {described(path)}")
    if not Path(path).exists() and is_repo_id(str(path)):
        path = repo_snapshot(str(path), cache=hub)
    path = Path(path)
    if path.is_dir():
        for name in ("tokenizer.model", "tokenizer.json"):
            if (path / name).is_file():
                return load_tokenizer(path / name, vocab_size)
        raise ValueError(f"{path} holds neither tokenizer.model nor tokenizer.json")
    if not path.is_file():
        raise ValueError(f"tokenizer file {path} does not exist")
    if path.suffix == ".model":
        return SentencePieceTokenizer(path)
    if path.suffix == ".json":
        return QwenTokenizer(path)
    raise ValueError(f"unknown tokenizer file {path}: expected a SentencePiece .model or a tokenizer.json")


def pi0_prompt(task: str) -> str:
    return task if task.endswith("\n") else f"{task}\n"


def discretize_state(state_BS: torch.Tensor) -> torch.Tensor:
    """Normalised state in [-1, 1] -> int64 bins in [0, 255] (values below -1 give -1, as in lerobot/openpi).

    Equals np.digitize(state, np.linspace(-1, 1, 257)[:-1]) - 1; numpy compares in float64, so do we.
    """
    edges = torch.linspace(-1.0, 1.0, STATE_BINS + 1, dtype=torch.float64)[:-1]
    return torch.bucketize(state_BS.to(torch.float64), edges, right=True) - 1


def pi05_prompt(task: str, state_bins: Sequence[int]) -> str:
    cleaned = task.strip().replace("_", " ").replace("\n", " ")
    state = " ".join(str(int(b)) for b in state_bins)
    return f"Task: {cleaned}, State: {state};\nAction: "


def tokenize_prompts(tokenizer: Tokenizer, prompts: Sequence[str], max_len: int, vocab_size: int,
                     truncate: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Formatted prompts -> (tokens int64 [B, max_len], token_masks bool [B, max_len]), right-padded.

    A prompt longer than max_len tokens is an error unless truncate=True (then its tail is cut, as lerobot's
    tokenizer step does silently). Ids outside [0, vocab_size) are an error.
    """
    if not 0 <= tokenizer.pad_id < vocab_size:
        raise ValueError(f"the tokenizer's pad id {tokenizer.pad_id} is outside the model's vocabulary "
                         f"[0, {vocab_size})")
    tokens = torch.full((len(prompts), max_len), tokenizer.pad_id, dtype=torch.int64)
    masks = torch.zeros((len(prompts), max_len), dtype=torch.bool)
    for row, prompt in enumerate(prompts):
        ids = tokenizer.encode(prompt)
        if len(ids) > max_len:
            if not truncate:
                raise ValueError(f"prompt {row} has {len(ids)} tokens, more than the limit of {max_len}; shorten it "
                                 f"or pass truncate=True: {prompt!r}")
            logger.warning("prompt {} truncated from {} to {} tokens", row, len(ids), max_len)
            ids = ids[:max_len]
        bad = [i for i in ids if not 0 <= i < vocab_size]
        if bad:
            raise ValueError(f"prompt {row} has token ids {bad[:8]} outside the model's vocabulary [0, {vocab_size}); "
                             f"the tokenizer does not match the model")
        tokens[row, :len(ids)] = torch.tensor(ids, dtype=torch.int64)
        masks[row, :len(ids)] = True
    return tokens, masks
