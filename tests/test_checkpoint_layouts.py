"""Every supported checkpoint layout, single-file and sharded, loads to the policy it was written from: identical
weights and the same actions for fixed noise."""

from __future__ import annotations

import os

import pytest
import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

from models import PolicyConfig, get_preset, load_policy, qwen_decoder
from models.checkpoint import lerobot_dtype
from models.presets import SIGLIP_TINY
from reference.random_init import random_policy
from tests.checkpoint_files import (dense_state, hf_decoder_tensors, mixed_dtype, pi0_tensors, prismatic_tensors,
                                    observation, rounded, with_parts_of, write_dir)
from tests.metrics import compare

ACTIONS_MAX_ABS = 1e-5  # same weights; only BLAS paths differ (oneDNN vs MKL, mapped-file alignment)


def _meta(preset: str) -> dict:
    return {"chunk_size": 50, "tokenizer_max_length": get_preset(preset).max_token_len, "num_inference_steps": 10}


QWEN3_TINY = "pi0-qwen3-tiny"


def _same_policy(name: str, loaded, expected) -> None:
    ours, theirs = dense_state(loaded), dense_state(expected)
    assert ours.keys() == theirs.keys()
    differing = [k for k in ours if not torch.equal(ours[k], theirs[k])]
    assert not differing, f"{name}: weights differ in {differing[:5]}"
    with_state = expected.config.suffix.has_state_token
    noise = torch.randn(1, 50, 32, generator=torch.Generator().manual_seed(2))
    compare(f"{name} loaded vs source actions", loaded.sample_actions(observation(with_state), noise=noise),
            expected.sample_actions(observation(with_state), noise=noise), max_abs=ACTIONS_MAX_ABS)


PI0_VARIANTS = {  # (root, PaliGemma naming, SigLIP naming, embedding stored only as the tied lm_head)
    "lerobot": ("model.", "current", "vision_model", True),
    "lerobot-flat-siglip": ("model.", "current", "flattened", False),
    "lerobot-legacy-names": ("model.", "legacy", "vision_model", True),
    "openpi": ("", "current", "vision_model", False),
    "openpi-legacy-names": ("", "legacy", "vision_model", True),
    "openpi-legacy-flat-siglip": ("", "legacy", "flattened", False),
}


@pytest.mark.parametrize("shards", [1, 3])
@pytest.mark.parametrize("variant", PI0_VARIANTS)
@pytest.mark.parametrize("preset", ["pi0-tiny", "pi05-tiny"])
def test_pi0_trees(preset, variant, shards, tmp_path):
    source = rounded(random_policy(get_preset(preset), seed=5), lambda name, _: lerobot_dtype(name))
    root, naming, siglip, tied = PI0_VARIANTS[variant]
    write_dir(pi0_tensors(source.state_dict(), root, naming, siglip, tied), tmp_path, _meta(preset), shards)
    loaded, report = load_policy(tmp_path, return_report=True)
    assert loaded.config == source.config
    assert report.random_components == () and len(report.files) == shards
    assert ("no model. prefix" in report.layout) == (root == "") and naming in report.layout and siglip in report.layout
    assert any("lm_head" in note for note in report.ignored)
    _same_policy(f"{preset} {variant}", loaded, source)


def test_bfloat16_load_keeps_the_stored_values(tmp_path):
    source = rounded(random_policy(get_preset("pi0-tiny"), seed=6), lambda name, _: lerobot_dtype(name))
    write_dir(pi0_tensors(source.state_dict()), tmp_path, _meta("pi0-tiny"))
    loaded, report = load_policy(tmp_path, dtype=torch.bfloat16, return_report=True)
    assert report.dtype == "bfloat16" and {p.dtype for p in loaded.parameters()} == {torch.bfloat16}
    expected = {k: v.bfloat16() for k, v in source.state_dict().items()}
    assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())


def _hf_qwen3(source) -> Qwen3ForCausalLM:
    vlm = source.config.vlm
    config = Qwen3Config(vocab_size=vlm.vocab_size, hidden_size=vlm.width, intermediate_size=vlm.mlp_dim,
                         num_hidden_layers=vlm.depth, num_attention_heads=vlm.num_heads,
                         num_key_value_heads=vlm.num_kv_heads, head_dim=vlm.head_dim, rope_theta=vlm.rope_theta,
                         rms_norm_eps=vlm.norm_eps, tie_word_embeddings=True)
    model = Qwen3ForCausalLM(config)
    vlm_state = {"model." + k.removeprefix("vlm."): v for k, v in source.state_dict().items() if k.startswith("vlm.")}
    missing, unexpected = model.load_state_dict(vlm_state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}
    return model.to(torch.bfloat16)


