"""The velocity and its vector-Jacobian product e -> (dv/dx_t)^T e, on the device, for real-time chunking's guidance
through the network (models/rtc.py, differentiate_velocity). The reference takes this product with torch.autograd
(reference/rtc.py); TTNN has no autograd, so this module runs the suffix path forward keeping what the backward
needs, then the backward pass written out op by op:
- linears x @ W: dx = dy @ W^T (a matmul by the transposed on-device weight);
- RMSNorm y = x r w with r = (mean(x^2) + eps)^-1/2: dx = r g - x r^3 mean(g x), g = w dy (adaptive norms: w is
  1 + scale; scale, shift and the residual gates depend only on t, so they are constants here);
- tanh-GELU and SiLU gates by their derivatives;
- attention with the cached prefix K/V constant: the probabilities P are kept, dP = dO V^T,
  dS = P (dP - rowsum(dP P)), dQ = dS K s, dK = dS^T Q s, dV = P^T dO, and only the suffix rows of dK, dV flow on;
  query heads sharing a K/V head are grouped along the rows ([B, K, G * S, D]), so those sums happen in the matmuls;
- RoPE y = x cos + (x R) sin: dx = dy cos + (dy sin) R^T;
- the suffix embedding (pi0: action_in_proj -> action half of action_time_mlp_in (+ the step's time bias) -> SiLU ->
  action_time_mlp_out; pi0.5: action_in_proj) and action_out_proj on the action rows.
The forward here computes attention explicitly (to keep P) instead of the fused SDPA of tt/dual_expert.py; its
velocity agrees with that path to bfloat16 rounding. Norm and softmax backward run in float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tt.decoder import Decoder, DecoderLayer, Norm
from tt.ops import ttnn
from tt.precision import ROTATION_KERNEL

GELU_C, GELU_A = math.sqrt(2.0 / math.pi), 0.044715


@dataclass
class PullbackContext:
    """Per-call constants of the pullback, made before the denoising loop (no transfer inside it): the additive suffix
    mask repeated for each query head of a K/V group, [B, K, G * rows, P + rows]."""

    mask: object

    @classmethod
    def build(cls, expert: Decoder, mask_B1SN) -> "PullbackContext":
        cfg = expert.cfg
        group = cfg.num_heads // cfg.num_kv_heads
        grouped = ttnn.concat([mask_B1SN] * group, dim=2) if group > 1 else mask_B1SN
        return cls(ttnn.concat([grouped] * cfg.num_kv_heads, dim=1) if cfg.num_kv_heads > 1 else grouped)


def _t(dy, linear):
    """dy @ W^T for a tt.common.Linear holding W as [in, out]."""
    return ttnn.matmul(dy, linear.weight, transpose_b=True, compute_kernel_config=linear.precision.matmul_kernel,
                       dtype=ttnn.bfloat16)


def _f32(x):
    return ttnn.typecast(x, ttnn.float32)


def _rms_backward(x, dy, scale, eps: float):
    """RMSNorm backward in float32 over the last dim; scale: the (folded) weight or 1 + adaptive scale."""
    x, g = _f32(x), ttnn.multiply(_f32(dy), _f32(scale))
    r = ttnn.rsqrt(ttnn.add(ttnn.mean(ttnn.multiply(x, x), dim=-1, keepdim=True), eps))
    gx = ttnn.mean(ttnn.multiply(g, x), dim=-1, keepdim=True)
    r3 = ttnn.multiply(ttnn.multiply(r, r), r)
    return ttnn.typecast(ttnn.subtract(ttnn.multiply(g, r), ttnn.multiply(x, ttnn.multiply(r3, gx))), ttnn.bfloat16)


def _as_row(weight):
    """A [1, D] norm weight as [1, 1, 1, D], to broadcast over [B, H, S, D]."""
    return ttnn.reshape(weight, [1, 1, 1, weight.shape[-1]])


def _norm_backward(norm: Norm, x, dy, modulation):
    scale = _as_row(norm.weight) if modulation is None else modulation[0]
    return _rms_backward(x, dy, scale, norm.cfg.norm_eps)


def _gate_derivative(family: str, gate):
    """d act / d gate in float32: tanh-GELU (gemma) or SiLU (qwen)."""
    x = _f32(gate)
    if family == "qwen":
        s = ttnn.sigmoid(x)
        return ttnn.multiply(s, ttnn.add(ttnn.multiply(x, ttnn.subtract(1.0, s)), 1.0))
    x2 = ttnn.multiply(x, x)
    t = ttnn.tanh(ttnn.multiply(ttnn.add(ttnn.multiply(ttnn.multiply(x2, x), GELU_A), x), GELU_C))
    inner = ttnn.multiply(ttnn.add(ttnn.multiply(x2, 3 * GELU_A), 1.0), GELU_C)
    return ttnn.add(ttnn.multiply(ttnn.add(t, 1.0), 0.5),
                    ttnn.multiply(ttnn.multiply(ttnn.multiply(x, 0.5), ttnn.subtract(1.0, ttnn.multiply(t, t))),
                                  inner))


def _silu_derivative(x):
    x = _f32(x)
    s = ttnn.sigmoid(x)
    return ttnn.multiply(s, ttnn.add(ttnn.multiply(x, ttnn.subtract(1.0, s)), 1.0))


def _rope_backward(rope, dy):
    rotated = ttnn.matmul(ttnn.multiply(dy, rope.sin), rope.rotation.matrix, transpose_b=True,
                          compute_kernel_config=ROTATION_KERNEL)
    return ttnn.add(ttnn.multiply(dy, rope.cos), rotated)


def _heads(x_B1SX, heads: int):
    """[B, 1, S, heads * D] -> [B, heads, S, D]."""
    b, _, s, width = x_B1SX.shape
    return ttnn.permute(ttnn.reshape(x_B1SX, [b, s, heads, width // heads]), [0, 2, 1, 3])


def _gated(x, gate):
    return x if gate is None else ttnn.multiply(x, gate)


@dataclass
class _LayerTape:
    h0: object
    modulations: tuple
    gate1: object
    q_pre: object
    k_pre: object
    q_grouped: object  # [B, K, G * S, D], rotated
    keys: object  # [B, K, P + S, D]
    values: object
    probs32: object  # [B, K, G * S, P + S]
    h1: object
    gate2: object
    mlp_gate: object  # the gate projection before its activation
    mlp_up: object


def _scaled(x, scale: float):
    """x * scale; no op when the scale is folded into q (tt.decoder.attention_scales)."""
    return x if scale == 1.0 else ttnn.multiply(x, scale)


def _layer_forward(layer: DecoderLayer, h0, k_prefix, v_prefix, rope, mask, modulations):
    cfg = layer.cfg
    b, _, s, _ = h0.shape
    group = cfg.num_heads // cfg.num_kv_heads
    normed, gate1 = layer.input_layernorm(h0, modulations[0])
    q_pre, k_pre, v = ttnn.experimental.nlp_create_qkv_heads(layer.qkv(normed), num_heads=cfg.num_heads,
                                                             num_kv_heads=cfg.num_kv_heads, transpose_k_heads=False)
    d = q_pre.shape[-1]  # the head's lanes, padded to a tile multiple
    q, k = q_pre, k_pre
    if layer.qk_norms is not None:
        q = ttnn.rms_norm(q, epsilon=layer.qk_norm_eps, weight=layer.qk_norms[0],
                          compute_kernel_config=layer.precision.norm_kernel)
        k = ttnn.rms_norm(k, epsilon=layer.qk_norm_eps, weight=layer.qk_norms[1],
                          compute_kernel_config=layer.precision.norm_kernel)
    keys, values = ttnn.concat([k_prefix, rope(k)], dim=2), ttnn.concat([v_prefix, v], dim=2)
    q_grouped = ttnn.reshape(rope(q), [b, cfg.num_kv_heads, group * s, d])
    kernel = layer.precision.attention_kernel
    scores = ttnn.matmul(q_grouped, keys, transpose_b=True, dtype=ttnn.float32, compute_kernel_config=kernel)
    probs32 = ttnn.softmax(ttnn.add(_scaled(scores, layer.attention_scale), mask), dim=-1)
    out = ttnn.matmul(ttnn.typecast(probs32, ttnn.bfloat16), values, compute_kernel_config=kernel)
    attn = ttnn.experimental.nlp_concat_heads(ttnn.reshape(out, [b, cfg.num_heads, s, d]))
    h1 = ttnn.add(h0, _gated(layer.o_proj(attn), gate1))
    normed, gate2 = layer.post_attention_layernorm(h1, modulations[1])
    mlp = layer.mlp
    mlp_gate, mlp_up = mlp.gate_proj(normed, activate=False), mlp.up_proj(normed)
    h2 = ttnn.add(h1, _gated(mlp.down_proj(ttnn.multiply(mlp.activate(mlp_gate), mlp_up)), gate2))
    return h2, _LayerTape(h0, modulations, gate1, q_pre, k_pre, q_grouped, keys, values, probs32, h1, gate2,
                          mlp_gate, mlp_up)


def _layer_backward(layer: DecoderLayer, tape: _LayerTape, dh2, rope):
    cfg, mlp = layer.cfg, layer.mlp
    b, _, s, _ = dh2.shape
    group, d, prefix = cfg.num_heads // cfg.num_kv_heads, tape.keys.shape[-1], tape.keys.shape[2] - dh2.shape[2]
    kernel = layer.precision.attention_kernel

    d_product = _t(_gated(dh2, tape.gate2), mlp.down_proj)
    d_up = ttnn.multiply(d_product, mlp.activate(tape.mlp_gate))
    d_gate = ttnn.multiply(_f32(ttnn.multiply(d_product, tape.mlp_up)), _gate_derivative(cfg.family, tape.mlp_gate))
    d_normed = ttnn.add(_t(ttnn.typecast(d_gate, ttnn.bfloat16), mlp.gate_proj), _t(d_up, mlp.up_proj))
    dh1 = ttnn.add(dh2, _norm_backward(layer.post_attention_layernorm, tape.h1, d_normed, tape.modulations[1]))

    d_out = ttnn.reshape(_heads(_t(_gated(dh1, tape.gate1), layer.o_proj), cfg.num_heads),
                         [b, cfg.num_kv_heads, group * s, d])
    d_probs = ttnn.matmul(d_out, tape.values, transpose_b=True, dtype=ttnn.float32, compute_kernel_config=kernel)
    row_sums = ttnn.sum(ttnn.multiply(d_probs, tape.probs32), dim=-1, keepdim=True)
    d_scores = ttnn.typecast(_scaled(ttnn.multiply(tape.probs32, ttnn.subtract(d_probs, row_sums)),
                                     layer.attention_scale), ttnn.bfloat16)
    d_values = ttnn.matmul(ttnn.typecast(tape.probs32, ttnn.bfloat16), d_out, transpose_a=True,
                           compute_kernel_config=kernel)
    d_keys = ttnn.matmul(d_scores, tape.q_grouped, transpose_a=True, compute_kernel_config=kernel)
    dq = ttnn.matmul(d_scores, tape.keys, compute_kernel_config=kernel)
    end = tape.keys.shape[2]
    dk = ttnn.slice(d_keys, [0, 0, prefix, 0], [b, cfg.num_kv_heads, end, d])
    dv = ttnn.slice(d_values, [0, 0, prefix, 0], [b, cfg.num_kv_heads, end, d])
    dq = _rope_backward(rope, ttnn.reshape(dq, [b, cfg.num_heads, s, d]))
    dk = _rope_backward(rope, dk)
    if layer.qk_norms is not None:
        dq = _rms_backward(tape.q_pre, dq, _as_row(layer.qk_norms[0]), layer.qk_norm_eps)
        dk = _rms_backward(tape.k_pre, dk, _as_row(layer.qk_norms[1]), layer.qk_norm_eps)
    d_qkv = ttnn.concat([ttnn.experimental.nlp_concat_heads(t) for t in (dq, dk, dv)], dim=3)
    return ttnn.add(dh1, _norm_backward(layer.input_layernorm, tape.h0, _t(d_qkv, layer.qkv), tape.modulations[0]))


def velocity_and_pullback(policy, x_B1RA, step: int, cache, rope, context: PullbackContext, plan, modulations):
    """The velocity [B, 1, rows, A] at denoising step `step` (policy: tt.policy.Pi0Policy; rows: the suffix's device
    rows, tt.suffix.SuffixLayout), and the function e (float32 [B, 1, rows, A], 0 off the action rows) ->
    (dv/dx_t)^T e (float32), both on the device."""
    suffix, expert = policy.suffix, policy.expert
    x = ttnn.typecast(x_B1RA, ttnn.bfloat16)
    actions = suffix.action_in_proj(x)
    fused_in = None
    if plan.state_rows is not None:  # pi0: the action/time MLP on the action rows, the state token in its row
        fused_in = suffix.mlp_in_action(actions, bias=plan.step_conditions[step], activate=False)
        embs = ttnn.add(ttnn.multiply(suffix.mlp_out(ttnn.silu(fused_in)), suffix.action_rows), plan.state_rows)
    else:
        embs = actions
    step_mods = modulations[step] if modulations else None
    h, tapes = embs, []
    for i, (layer, k_prefix, v_prefix) in enumerate(zip(expert.layers, cache.keys, cache.values, strict=True)):
        h, tape = _layer_forward(layer, h, k_prefix, v_prefix, rope, context.mask,
                                 step_mods[i] if step_mods else (None, None))
        tapes.append(tape)
    final_mod = step_mods[-1] if step_mods else None
    velocity = suffix.velocity(expert.norm(h, final_mod)[0])

    def pullback(cotangent_B1RA):
        d_hidden = _t(ttnn.typecast(cotangent_B1RA, ttnn.bfloat16), suffix.action_out_proj)
        dh = _norm_backward(expert.norm, h, d_hidden, final_mod)
        for layer, tape in zip(reversed(expert.layers), reversed(tapes)):
            dh = _layer_backward(layer, tape, dh, rope)
        if fused_in is not None:
            d_fused = ttnn.multiply(dh, suffix.action_rows)  # the state row does not depend on x
            d_fused_in = ttnn.multiply(_f32(_t(d_fused, suffix.mlp_out)), _silu_derivative(fused_in))
            dh = _t(ttnn.typecast(d_fused_in, ttnn.bfloat16), suffix.mlp_in_action)
        return _f32(_t(dh, suffix.action_in_proj))

    return velocity, pullback
