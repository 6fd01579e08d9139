"""Decoder configs from tensor shapes: pi0's Gemma decoders, and Hugging Face decoders (Qwen2.5, Qwen3, Llama-like,
Gemma) together with their config.json.

Heads: Qwen3's q_norm has size head_dim, so shapes alone give every size. Without q_norm (Qwen2.5, Llama, Gemma)
q_proj and k_proj only give heads * head_dim, so head_dim comes from config.json (`head_dim`, else q_proj rows /
`num_attention_heads`); for pi0's Gemma, which ships no such config, every openpi variant has one KV head, so
head_dim is k_proj's output size.
"""

from __future__ import annotations

from dataclasses import replace

from ..config import DecoderConfig, gemma_decoder
from .errors import CheckpointError
from .shapes import Shapes, config_float, config_int, reconcile

# config.json model_type -> our decoder family ("qwen": RMSNorm x * w and a SiLU-gated MLP, as Llama and Mistral)
HF_FAMILIES = {"qwen2": "qwen", "qwen3": "qwen", "llama": "qwen", "mistral": "qwen", "gemma": "gemma"}
_DEFAULT_ROPE_THETA = {"qwen2": 1e6, "qwen3": 1e6, "llama": 1e4, "mistral": 1e4, "gemma": 1e4}


def _build(make, shapes: Shapes, root: str) -> DecoderConfig:
    try:
        return make()
    except ValueError as err:
        raise CheckpointError(f"the {root.rstrip('.')} sizes read from the tensors are inconsistent: {err} "
                              f"({shapes.evidence()})") from None


def _attention(shapes: Shapes, root: str) -> tuple[int, int, int]:
    """(q_proj rows, k_proj rows, width) of layer 0."""
    q_proj, k_proj = root + "layers.0.self_attn.q_proj.weight", root + "layers.0.self_attn.k_proj.weight"
    (q_out, width), k_out = shapes.get(q_proj, 2), shapes.get(k_proj, 2)[0]
    shapes.read[f"{root}* heads"] = f"{shapes.describe(q_proj)} {q_out} rows, {shapes.describe(k_proj)} {k_out} rows"
    return q_out, k_out, width


def pi0_gemma(shapes: Shapes, root: str, vocab_size: int = 0, adarms_cond_dim: int = 0) -> DecoderConfig:
    """A decoder of a pi0 / pi0.5 checkpoint (one KV head, see the module docstring)."""
    q_out, k_out, width = _attention(shapes, root)
    if q_out % k_out:
        q_proj = shapes.describe(root + "layers.0.self_attn.q_proj.weight")
        raise CheckpointError(f"cannot infer the architecture: {q_proj} has {q_out} rows, not a multiple of k_proj's "
                              f"{k_out} (one KV head expected)")
    mlp, depth = shapes.get(root + "layers.0.mlp.gate_proj.weight", 2)[0], shapes.depth(root + "layers.")
    return _build(lambda: gemma_decoder(width, depth, mlp, num_heads=q_out // k_out, num_kv_heads=1, head_dim=k_out,
                                        vocab_size=vocab_size, adarms_cond_dim=adarms_cond_dim), shapes, root)


def pi0_decoder(shapes: Shapes, root: str, meta: dict, notes: list[str], vocab_size: int = 0,
                adarms_cond_dim: int = 0) -> DecoderConfig:
    """A decoder of a pi0 tree: Gemma, unless a q_norm (Qwen3) or QKV bias (Qwen2.5) marks our Qwen-backed variant,
    whose head_dim is q_norm's size (Qwen2.5: config.json head_dim) and whose RoPE theta is config.json's."""
    q_norm = root + "layers.0.self_attn.q_norm.weight"
    qk_norm, qkv_bias = shapes.has(q_norm), shapes.has(root + "layers.0.self_attn.q_proj.bias")
    if not (qk_norm or qkv_bias):
        return pi0_gemma(shapes, root, vocab_size, adarms_cond_dim)
    q_out, k_out, width = _attention(shapes, root)
    head_dim = shapes.get(q_norm, 1)[0] if qk_norm else config_int(meta, "head_dim", notes)
    if not head_dim or q_out % head_dim or k_out % head_dim:
        raise CheckpointError(f"cannot infer the attention heads of {shapes.read[f'{root}* heads']}: "
                              f"head_dim {head_dim} (from q_norm, else config.json head_dim)")
    theta = config_float(meta, "rope_theta", notes)
    if theta is None:
        theta = _DEFAULT_ROPE_THETA["qwen3"]
        notes.append(f"config.json has no rope_theta: {theta:g} assumed (Qwen default)")
    mlp, depth = shapes.get(root + "layers.0.mlp.gate_proj.weight", 2)[0], shapes.depth(root + "layers.")
    return _build(lambda: DecoderConfig("qwen", width, depth, mlp, q_out // head_dim, k_out // head_dim, head_dim,
                                        vocab_size=vocab_size, rope_theta=theta, qk_norm=qk_norm, qkv_bias=qkv_bias,
                                        adarms_cond_dim=adarms_cond_dim), shapes, root)