@pytest.mark.parametrize("shards", [1, 2])
def test_qwen3_saved_by_transformers(shards, tmp_path):
    """A real Hugging Face Qwen3 checkpoint (bfloat16, tied lm_head, rope_parameters) as the VLM of pi0-qwen3."""
    source = rounded(random_policy(get_preset(QWEN3_TINY), seed=7), lambda *_: torch.bfloat16)
    _hf_qwen3(source).save_pretrained(tmp_path, max_shard_size="400KB" if shards > 1 else "1GB")
    assert (tmp_path / "model.safetensors.index.json").is_file() == (shards > 1)
    loaded, report = load_policy(tmp_path, base_preset=QWEN3_TINY, seed=3, return_report=True)
    assert loaded.config == source.config
    assert report.random_components == ("vision", "projector", "expert", "suffix")
    assert "decoder" in report.layout
    _same_policy("qwen3 (transformers)", loaded, with_parts_of(source, loaded, report.random_components))


def _qwen25_policy_config() -> PolicyConfig:
    heads = dict(num_heads=4, num_kv_heads=2, head_dim=32, flavour="qwen2")  # head_dim = hidden / heads
    return PolicyConfig(vision=SIGLIP_TINY, vlm=qwen_decoder(128, 2, 384, vocab_size=1024, **heads),
                        expert=qwen_decoder(64, 2, 192, **heads))


@pytest.mark.parametrize("shards", [1, 2])
def test_qwen25_heads_come_from_config_json(shards, tmp_path):
    source = rounded(random_policy(_qwen25_policy_config(), seed=8), lambda *_: torch.bfloat16)
    config = {"model_type": "qwen2", "hidden_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
              "rope_theta": 1e6, "tie_word_embeddings": True, "some_future_key": [1, 2]}
    write_dir(hf_decoder_tensors(source.state_dict()), tmp_path, config, shards)
    loaded, report = load_policy(tmp_path, base_preset=QWEN3_TINY, return_report=True)
    assert loaded.config == source.config and loaded.config.vlm.qkv_bias and not loaded.config.vlm.qk_norm
    _same_policy("qwen2.5", loaded, with_parts_of(source, loaded, report.random_components))


def test_qwen3_without_config_json_uses_q_norm_for_head_dim(tmp_path):
    source = rounded(random_policy(get_preset(QWEN3_TINY), seed=9), lambda *_: torch.bfloat16)
    write_dir(hf_decoder_tensors(source.state_dict(), tied=False), tmp_path)
    loaded, report = load_policy(tmp_path, base_preset=QWEN3_TINY, return_report=True)
    assert loaded.config == source.config
    assert any("rope_theta" in note for note in report.notes)
    _same_policy("qwen3 (no config.json)", loaded, with_parts_of(source, loaded, report.random_components))


def test_missing_components_are_deterministic_and_reported(tmp_path):
    source = random_policy(get_preset(QWEN3_TINY), seed=9)
    write_dir(hf_decoder_tensors(source.state_dict()), tmp_path)
    first, report = load_policy(tmp_path, base_preset=QWEN3_TINY, seed=4, return_report=True)
    again = load_policy(tmp_path, base_preset=QWEN3_TINY, seed=4)
    other = load_policy(tmp_path, base_preset=QWEN3_TINY, seed=5)
    assert all(torch.equal(a, b) for a, b in zip(dense_state(first).values(), dense_state(again).values()))
    assert not torch.equal(dense_state(first)["suffix.state_proj.weight"],
                           dense_state(other)["suffix.state_proj.weight"])
    by_name = {c.name: c for c in report.components}
    assert by_name["vlm"].source == "checkpoint" and by_name["vlm"].dtypes == ("bfloat16",)
    assert by_name["expert"].random and by_name["expert"].parameters == sum(
        p.numel() for p in source.expert.parameters())
    assert by_name["vlm"].parameters == sum(p.numel() for p in source.vlm.parameters())


@pytest.mark.parametrize("shards", [1, 2])
@pytest.mark.parametrize("preset, config", [
    (QWEN3_TINY, {"model": {"llm_backbone_id": "qwen3-1.7b", "arch_specifier": "linear"}}),
    ("pi0-tiny", {"model": {"llm_backbone_id": "gemma-2b", "vision_backbone_id": "siglip-vit-so400m",
                            "arch_specifier": "no-align+linear"}}),
])
def test_prismatic(preset, config, shards, tmp_path):
    source = rounded(random_policy(get_preset(preset), seed=10), mixed_dtype)
    write_dir(prismatic_tensors(source.state_dict()), tmp_path, config, shards)
    loaded, report = load_policy(tmp_path, base_preset=preset, return_report=True)
    assert loaded.config == source.config
    assert report.random_components == ("expert", "suffix") and "Prismatic" in report.layout
    assert any("attn_pool" in note for note in report.ignored) and any("second-to-last" in n for n in report.notes)
    _same_policy(f"prismatic {preset}", loaded, with_parts_of(source, loaded, report.random_components))


