"""Normalisation against lerobot 0.6.1's NormalizerProcessorStep / UnnormalizerProcessorStep, and statistics read
back from the files lerobot's own pipelines save."""

from __future__ import annotations

import json

import pytest
import torch

from models.inputs import postprocess_actions
from models.normalization import FeatureNorm, NormMode, load_stats, stats_from_dict

MAX_ABS_DIFF = 1e-6
STATE_DIM, ACTION_DIM = 7, 6


def lerobot_stats(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)

    def feature(dim):
        low = -torch.rand(dim, generator=g) - 0.2
        return {"mean": torch.randn(dim, generator=g), "std": torch.rand(dim, generator=g) + 0.5,
                "min": low - 1.0, "max": -low + 1.0, "q01": low, "q99": -low, "q10": low / 2, "q90": -low / 2}
    stats = {"observation.state": feature(STATE_DIM), "action": feature(ACTION_DIM)}
    stats["observation.state"]["q99"][0] = stats["observation.state"]["q01"][0]  # a constant joint: eps path
    return stats


def lerobot_steps(mode: str, stats: dict):
    from lerobot.configs import FeatureType, NormalizationMode, PolicyFeature
    from lerobot.processor import NormalizerProcessorStep, UnnormalizerProcessorStep

    features = {"observation.state": PolicyFeature(FeatureType.STATE, (STATE_DIM,)),
                "action": PolicyFeature(FeatureType.ACTION, (ACTION_DIM,))}
    norm_map = {FeatureType.STATE: NormalizationMode(mode), FeatureType.ACTION: NormalizationMode(mode)}
    return (NormalizerProcessorStep(features=features, norm_map=norm_map, stats=stats),
            UnnormalizerProcessorStep(features={"action": features["action"]}, norm_map=norm_map, stats=stats))


def save_lerobot_pipelines(directory, mode: str, stats: dict) -> None:
    """lerobot's own serialisation: policy_preprocessor(.json, _step_0_normalizer_processor.safetensors), ..."""
    from lerobot.processor import PolicyProcessorPipeline

    normalizer, unnormalizer = lerobot_steps(mode, stats)
    PolicyProcessorPipeline(steps=[normalizer], name="policy_preprocessor").save_pretrained(directory)
    PolicyProcessorPipeline(steps=[unnormalizer], name="policy_postprocessor").save_pretrained(directory)


@pytest.mark.parametrize("mode", ["MEAN_STD", "QUANTILES", "MIN_MAX", "QUANTILE10"])
def test_matches_lerobot_normalizer(mode):
    stats = lerobot_stats()
    normalizer, unnormalizer = lerobot_steps(mode, stats)
    ours = stats_from_dict(stats, "pi0")
    state_norm = FeatureNorm("observation.state", NormMode(mode), ours.state.stats)
    action_norm = FeatureNorm("action", NormMode(mode), ours.action.stats)
    state = torch.randn(4, STATE_DIM) * 3
    actions = torch.randn(4, 50, ACTION_DIM)
    expected_state = normalizer._normalize_observation({"observation.state": state}, inverse=False)
    assert (state_norm.normalize(state) - expected_state["observation.state"]).abs().max() <= MAX_ABS_DIFF
    expected_actions = unnormalizer._normalize_action(actions, inverse=True)
    assert (action_norm.unnormalize(actions) - expected_actions).abs().max() <= MAX_ABS_DIFF


@pytest.mark.parametrize("mode", list(NormMode))
def test_round_trip(mode):
    stats = stats_from_dict(lerobot_stats(1), "pi0").action.stats
    norm = FeatureNorm("action", mode, stats)
    x = torch.randn(3, 50, ACTION_DIM)
    assert torch.allclose(norm.unnormalize(norm.normalize(x)), x, atol=1e-5)


