"""Attention pattern and position ids of prefix, state and action tokens (openpi's make_att_2d_masks)."""

import torch

from models.masks import (attention_mask_2d, prefix_positions, suffix_ar_flags, suffix_attention_mask,
                          suffix_positions)

# prefix: 2 image tokens of a shown camera, 2 of a masked camera, 3 language tokens of which the last is padding;
# pi0 suffix: state token, then 3 action tokens.
PREFIX_PAD = torch.tensor([[True, True, False, False, True, True, False]])
PREFIX_AR = torch.zeros(1, 7, dtype=torch.bool)
SUFFIX_AR = suffix_ar_flags(horizon=3, has_state_token=True)
P, S = 7, 4


def test_suffix_ar_flags():
    assert SUFFIX_AR.tolist() == [True, True, False, False]
    assert suffix_ar_flags(horizon=3, has_state_token=False).tolist() == [True, False, False]


def test_joint_attention_pattern():
    pad = torch.cat([PREFIX_PAD, torch.ones(1, S, dtype=torch.bool)], dim=1)
    ar = torch.cat([PREFIX_AR, SUFFIX_AR[None]], dim=1)
    mask = attention_mask_2d(pad, ar)[0]
    real_prefix = [0, 1, 4, 5]
    hidden = [2, 3, 6]
    state, actions = P, [P + 1, P + 2, P + 3]
    for i in real_prefix:  # bidirectional over the real prefix, never the suffix
        assert mask[i].nonzero().flatten().tolist() == real_prefix
    for i in hidden:  # padding and masked cameras see nothing and are seen by nobody
        assert not mask[i].any() and not mask[:, i].any()
    assert mask[state].nonzero().flatten().tolist() == real_prefix + [state]
    for i in actions:  # actions see the real prefix, the state and every action token
        assert mask[i].nonzero().flatten().tolist() == real_prefix + [state] + actions


def test_cached_suffix_mask_equals_joint_rows():
    pad = torch.cat([PREFIX_PAD, torch.ones(1, S, dtype=torch.bool)], dim=1)
    ar = torch.cat([PREFIX_AR, SUFFIX_AR[None]], dim=1)
    joint = attention_mask_2d(pad, ar)
    assert torch.equal(suffix_attention_mask(PREFIX_PAD, SUFFIX_AR), joint[:, P:, :])


def test_positions_skip_padding_and_suffix_continues_after_real_prefix():
    assert prefix_positions(PREFIX_PAD).tolist() == [[0, 1, 1, 1, 2, 3, 3]]
    assert suffix_positions(PREFIX_PAD, S).tolist() == [[4, 5, 6, 7]]
    pad = torch.cat([PREFIX_PAD, torch.ones(1, S, dtype=torch.bool)], dim=1)
    assert prefix_positions(pad)[:, P:].tolist() == suffix_positions(PREFIX_PAD, S).tolist()


def test_batch_rows_are_independent():
    pad = torch.tensor([[True, True, True], [True, False, False]])
    assert suffix_positions(pad, 2).tolist() == [[3, 4], [1, 2]]
    mask = suffix_attention_mask(pad, suffix_ar_flags(2, has_state_token=False))
    assert mask[1, :, :3].tolist() == [[True, False, False]] * 2
