"""Host staging of the prefix (tt/prefix.py): the language part is padded with invisible tokens up to a prefix of
whole tiles, and a long prefix up to whole 64-row blocks, so the prefix's attention takes query chunks of 64 rows or
more at every full-size shape."""

import pytest
import torch

from models.prepare import TILE
from tt.prefix import LONG_PREFIX_ROWS, SDPA_ROWS, pad_language


@pytest.mark.parametrize(("image_rows", "tokens", "padded"), [
    (256, 200, 256),  # pi0.5's full prompt, one 224 px camera: 456 -> 512 rows (a tile multiple alone gives 480)
    (768, 48, 64),  # pi0, three 224 px cameras: 816 -> 832
    (736, 48, 96),  # one 378 px camera (729 tokens in 736 rows): 784 -> 832 (a tile multiple alone gives 800)
    (256, 64, 64),  # already whole blocks: nothing added
    (256, 10, 32),  # one camera, a short prompt: 266 -> 288, whole tiles only (a short prefix)
])
def test_a_long_prefix_is_padded_to_whole_blocks_a_short_one_to_whole_tiles(image_rows, tokens, padded):
    ids, masks = torch.arange(1, tokens + 1)[None].repeat(2, 1), torch.ones(2, tokens, dtype=torch.bool)
    masks[1, tokens // 2:] = False
    padded_ids, padded_masks = pad_language(ids, masks, image_rows)
    assert padded_ids.shape == padded_masks.shape == (2, padded)
    block = SDPA_ROWS if image_rows + padded >= LONG_PREFIX_ROWS else TILE
    assert (image_rows + padded) % block == 0 and padded - tokens < block
    assert torch.equal(padded_ids[:, :tokens], ids) and torch.equal(padded_masks[:, :tokens], masks)
    assert not padded_masks[:, tokens:].any() and not padded_ids[:, tokens:].any(), "added tokens are invisible"


def test_every_full_size_prefix_attends_in_chunks_of_64_rows_or_more(full_size):
    checked = 0
    for combo, run in full_size.runs.items():
        prefix_sdpa = [r for r in run.log.select(section="prefix", op="scaled_dot_product_attention")]
        assert prefix_sdpa, combo
        for record in prefix_sdpa:
            rows = record.operands[0].padded_shape[2]
            assert rows % SDPA_ROWS == 0 and "q_chunk_size=32," not in record.program_config, (combo, rows)
            checked += 1
    assert checked > 1000
