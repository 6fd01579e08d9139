"""README.md's "Using a policy" block runs as written: it is read from the README and executed, in a directory
holding the files it names (a tiny lerobot-format pi0 checkpoint with statistics, a SentencePiece tokenizer, the
demo's camera image) and with a home directory of its own, so that the default TT weight cache lands there."""

import re
import shutil
from pathlib import Path

import torch

from demo.checkpoint import ROBOT_ACTION_DIM, ensure_demo_checkpoint
from models.loading import TT_CACHE_SUBDIR
from tests.test_tokenizer import train_sentencepiece

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# The files the block names; the test makes them.
CHECKPOINT, TOKENIZER, IMAGES = "weights/pi0_finetuned", "weights/paligemma_tokenizer.model", "demo/images"
HORIZON = 50


def readme_python_block() -> str:
    """The python block of the "## Using a policy" section."""
    section = re.search(r"^## Using a policy\n(.*?)(?=^## )", README.read_text(), flags=re.M | re.S)
    assert section, "README.md has no '## Using a policy' section"
    blocks = re.findall(r"^```python\n(.*?)^```", section.group(1), flags=re.M | re.S)
    assert len(blocks) == 1, f"'Using a policy' should hold one python block, found {len(blocks)}"
    return blocks[0]


def test_readme_block_names_the_files_the_test_makes():
    block = readme_python_block()
    for name in (CHECKPOINT, TOKENIZER, IMAGES):
        assert name in block, f"the README block no longer names {name}; update this test with it"


def test_readme_block_runs_as_written(runtime, tmp_path, monkeypatch):
    (tmp_path / "weights").mkdir()
    ensure_demo_checkpoint("pi0", tmp_path / "build").rename(tmp_path / CHECKPOINT)
    train_sentencepiece(tmp_path / "weights").rename(tmp_path / TOKENIZER)
    shutil.copytree(ROOT / IMAGES, tmp_path / IMAGES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    namespace: dict = {}
    exec(compile(readme_python_block(), f"{README} (Using a policy)", "exec"), namespace)

    actions = namespace["actions"]
    assert actions.shape == (1, HORIZON, ROBOT_ACTION_DIM) and bool(torch.isfinite(actions).all())
    assert namespace["policy"].runtime is runtime
    assert any((tmp_path / "home" / ".cache" / TT_CACHE_SUBDIR).iterdir())  # the documented default cache