def test_prismatic_without_vision_backbone_gets_a_random_tower(tmp_path):
    source = rounded(random_policy(get_preset(QWEN3_TINY), seed=11), mixed_dtype)
    write_dir(prismatic_tensors(source.state_dict(), llm_root="language_model.", with_vision=False), tmp_path)
    loaded, report = load_policy(tmp_path, base_preset=QWEN3_TINY, return_report=True)
    assert report.random_components == ("vision", "expert", "suffix")
    _same_policy("prismatic, no vision", loaded, with_parts_of(source, loaded, report.random_components))


def test_config_json_sizes_lose_to_shapes(tmp_path):
    source = random_policy(get_preset(QWEN3_TINY), seed=12)
    config = {"model_type": "qwen3", "hidden_size": 4096, "num_hidden_layers": 2, "num_attention_heads": 32,
              "rope_parameters": {"rope_theta": 1e6, "rope_type": "default"}}
    write_dir(hf_decoder_tensors(source.state_dict()), tmp_path, config)
    loaded, report = load_policy(tmp_path, base_preset=QWEN3_TINY, return_report=True)
    assert loaded.config.vlm == source.config.vlm
    assert sum("using the tensors" in n for n in report.notes) == 2
    assert any("hidden_size=4096" in n for n in report.notes) and any("num_attention_heads=32" in n
                                                                      for n in report.notes)


def test_lerobot_action_dim_disagreement_is_logged(tmp_path):
    source = random_policy(get_preset("pi0-tiny"), seed=13)
    meta = {**_meta("pi0-tiny"), "max_action_dim": 7, "max_state_dim": 32}
    write_dir(pi0_tensors(source.state_dict()), tmp_path, meta)
    loaded, report = load_policy(tmp_path, return_report=True)
    assert loaded.config.suffix.action_dim == 32
    assert [n for n in report.notes if "max_action_dim=7" in n and "using the tensors" in n]


def test_report_counts_match_the_policy(tmp_path):
    source = random_policy(get_preset("pi05-tiny"), seed=14)
    write_dir(pi0_tensors(source.state_dict()), tmp_path, _meta("pi05-tiny"), shards=2)
    loaded, report = load_policy(tmp_path, dtype=torch.bfloat16, return_report=True)
    for component in report.components:
        params = list(getattr(loaded, component.name).parameters())
        assert (component.tensors, component.parameters) == (len(params), sum(p.numel() for p in params))
        stored = {lerobot_dtype(f"{component.name}.{n}") for n, _ in getattr(loaded, component.name).named_parameters()}
        assert component.dtypes == tuple(sorted(str(d).removeprefix("torch.") for d in stored))
        assert component.bytes == sum(p.numel() * lerobot_dtype(f"{component.name}.{n}").itemsize
                                      for n, p in getattr(loaded, component.name).named_parameters())
    assert report.layout in report.summary() and all(str(tmp_path) in f for f in report.files)


def _mapped_ranges(path) -> list[tuple[int, int]]:
    """Address ranges where this process maps `path` (Linux /proc/self/maps)."""
    target, ranges = os.path.realpath(path), []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == target:
                start, end = (int(x, 16) for x in fields[0].split("-"))
                ranges.append((start, end))
    return ranges


def test_parameters_stored_in_the_requested_dtype_are_the_mapped_file(tmp_path):
    """Zero copy: bfloat16-stored parameters of a bfloat16 load point into the file's mapping; converted ones don't."""
    source = random_policy(get_preset("pi05-tiny"), seed=15)
    write_dir(pi0_tensors(source.state_dict()), tmp_path, _meta("pi05-tiny"))
    loaded = load_policy(tmp_path, dtype=torch.bfloat16)
    ranges = _mapped_ranges(tmp_path / "model.safetensors")
    assert ranges, "the checkpoint is not memory-mapped"
    placement = {name: any(start <= p.data_ptr() < end for start, end in ranges)
                 for name, p in loaded.named_parameters()}
    assert placement == {name: lerobot_dtype(name) == torch.bfloat16 for name in placement}
