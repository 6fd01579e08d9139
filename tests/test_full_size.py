"""Full-size checks, marked slow (not run in CI: ~7 GB of weights and a few minutes on 2 cores).

    make test PYTEST_ARGS="-m slow"
"""

import pytest
import torch

from models import Observation, get_preset, load_policy
from models.checkpoint import write_checkpoint
from reference.random_init import random_policy
from tests.metrics import compare

pytestmark = pytest.mark.slow


@torch.no_grad()
def test_full_pi0_round_trips_through_a_lerobot_checkpoint(tmp_path):
    """A full-size pi0 (bfloat16) written in lerobot's layout loads back with the published shapes and the same
    actions for three cameras and a padded prompt."""
    config = get_preset("pi0")
    original = random_policy(config, seed=1, dtype=torch.bfloat16)
    write_checkpoint(original.state_dict(), tmp_path, {"chunk_size": 50, "tokenizer_max_length": 48})
    loaded = load_policy(tmp_path, dtype=torch.bfloat16)
    assert loaded.config.vlm == config.vlm and loaded.config.expert == config.expert
    assert loaded.config.vision == config.vision
    gen = torch.Generator().manual_seed(0)
    obs = Observation(images={c: torch.rand(1, 3, 224, 224, generator=gen) * 2 - 1 for c in config.cameras},
                      tokens=torch.randint(0, config.vlm.vocab_size, (1, 48), generator=gen),
                      token_masks=torch.arange(48)[None] < 20, state=torch.randn(1, 32, generator=gen))
    noise = torch.randn(1, 50, 32, generator=gen)
    compare("full pi0 bf16 reloaded vs original", loaded.sample_actions(obs, noise=noise, num_steps=2),
            original.sample_actions(obs, noise=noise, num_steps=2), min_pcc=0.9999)