@pytest.mark.parametrize("kind, mode", [("pi0", "MEAN_STD"), ("pi05", "QUANTILES")])
def test_load_stats_from_lerobot_checkpoint_files(tmp_path, kind, mode):
    stats = lerobot_stats(2)
    save_lerobot_pipelines(tmp_path, mode, stats)
    assert (tmp_path / "policy_preprocessor_step_0_normalizer_processor.safetensors").is_file()
    assert (tmp_path / "policy_postprocessor_step_0_unnormalizer_processor.safetensors").is_file()
    loaded = load_stats(tmp_path, kind="pi05" if kind == "pi0" else "pi0")  # the saved norm_map wins
    assert loaded.has_state and loaded.has_action and "normalizer_processor" in loaded.source
    assert loaded.state.mode == NormMode(mode) and loaded.action.mode == NormMode(mode)
    for name, value in stats["observation.state"].items():
        assert torch.equal(loaded.state.stats[name], value)
    for name, value in stats["action"].items():
        assert torch.equal(loaded.action.stats[name], value)


def test_load_stats_without_json_uses_file_names_and_kind_default(tmp_path):
    save_lerobot_pipelines(tmp_path, "MEAN_STD", lerobot_stats(3))
    (tmp_path / "policy_preprocessor.json").unlink()
    (tmp_path / "policy_postprocessor.json").unlink()
    loaded = load_stats(tmp_path, kind="pi05")
    assert loaded.state.mode == NormMode.QUANTILES and loaded.action.mode == NormMode.QUANTILES


def test_absent_stats_are_reported_where_needed_not_invented(tmp_path, warnings):
    loaded = load_stats(tmp_path, kind="pi0")
    assert not loaded.has_state and not loaded.has_action and loaded.source == str(tmp_path)
    assert not warnings
    actions = torch.randn(1, 50, 32)
    assert torch.equal(postprocess_actions(actions, loaded, ACTION_DIM), actions[..., :ACTION_DIM])
    assert len(warnings) == 1
    assert f"no action normalisation statistics in {tmp_path}: actions are returned in the model's normalised " \
           "units" in warnings[0]
    with pytest.raises(ValueError, match="does not exist"):
        load_stats(tmp_path / "missing", kind="pi0")


def test_state_only_stats(tmp_path, warnings):
    stats = lerobot_stats(4)
    del stats["action"]
    from lerobot.configs import FeatureType, NormalizationMode, PolicyFeature
    from lerobot.processor import NormalizerProcessorStep, PolicyProcessorPipeline

    step = NormalizerProcessorStep(features={"observation.state": PolicyFeature(FeatureType.STATE, (STATE_DIM,))},
                                   norm_map={FeatureType.STATE: NormalizationMode.MEAN_STD}, stats=stats)
    PolicyProcessorPipeline(steps=[step], name="policy_preprocessor").save_pretrained(tmp_path)
    loaded = load_stats(tmp_path, kind="pi0")
    assert loaded.has_state and not loaded.has_action
    postprocess_actions(torch.randn(1, 50, 32), loaded, ACTION_DIM)
    assert any("no action normalisation statistics" in m for m in warnings)


def test_missing_stat_for_the_mode_is_an_error():
    message = r"QUANTILES normalisation of 'observation.state' needs stats \['q01', 'q99'\]"
    with pytest.raises(ValueError, match=message):
        FeatureNorm("observation.state", NormMode.QUANTILES, {"mean": torch.zeros(3), "std": torch.ones(3)})


def test_width_mismatch_is_an_error():
    norm = FeatureNorm("observation.state", NormMode.MEAN_STD, {"mean": torch.zeros(7), "std": torch.ones(7)})
    with pytest.raises(ValueError, match="'observation.state' has 8 dims but its normalisation stats have 7"):
        norm.normalize(torch.zeros(1, 8))


def test_saved_norm_map_is_lerobots(tmp_path):
    save_lerobot_pipelines(tmp_path, "QUANTILES", lerobot_stats(5))
    config = json.loads((tmp_path / "policy_preprocessor.json").read_text())
    step = config["steps"][0]
    assert step["registry_name"] == "normalizer_processor"
    assert step["config"]["norm_map"]["STATE"] == "QUANTILES"
