"""The TT weight cache: a second load reads prepared tensors (no preparation, no conversion) and gives the same
actions; a changed checkpoint or precision gets its own entries; a corrupted or mismatched entry is an error naming
the file."""

import pytest
import torch
import ttnn

import models.prepare
import tt.decoder
import tt.siglip
from models import Observation, get_preset, load_policy
from models.checkpoint import write_checkpoint
from reference.random_init import random_policy
from tt.weight_cache import WeightCacheError


def _obs() -> Observation:
    gen = torch.Generator().manual_seed(0)
    return Observation(images={"base_0_rgb": torch.rand(1, 3, 224, 224, generator=gen) * 2 - 1},
                       tokens=torch.randint(0, 1024, (1, 9), generator=gen),
                       token_masks=torch.ones(1, 9, dtype=torch.bool), state=torch.randn(1, 32, generator=gen))


def _count_calls(monkeypatch, name: str, modules) -> list:
    calls = []
    original = getattr(models.prepare, name)

    def counted(*args, **kwargs):
        if not any(isinstance(a, torch.Tensor) and a.is_meta for a in args):  # the load's shape-only DRAM check
            calls.append(name)
        return original(*args, **kwargs)

    for module in modules:
        monkeypatch.setattr(module, name, counted)
    return calls


@torch.no_grad()
def test_second_load_reads_the_cache(runtime, tmp_path, monkeypatch):
    checkpoint = write_checkpoint(random_policy(get_preset("pi0-tiny"), seed=5).state_dict(), tmp_path / "ckpt",
                                  {"chunk_size": 50})
    cache_dir = tmp_path / "cache"
    noise = torch.randn(1, 50, 32)
    fusions = _count_calls(monkeypatch, "fused_qkv", (tt.decoder, tt.siglip))
    first = load_policy(checkpoint, backend="tt", tt_cache_dir=cache_dir)
    assert fusions, "the first load prepares (fuses QKV) and stores"
    entries = sorted(cache_dir.rglob("*.tensorbin"))
    assert entries and not list(cache_dir.rglob("*.partial.tensorbin"))
    fusions.clear()
    with runtime.recording() as log:
        second = load_policy(checkpoint, backend="tt", tt_cache_dir=cache_dir)
    conversions = log.count(op="from_torch")
    print(f"[{runtime.label}] cached load: {len(entries)} entries, {conversions} from_torch calls, "
          f"{len(fusions)} QKV fusions")
    assert conversions == 0, "a cached load must not convert weights again"
    assert not fusions, "a cached load must not prepare weights again"
    assert sorted(cache_dir.rglob("*.tensorbin")) == entries
    assert torch.equal(second.sample_actions(_obs(), noise=noise), first.sample_actions(_obs(), noise=noise))

    load_policy(checkpoint, backend="tt", precision="bf16", tt_cache_dir=cache_dir)
    assert len([d for d in cache_dir.iterdir() if d.is_dir()]) == 2, "bf16 weights get their own directory"

    kinds = {entry: (t.dtype, t.layout) for entry in entries for t in [ttnn.load_tensor(str(entry))]}
    victim = entries[0]
    impostor = next(entry for entry in entries if kinds[entry] != kinds[victim])
    saved = victim.read_bytes()
    victim.write_bytes(impostor.read_bytes())
    with pytest.raises(WeightCacheError, match=f"{victim.name}: holds a .*, expected"):
        load_policy(checkpoint, backend="tt", tt_cache_dir=cache_dir)

    victim.write_bytes(saved[:40])
    with pytest.raises(WeightCacheError, match=f"{victim.name}: unreadable"):
        load_policy(checkpoint, backend="tt", tt_cache_dir=cache_dir)