def hf_model_type(config: dict, shapes: Shapes, root: str) -> str:
    """The decoder's model_type: config.json's, else Qwen3 (q_norm) or Qwen2 (QKV biases) from the keys."""
    model_type = config.get("model_type")
    if model_type is not None:
        if not isinstance(model_type, str) or model_type not in HF_FAMILIES:
            raise CheckpointError(f"config.json model_type {model_type!r} is not a supported decoder "
                                  f"(supported: {', '.join(HF_FAMILIES)})")
        return model_type
    if shapes.has(root + "layers.0.self_attn.q_norm.weight"):
        return "qwen3"
    if shapes.has(root + "layers.0.self_attn.q_proj.bias"):
        return "qwen2"
    raise CheckpointError("cannot tell the decoder family from the keys (no q_norm, no QKV bias: Llama-like or Gemma); "
                          "config.json needs model_type")


def _head_dim(shapes: Shapes, root: str, config: dict, model_type: str, q_out: int, k_out: int,
              notes: list[str]) -> int:
    q_norm = root + "layers.0.self_attn.q_norm.weight"
    if shapes.has(q_norm):
        return shapes.get(q_norm, 1)[0]
    if (head_dim := config_int(config, "head_dim", notes)) is not None:
        return head_dim
    if (heads := config_int(config, "num_attention_heads", notes)) is not None:
        return q_out // heads
    if model_type == "gemma":
        notes.append(f"config.json gives no attention heads: one KV head assumed (Gemma 2B), head_dim {k_out}")
        return k_out
    q_proj = shapes.describe(root + "layers.0.self_attn.q_proj.weight")
    raise CheckpointError(f"cannot infer the attention heads of {q_proj}: no q_norm, and config.json has neither "
                          "head_dim nor num_attention_heads")


def _rope_theta(config: dict, model_type: str, notes: list[str]) -> float:
    parameters = config.get("rope_parameters") if isinstance(config.get("rope_parameters"), dict) else {}
    scaling = config.get("rope_scaling") if isinstance(config.get("rope_scaling"), dict) else {}
    kind = parameters.get("rope_type") or scaling.get("rope_type") or scaling.get("type")
    if kind not in (None, "default"):
        raise CheckpointError(f"config.json rope type {kind!r} is not supported (plain RoPE only)")
    theta = config_float(config, "rope_theta", notes) or config_float(parameters, "rope_theta", notes,
                                                                       "config.json rope_parameters")
    if theta is None:
        theta = _DEFAULT_ROPE_THETA[model_type]
        notes.append(f"config.json has no rope_theta: {theta:g} assumed ({model_type} default)")
    return theta


def hf_decoder(shapes: Shapes, root: str, config: dict, notes: list[str]) -> DecoderConfig:
    """A Hugging Face decoder under `root` (our names), sized by its tensors and config.json."""
    model_type = hf_model_type(config, shapes, root)
    q_out, k_out, width = _attention(shapes, root)
    head_dim = _head_dim(shapes, root, config, model_type, q_out, k_out, notes)
    if head_dim <= 0 or q_out % head_dim or k_out % head_dim:
        raise CheckpointError(f"cannot infer the architecture: {shapes.read[f'{root}* heads']} are not multiples of "
                              f"head_dim {head_dim}")
    vocab = shapes.get(root + "embed_tokens.weight", 2)[0]  # its width is checked against q_proj's by validation
    sizes = dict(width=width, depth=shapes.depth(root + "layers."),
                 mlp_dim=shapes.get(root + "layers.0.mlp.gate_proj.weight", 2)[0],
                 num_heads=q_out // head_dim, num_kv_heads=k_out // head_dim, head_dim=head_dim, vocab_size=vocab)
    for key, ours in (("hidden_size", "width"), ("num_hidden_layers", "depth"), ("intermediate_size", "mlp_dim"),
                      ("num_attention_heads", "num_heads"), ("num_key_value_heads", "num_kv_heads"),
                      ("head_dim", "head_dim"), ("vocab_size", "vocab_size")):
        reconcile(notes, f"config.json {key}", config_int(config, key, []), sizes[ours])
    family = HF_FAMILIES[model_type]
    eps = config_float(config, "rms_norm_eps", notes) or 1e-6
    flags = dict(qk_norm=shapes.has(root + "layers.0.self_attn.q_norm.weight"),
                 qkv_bias=shapes.has(root + "layers.0.self_attn.q_proj.bias"))
    theta = _rope_theta(config, model_type, notes)
    return _build(lambda: DecoderConfig(family, **sizes, rope_theta=theta, norm_eps=eps,
                                        scale_embeddings=family == "gemma", **flags), shapes, root)


def expert_like(vlm: DecoderConfig, width: int, mlp_dim: int, adarms_cond_dim: int) -> DecoderConfig:
    """An action expert for `vlm`: same family, depth, heads, head_dim and RoPE (shared attention), own width."""
    return replace(vlm, width=width, mlp_dim=mlp_dim, vocab_size=0, scale_embeddings=False,
                   adarms_cond_dim=adarms_cond_dim)
