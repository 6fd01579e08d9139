"""Any head_dim the reference accepts runs on TT: a lerobot-saved pi0 checkpoint whose head_dim (80) is not a tile
multiple loads on the TT backend and samples the reference's actions (heads zero-padded to 96 lanes on TT)."""

from dataclasses import replace

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
