"""The device layout of the suffix (tt.suffix.SuffixLayout): whole tiles, actions first, pi0's state token after
them, padding that nothing sees; masks and positions placed there agree with the logical ones token for token."""

import torch

from models.masks import suffix_ar_flags, suffix_attention_mask, suffix_positions
from tt.suffix import SuffixLayout

PREFIX_PAD = torch.tensor([[True, True, False, True], [True, False, False, False]])


def test_pi0_layout_puts_actions_first_then_the_state_token():
    layout = SuffixLayout(horizon=50, has_state_token=True)
    assert (layout.length, layout.rows) == (51, 64)
    index = layout.logical_index()
    assert index[:50].tolist() == list(range(1, 51)) and index[50] == 0 and (index[51:] == -1).all()
    assert SuffixLayout(horizon=50, has_state_token=False).logical_index()[:50].tolist() == list(range(50))
    device_rows = torch.arange(64.0)[None, :, None]
    assert layout.logical_rows(device_rows)[0, :, 0].tolist() == [50.0] + [float(r) for r in range(50)]


def test_placed_mask_and_positions_match_the_logical_ones():
    layout = SuffixLayout(horizon=5, has_state_token=True)
    mask = suffix_attention_mask(PREFIX_PAD, suffix_ar_flags(5, True))
    positions = suffix_positions(PREFIX_PAD, layout.length)
    placed_mask, placed_positions = layout.place_mask(mask, 4), layout.place_rows(positions, 0)
    assert placed_mask.shape == (2, 32, 4 + 32) and placed_positions.shape == (2, 32)
    index = layout.logical_index()
    for row, logical in enumerate(index.tolist()):
        if logical < 0:
            assert not placed_mask[:, row].any(), "a padding query sees nothing"
            continue
        assert torch.equal(placed_mask[:, row, :4], mask[:, logical, :4])
        assert torch.equal(placed_positions[:, row], positions[:, logical])
        for column, key in enumerate(index.tolist()):
            expected = mask[:, logical, 4 + key] if key >= 0 else torch.zeros(2, dtype=torch.bool)
            assert torch.equal(placed_mask[:, row, 4 + column], expected)
    state_row = 5
    assert not placed_mask[:, state_row, 4:4 + 5].any(), "the state token does not see the actions"
    assert placed_mask[:, 0, 4 + state_row].all(), "the actions see the state token"
