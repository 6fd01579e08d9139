"""The TT weight layouts compute exactly what the reference's unfused weights compute."""

import torch

from models.prepare import (folded_gemma_norm, fused_qkv, output_projection, padded_head_norm, tile_padded,
                            rotate_half_matrix, split_action_time_mlp_in)


def test_tile_padded():
    assert [tile_padded(d) for d in (72, 64, 128, 256, 33)] == [96, 64, 128, 256, 64]


def test_fused_padded_qkv_gives_the_same_attention():
    torch.manual_seed(0)
    h, k_heads, d, padded, width, s = 2, 1, 72, 96, 16, 5
    x = torch.randn(s, width)
    q, k, v = torch.randn(h * d, width), torch.randn(k_heads * d, width), torch.randn(k_heads * d, width)
    qb, kb, vb = torch.randn(h * d), torch.randn(k_heads * d), torch.randn(k_heads * d)
    o = torch.randn(width, h * d)

    def attention(qs, ks, vs, scale):
        ks = ks.repeat_interleave(h // k_heads, 0)
        vs = vs.repeat_interleave(h // k_heads, 0)
        return torch.softmax(qs @ ks.transpose(1, 2) * scale, -1) @ vs

    def heads(t, n, dim):
        return t.reshape(s, n, dim).transpose(0, 1)

    expected = attention(heads(x @ q.t() + qb, h, d), heads(x @ k.t() + kb, k_heads, d),
                         heads(x @ v.t() + vb, k_heads, d), d ** -0.5)
    expected = expected.transpose(0, 1).reshape(s, h * d) @ o.t()

    fused = x @ fused_qkv(q, k, v, h, k_heads, d, padded) + fused_qkv(qb, kb, vb, h, k_heads, d, padded)
    qp, kp, vp = fused.split([h * padded, k_heads * padded, k_heads * padded], dim=1)
    out = attention(heads(qp, h, padded), heads(kp, k_heads, padded), heads(vp, k_heads, padded), d ** -0.5)
    actual = out.transpose(0, 1).reshape(s, h * padded) @ output_projection(o, h, d, padded)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


def test_split_time_mlp_and_rotation_and_norm_fold():
    torch.manual_seed(1)
    w, a, t = torch.randn(8, 16), torch.randn(3, 8), torch.randn(3, 8)
    w_a, w_t = split_action_time_mlp_in(w, 8)
    torch.testing.assert_close(a @ w_a + t @ w_t, torch.cat([a, t], 1) @ w.t())
    x = torch.randn(4, 6)
    torch.testing.assert_close(x @ rotate_half_matrix(6), torch.cat([-x[:, 3:], x[:, :3]], 1))
    assert torch.equal(folded_gemma_norm(torch.tensor([0.0, -0.5])), torch.tensor([1.0, 0.5]))


def test_padded_heads_rotate_and_normalise_like_unpadded_ones():
    """A head of 80 lanes zero-padded to 96: RoPE by the padded R and the per-head RMSNorm over all 96 lanes with
    the padded weight and scaled epsilon give the unpadded results on the real lanes and 0 on the padding."""
    torch.manual_seed(2)
    d, padded, eps = 80, 96, 1e-6
    x, w = torch.randn(5, d), torch.rand(d) + 0.5
    x_padded = torch.cat([x, torch.zeros(5, padded - d)], 1)
    rotated = x_padded @ rotate_half_matrix(d, padded)
    torch.testing.assert_close(rotated[:, :d], x @ rotate_half_matrix(d))
    assert not rotated[:, d:].any()

    def rms_norm(t, weight, epsilon):
        return t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + epsilon) * weight

    normed = rms_norm(x_padded, padded_head_norm(w, padded), eps * d / padded)
    torch.testing.assert_close(normed[:, :d], rms_norm(x, w, eps))
    assert not normed[:, d:].any()
