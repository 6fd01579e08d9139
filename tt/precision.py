"""Run-time precision of the TTNN tree: weight dtypes and the compute kernel config of each op family.

This is the one place where math fidelity and fp32 accumulation are chosen. A Precision names one setting per op
family: the matmuls of the vision tower and projector, the VLM's and the action expert's QKV/O projections and
MLPs (the expert's MLP family also holds the suffix's state, action and time projections), attention (SDPA) and
the norms. "bfp8" and "bf16" are the built-in precisions; a precision plan (tt.precision_plan) is another, stored as
JSON and loaded by name or path (`resolve`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from tt.ops import ttnn

PRECISIONS = ("bfp8", "bf16")
WEIGHT_DTYPES = {"bf16": ttnn.bfloat16, "bfp8": ttnn.bfloat8_b, "bfp4": ttnn.bfloat4_b}
FIDELITIES = ("LoFi", "HiFi2", "HiFi3", "HiFi4")
MATMUL_FAMILIES = ("vision", "vlm_qkvo", "vlm_mlp", "expert_qkvo", "expert_mlp")
KERNEL_FAMILIES = ("attention", "norms")
# Plans shipped with the project, one per preset, read by precision="auto" (and by name).
PLANS_DIR = Path(__file__).resolve().parent / "plans"

# RoPE's rotate-half matmul x @ R: R (SrcA) holds only 0 and +-1, exact in fidelity phase 0, but x sits in SrcB,
# whose last bf16 mantissa bit only phase 2 multiplies (tt-isa-documentation SrcASrcB.md, "Fidelity phases"), so
# HiFi3 is the lowest fidelity that keeps the rotation exact. Each output is one exact product, exact in either Dst
# width; the FP32 Dst (half the Dst tiles, immaterial for a head_dim x head_dim matmul) keeps the host path's
# device-numerics model of it vectorised instead of rounding after every 16-deep product.
ROTATION_KERNEL = ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi3, math_approx_mode=False,
                                                   fp32_dest_acc_en=True, packer_l1_acc=False)

# The fused rotary embedding (ttnn.experimental.rotary_embedding): its op default, HiFi4 with a 16-bit Dst
# (rotary_embedding.cpp's init_device_compute_kernel_config), given explicitly; bfloat16 products are exact at HiFi4.
ROPE_KERNEL = ttnn.WormholeComputeKernelConfig(math_fidelity=ttnn.MathFidelity.HiFi4, math_approx_mode=False,
                                               fp32_dest_acc_en=False, packer_l1_acc=False)


def _check_compute(fidelity: str, fp32_acc: bool, what: str) -> None:
    if fidelity not in FIDELITIES:
        raise ValueError(f"{what}: math fidelity must be one of {FIDELITIES}, got {fidelity!r}")
    if not isinstance(fp32_acc, bool):
        raise ValueError(f"{what}: fp32_acc must be true or false, got {fp32_acc!r}")


def _compute_kernel(fidelity: str, fp32_acc: bool, packer_l1_acc: bool):
    return ttnn.WormholeComputeKernelConfig(math_fidelity=getattr(ttnn.MathFidelity, fidelity), math_approx_mode=False,
                                            fp32_dest_acc_en=fp32_acc, packer_l1_acc=packer_l1_acc)


def _compute_label(fidelity: str, fp32_acc: bool) -> str:
    return f"{fidelity}{'' if fp32_acc else ', bf16 acc'}"


@dataclass(frozen=True)
class KernelPrecision:
    """An op family without weights (SDPA, norms): math fidelity and fp32 destination accumulation."""

    fidelity: str = "HiFi4"
    fp32_acc: bool = True

    def __post_init__(self):
        _check_compute(self.fidelity, self.fp32_acc, "kernel precision")

    @property
    def kernel(self):
        return _compute_kernel(self.fidelity, self.fp32_acc, packer_l1_acc=False)

    def __str__(self) -> str:
        return _compute_label(self.fidelity, self.fp32_acc)


@dataclass(frozen=True)
class MatmulPrecision:
    """One family's matmuls: the weight dtype, math fidelity and fp32 accumulation (partial sums over K blocks
    accumulate in L1 through the packer, packer_l1_acc, in either case). Activations are bfloat16."""

    weight: str = "bfp8"
    fidelity: str = "HiFi2"
    fp32_acc: bool = True

    def __post_init__(self):
        if self.weight not in WEIGHT_DTYPES:
            raise ValueError(f"matmul precision: weight dtype must be one of {tuple(WEIGHT_DTYPES)}, "
                             f"got {self.weight!r}")
        _check_compute(self.fidelity, self.fp32_acc, "matmul precision")

    @property
    def matrix_dtype(self):
        return WEIGHT_DTYPES[self.weight]

    @property
    def activation_dtype(self):
        return ttnn.bfloat16

    @property
    def matmul_kernel(self):
        return _compute_kernel(self.fidelity, self.fp32_acc, packer_l1_acc=True)

    def __str__(self) -> str:
        return f"{self.weight} {_compute_label(self.fidelity, self.fp32_acc)}"


# bfloat8_b mantissas are 7 bits: HiFi2 uses all of them; bf16 weights need HiFi4 for full precision. Sums of squares
# over 1-2k lanes and softmax sums lose precision in a 16-bit Dst: norms and attention accumulate in fp32.
BUILT_IN = {"bfp8": MatmulPrecision(weight="bfp8", fidelity="HiFi2"),
            "bf16": MatmulPrecision(weight="bf16", fidelity="HiFi4")}


@dataclass(frozen=True)
class Precision:
    """Every op family's setting. Precision("bfp8") / Precision("bf16") are the built-ins (bfp8: large matrices in
    bfloat8_b at HiFi2; bf16: every weight in bfloat16 at HiFi4; norms, embeddings, RoPE tables and biases stay
    bfloat16 in both); a plan gives every family explicitly."""

    name: str = "bfp8"
    vision: MatmulPrecision | None = None
    vlm_qkvo: MatmulPrecision | None = None
    vlm_mlp: MatmulPrecision | None = None
    expert_qkvo: MatmulPrecision | None = None
    expert_mlp: MatmulPrecision | None = None
    attention: KernelPrecision = KernelPrecision()
    norms: KernelPrecision = KernelPrecision()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a precision needs a name, got {self.name!r}")
        missing = [f for f in MATMUL_FAMILIES if getattr(self, f) is None]
        if missing and self.name not in BUILT_IN:
            raise ValueError(f"precision must be one of {PRECISIONS} (or a plan giving every family), got "
                             f"{self.name!r}")
        for family in missing:
            object.__setattr__(self, family, BUILT_IN[self.name])

    def matmuls(self, family: str) -> MatmulPrecision:
        if family not in MATMUL_FAMILIES:
            raise ValueError(f"unknown matmul family {family!r}; families: {', '.join(MATMUL_FAMILIES)}")
        return getattr(self, family)

    @property
    def norm_kernel(self):
        return self.norms.kernel

    @property
    def attention_kernel(self):
        return self.attention.kernel

    @property
    def weight_key(self) -> str:
        """What the prepared weights depend on (the weight cache's key): the weight dtype of every family."""
        weights = [self.matmuls(f).weight for f in MATMUL_FAMILIES]
        if len(set(weights)) == 1:
            return weights[0]
        return "-".join(f"{f}={w}" for f, w in zip(MATMUL_FAMILIES, weights))

    def replaced(self, name: str, **families) -> "Precision":
        settings = {f.name: getattr(self, f.name) for f in fields(self)}
        return Precision(**{**settings, **families, "name": name})

    def to_json(self) -> dict:
        return {"name": self.name, **{f: asdict(getattr(self, f)) for f in MATMUL_FAMILIES + KERNEL_FAMILIES}}

    @classmethod
    def from_json(cls, data: dict, source: str) -> "Precision":
        expected = {"name", *MATMUL_FAMILIES, *KERNEL_FAMILIES}
        if not isinstance(data, dict) or set(data) != expected:
            found = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"{source}: a precision plan has the keys {sorted(expected)}, found {found}")
        try:
            families = {f: MatmulPrecision(**data[f]) for f in MATMUL_FAMILIES}
            kernels = {f: KernelPrecision(**data[f]) for f in KERNEL_FAMILIES}
            return cls(data["name"], **families, **kernels)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source}: {error}") from None

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        partial.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Precision":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"precision plan {path} does not exist") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"precision plan {path} is not valid JSON: {error}") from None
        return cls.from_json(data, str(path))


