"""The flow-matching Euler loop and the time embedding, on their own."""

import math

import pytest
import torch

from reference.sampler import euler_sample
from models.positional import time_embedding


def test_euler_visits_openpi_times_and_integrates_constant_velocity():
    noise = torch.randn(2, 5, 3)
    seen = []

    def velocity(x, t):
        seen.append(t.tolist())
        return torch.full_like(x, 0.5)

    x = euler_sample(velocity, noise, num_steps=4)
    assert seen == [[1.0, 1.0], [0.75, 0.75], [0.5, 0.5], [0.25, 0.25]]
    torch.testing.assert_close(x, noise - 0.5)  # integral of dt over [1, 0] is -1


def test_euler_linear_velocity_matches_closed_form():
    noise = torch.randn(1, 4, 2)
    x = euler_sample(lambda x, t: x, noise, num_steps=10)
    torch.testing.assert_close(x, noise * (1 - 0.1) ** 10)


def test_euler_rejects_non_positive_steps():
    with pytest.raises(ValueError, match="num_steps"):
        euler_sample(lambda x, t: x, torch.zeros(1, 1, 1), num_steps=0)


def test_time_embedding_matches_closed_form():
    t = torch.tensor([0.0, 0.3, 1.0])
    dim, lo, hi = 8, 4e-3, 4.0
    emb = time_embedding(t, dim, lo, hi)
    t64 = t.double()
    for j in range(dim // 2):
        period = lo * (hi / lo) ** (j / (dim // 2 - 1))
        torch.testing.assert_close(emb[:, j], torch.sin(2 * math.pi * t64 / period).float())
        torch.testing.assert_close(emb[:, dim // 2 + j], torch.cos(2 * math.pi * t64 / period).float())
