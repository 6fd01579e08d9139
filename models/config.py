"""Architecture configs: small typed dataclasses, validated on construction.

Run settings (backend, precision, grids) are not architecture and live elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DEFAULT_CAMERAS = ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class SiglipConfig:
    """SigLIP vision tower (no pooling head)."""

    width: int = 1152
    depth: int = 27
    num_heads: int = 16
    mlp_dim: int = 4304
    patch_size: int = 14
    image_size: int = 224
    # Number of learned position embeddings is (pretrained_grid ** 2); other image sizes interpolate.
    pretrained_grid: int = 16
    norm_eps: float = 1e-6

    def __post_init__(self):
        _require(self.width % self.num_heads == 0, f"SigLIP width {self.width} not divisible by {self.num_heads} heads")
        # The patch convolution has stride = kernel and no padding: 384 px gives 27 x 27 patches, the last 6 px unused.
        _require(self.image_size >= self.patch_size,
                 f"image_size {self.image_size} is smaller than the patch size {self.patch_size}")
        _require(min(self.depth, self.mlp_dim, self.pretrained_grid) > 0,
                 "SigLIP depth, mlp_dim, grid must be positive")

    @property
    def head_dim(self) -> int:
        return self.width // self.num_heads

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_tokens(self) -> int:
        return self.grid * self.grid


@dataclass(frozen=True)
class ProjectorConfig:
    """Linear map from vision width to the VLM width (with bias)."""

    input_dim: int = 1152
    output_dim: int = 2048


@dataclass(frozen=True)
class DecoderConfig:
    """A Gemma- or Qwen-family decoder stack.

    family selects the RMSNorm form and the MLP gate: "gemma" is x * (1 + w) with a tanh-GELU gate,
    "qwen" is x * w with a SiLU gate. Everything else is a capability flag.
    """

    family: Literal["gemma", "qwen"]
    width: int
    depth: int
    mlp_dim: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int = 0  # 0: no token embedding (the action expert)
    rope_theta: float = 10_000.0
    norm_eps: float = 1e-6
    qk_norm: bool = False
    qkv_bias: bool = False
    scale_embeddings: bool = False  # multiply token embeddings by sqrt(width)
    adarms_cond_dim: int = 0  # >0: adaptive RMSNorm conditioned on a vector of this size (pi0.5 expert)

    def __post_init__(self):
        _require(self.family in ("gemma", "qwen"), f"unknown decoder family {self.family!r}")
        _require(self.num_heads % self.num_kv_heads == 0,
                 f"num_heads {self.num_heads} not a multiple of num_kv_heads {self.num_kv_heads}")
        _require(self.head_dim % 2 == 0, f"head_dim {self.head_dim} must be even for RoPE")
        _require(min(self.width, self.depth, self.mlp_dim, self.num_kv_heads) > 0, "decoder sizes must be positive")

    @property
    def adarms(self) -> bool:
        return self.adarms_cond_dim > 0


def gemma_decoder(width: int, depth: int, mlp_dim: int, *, num_heads: int = 8, num_kv_heads: int = 1,
                  head_dim: int = 256, vocab_size: int = 0, adarms_cond_dim: int = 0) -> DecoderConfig:
    return DecoderConfig("gemma", width, depth, mlp_dim, num_heads, num_kv_heads, head_dim,
                         vocab_size=vocab_size, scale_embeddings=vocab_size > 0, adarms_cond_dim=adarms_cond_dim)


def qwen_decoder(width: int, depth: int, mlp_dim: int, *, num_heads: int, num_kv_heads: int, head_dim: int,
                 flavour: Literal["qwen2", "qwen3"] = "qwen3", vocab_size: int = 0,
                 rope_theta: float = 1_000_000.0, adarms_cond_dim: int = 0) -> DecoderConfig:
    """Qwen3 has per-head q/k RMSNorm; Qwen2/2.5 has QKV biases instead."""
    _require(flavour in ("qwen2", "qwen3"), f"unknown Qwen flavour {flavour!r}")
    return DecoderConfig("qwen", width, depth, mlp_dim, num_heads, num_kv_heads, head_dim, vocab_size=vocab_size,
                         rope_theta=rope_theta, qk_norm=flavour == "qwen3", qkv_bias=flavour == "qwen2",
                         adarms_cond_dim=adarms_cond_dim)


@dataclass(frozen=True)
class SuffixConfig:
    """State/action suffix. pi0: a state token plus action tokens fused with the time embedding by an MLP.
    pi05: action tokens only; the time embedding conditions the expert's adaptive RMSNorms."""

    kind: Literal["pi0", "pi05"] = "pi0"
    state_dim: int = 32
    action_dim: int = 32
    horizon: int = 50
    min_period: float = 4e-3
    max_period: float = 4.0

    def __post_init__(self):
        _require(self.kind in ("pi0", "pi05"), f"unknown suffix kind {self.kind!r}")
        _require(min(self.state_dim, self.action_dim, self.horizon) > 0, "suffix sizes must be positive")

    @property
    def has_state_token(self) -> bool:
        return self.kind == "pi0"


@dataclass(frozen=True)
class SamplerConfig:
    num_steps: int = 10

    def __post_init__(self):
        _require(self.num_steps > 0, f"num_steps must be positive, got {self.num_steps}")


@dataclass(frozen=True)
class PolicyConfig:
    vision: SiglipConfig
    vlm: DecoderConfig
    expert: DecoderConfig
    suffix: SuffixConfig = field(default_factory=SuffixConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    max_token_len: int = 48
    cameras: tuple[str, ...] = DEFAULT_CAMERAS

    def __post_init__(self):
        vlm, expert = self.vlm, self.expert
        _require(vlm.vocab_size > 0, "the VLM needs a token embedding (vocab_size > 0)")
        # Shared attention concatenates both experts' heads along the sequence.
        for name in ("depth", "num_heads", "num_kv_heads", "head_dim", "rope_theta"):
            _require(getattr(vlm, name) == getattr(expert, name),
                     f"VLM and expert must share {name} for joint attention: "
                     f"{getattr(vlm, name)} vs {getattr(expert, name)}")
        _require(expert.adarms == (self.suffix.kind == "pi05"),
                 f"suffix kind {self.suffix.kind!r} requires expert adaptive RMSNorm = {self.suffix.kind == 'pi05'}")
        _require(not expert.adarms or expert.adarms_cond_dim == expert.width,
                 "the pi0.5 time condition has the expert's width")
        _require(len(self.cameras) > 0 and len(set(self.cameras)) == len(self.cameras), "cameras must be unique, >= 1")
        _require(self.max_token_len > 0, "max_token_len must be positive")

    @property
    def projector(self) -> ProjectorConfig:
        return ProjectorConfig(self.vision.width, self.vlm.width)