def stored_plans(directory: Path = PLANS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.json"))


def resolve(precision, preset: str | None, directory: Path = PLANS_DIR) -> Precision:
    """A Precision from what a user passes: a Precision; "bfp8" / "bf16"; "auto" (the stored plan of `preset`, the
    preset whose architecture the checkpoint has); the name of a stored plan; or the path of a plan's JSON file."""
    if isinstance(precision, Precision):
        return precision
    if not isinstance(precision, (str, Path)):
        raise ValueError(f"precision must be a name, a plan file or a Precision, got {type(precision).__name__}")
    text = str(precision)
    if text in BUILT_IN:
        return Precision(text)
    if text == "auto":
        if preset is None or not (directory / f"{preset}.json").is_file():
            known = ", ".join(stored_plans(directory)) or "none"
            raise ValueError(f"precision='auto': no stored precision plan for "
                             f"{'this architecture' if preset is None else repr(preset)} (stored: {known}); make "
                             f"one with `python -m tt.precision_plan --preset PRESET`, or pass 'bfp8'")
        return Precision.load(directory / f"{preset}.json")
    if (directory / f"{text}.json").is_file():
        return Precision.load(directory / f"{text}.json")
    if text.endswith(".json"):
        return Precision.load(text)
    raise ValueError(f"unknown precision {text!r}: use one of {PRECISIONS}, 'auto', a stored plan "
                     f"({', '.join(stored_plans(directory)) or 'none stored'}) or a plan's .json path")
