"""What the reference accepts, the TT backend loads and runs, or refuses at load time: a lerobot-saved pi0 checkpoint
whose head_dim (80) is not a tile multiple samples the reference's actions (heads zero-padded to 96 lanes on TT);
weights larger than the device's DRAM are refused before any upload."""

from dataclasses import replace

import pytest
import torch

from models import get_preset, load_policy
from models.checkpoint import write_checkpoint
from reference.random_init import random_policy
from tests.checkpoint_files import observation
from tests.metrics import compare
from tests.tt.tensors import END_TO_END_PCC

HEAD_DIM = 80


@torch.no_grad()
def test_lerobot_checkpoint_with_head_dim_80_runs_on_tt(runtime, tmp_path):
    cfg = get_preset("pi0-tiny")
    cfg = replace(cfg, vlm=replace(cfg.vlm, num_heads=4, head_dim=HEAD_DIM),
                  expert=replace(cfg.expert, num_heads=4, head_dim=HEAD_DIM))
    checkpoint = write_checkpoint(random_policy(cfg, seed=12).state_dict(), tmp_path / "ckpt", {"chunk_size": 50})
    reference = load_policy(checkpoint)
    assert reference.config.vlm.head_dim == reference.config.expert.head_dim == HEAD_DIM
    tt = load_policy(checkpoint, backend="tt", tt_cache_dir=None)
    obs = observation(with_state=True)
    noise = torch.randn(obs.batch_size, 50, 32)
    compare(f"[{runtime.label}] pi0 head_dim {HEAD_DIM} from a lerobot checkpoint, sample_actions bfp8",
            tt.sample_actions(obs, noise=noise), reference.sample_actions(obs, noise=noise),
            min_pcc=END_TO_END_PCC["bfp8"])


def test_weights_that_do_not_fit_the_device_are_refused_at_load(runtime, monkeypatch):
    """Before any upload: the DRAM the weights take on the device (a shape-only build) against the device's DRAM."""
    monkeypatch.setattr(runtime.device, "spec", replace(runtime.device.spec, dram_bytes=1 << 20))
    with pytest.raises(ValueError, match=r"the TT policy's weights need 0\.\d+ GiB of DRAM in precision 'bfp8', "
                                         r"more than the n150's 0\.00 GiB"):
        load_policy("pi0-tiny", backend="tt", tt_cache_dir=None)
