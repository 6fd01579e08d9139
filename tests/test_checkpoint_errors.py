"""Bad checkpoints end in one CheckpointError that names every offending tensor or file, before any model is built;
pickles are refused without being opened."""

from __future__ import annotations

import json
import os
import pickle
import struct

import pytest
import torch

from models import get_preset, load_policy
from models.checkpoint import CheckpointError, checkpoint_key, lerobot_dtype, open_safetensors, save_tensors
from reference.random_init import random_policy
from tests.checkpoint_files import META, hf_decoder_tensors, pi0_tensors, prismatic_tensors, write_dir

@pytest.fixture(scope="module")
def pi0_state():
    return random_policy(get_preset("pi0-tiny"), seed=21).state_dict()


@pytest.fixture
def tensors(pi0_state):
    return {k: v.clone() for k, v in pi0_tensors(pi0_state).items()}  # tests edit them in place


def _error(directory) -> CheckpointError:
    with pytest.raises(CheckpointError) as err:
        load_policy(directory)
    return err.value


def _header(path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def _rewrite(path, header: dict, data: bytes) -> None:
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)


def test_every_problem_is_listed_in_one_error(tensors, tmp_path):
    vlm_up = checkpoint_key("vlm.layers.1.mlp.up_proj.weight")
    del tensors[vlm_up]
    tensors["model.extra_head.weight"] = torch.zeros(2)
    tensors["stray.weight"] = torch.zeros(2)
    tensors[checkpoint_key("expert.layers.1.self_attn.o_proj.weight")] = torch.zeros(64, 7, dtype=torch.bfloat16)
    tensors[checkpoint_key("vlm.layers.0.mlp.down_proj.weight")][3, 4] = float("nan")
    tensors[checkpoint_key("vision.post_layernorm.bias")][:2] = float("inf")
    tensors[checkpoint_key("suffix.state_proj.bias")] = torch.zeros(64, dtype=torch.int8)
    tensors[checkpoint_key("suffix.action_in_proj.bias")] = torch.zeros(64, dtype=torch.float8_e4m3fn)
    write_dir(tensors, tmp_path, META)
    err = _error(tmp_path)
    assert len(err.problems) == 8, err
    text = str(err)
    assert f"missing vlm.layers.1.mlp.up_proj.weight (checkpoint key {vlm_up!r})" in text
    assert "unexpected suffix.extra_head.weight (checkpoint key 'model.extra_head.weight')" in text
    assert "unexpected tensor 'stray.weight'" in text
    assert "shape expert.layers.1.self_attn.o_proj.weight: expected (64, 2048), found (64, 7)" in text
    assert f"non-finite {checkpoint_key('vlm.layers.0.mlp.down_proj.weight')}: 1 of" in text
    assert f"non-finite {checkpoint_key('vision.post_layernorm.bias')}: 2 of 144 values" in text
    assert f"unsupported dtype {checkpoint_key('suffix.state_proj.bias')}: I8" in text
    assert f"unsupported dtype {checkpoint_key('suffix.action_in_proj.bias')}: F8_E4M3" in text


def test_non_finite_values_in_an_ignored_tensor_are_caught(tensors, tmp_path):
    lm_head = "model.paligemma_with_expert.gemma_expert.lm_head.weight"
    tensors[lm_head][0, 0] = float("-inf")
    write_dir(tensors, tmp_path, META)
    assert f"non-finite {lm_head}: 1 of" in str(_error(tmp_path))


def test_float16_checkpoints_are_accepted_and_float64_refused(pi0_state, tmp_path):
    write_dir({checkpoint_key(k): v.half() for k, v in pi0_state.items()}, tmp_path, META)
    loaded = load_policy(tmp_path)
    assert torch.equal(loaded.suffix.action_out_proj.weight.to_dense(),
                       pi0_state["suffix.action_out_proj.weight"].half().float())
    write_dir({checkpoint_key(k): v.double() for k, v in pi0_state.items()}, tmp_path, META)
    err = _error(tmp_path)
    assert len(err.problems) == len(pi0_state) and all(": F64 (accepted" in p for p in err.problems)


def test_cannot_infer_and_key_problems_are_reported_together(tensors, tmp_path):
    del tensors[checkpoint_key("vision.embeddings.patch_embedding.weight")]
    tensors["stray.weight"] = torch.zeros(2)
    write_dir(tensors, tmp_path, META)
    text = str(_error(tmp_path))
    assert "cannot infer the architecture: missing vision.embeddings.patch_embedding.weight" in text
    assert "unexpected tensor 'stray.weight'" in text


def test_not_a_safetensors_file(tmp_path):
    (tmp_path / "model.safetensors").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\n")
    assert "model.safetensors: not a readable safetensors file (corrupt header: header length" in str(_error(tmp_path))


@pytest.mark.parametrize("keep", [0, 5, 9, -1])
def test_truncated_file(tensors, tmp_path, keep):
    path = write_dir(tensors, tmp_path, META) / "model.safetensors"
    raw = path.read_bytes()
    path.write_bytes(raw[:keep] if keep >= 0 else raw[:-3])
    assert f"{path}: not a readable safetensors file (truncated: " in str(_error(tmp_path))


@pytest.mark.parametrize("corruption, message", [
    (lambda h, d: (h, d + b"junk"), "4 unexpected bytes after the last tensor"),
    (lambda h, d: ({**h, "x": {**next(iter(h.values())), "data_offsets": [0, 10 ** 12]}}, d),
     "spans 1000000000000 bytes, its shape needs"),
    (lambda h, d: ({k: {**v, "data_offsets": [v["data_offsets"][0] + 2, v["data_offsets"][1] + 2]}
                    for k, v in h.items()}, d), "leaves a gap"),
    (lambda h, d: ({**h, "copy": dict(next(iter(h.values())))}, d), "overlaps the previous tensor"),
    (lambda h, d: ({**h, "bad": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}, d), "invalid shape [-1]"),
    (lambda h, d: ({**h, "bad": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 1]}}, d), "unknown dtype 'Q7'"),
    (lambda h, d: ({**h, "bad": [1, 2]}, d), "needs exactly dtype, shape and data_offsets"),
    (lambda h, d: ({**h, "__metadata__": {"format": 3}}, d), "__metadata__ must map strings to strings"),
])
def test_corrupt_header(tensors, tmp_path, corruption, message):
    path = write_dir(tensors, tmp_path, META) / "model.safetensors"
    header, data = _header(path)
    _rewrite(path, *corruption(header, data))
    text = str(_error(tmp_path))
    assert text.startswith(f"{path}: not a readable safetensors file (") and message in text, text


@pytest.mark.parametrize("length, message", [(2 ** 63, "header length"), (0, "header length"),
                                             (10 ** 8, "truncated: the header needs 100000000 bytes")])
def test_bad_header_length(tensors, tmp_path, length, message):
    path = write_dir(tensors, tmp_path, META) / "model.safetensors"
    raw = path.read_bytes()
    path.write_bytes(struct.pack("<Q", length) + raw[8:])
    assert message in str(_error(tmp_path))


def test_invalid_and_duplicate_json(tensors, tmp_path):
    path = write_dir(tensors, tmp_path, META) / "model.safetensors"
    header, data = _header(path)
    first = next(iter(header))
    again = f', "{first}": {json.dumps(header[first])}}}'.encode()
    blob = json.dumps(header).encode()[:-1] + again
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    assert f"invalid JSON (duplicate key {first!r})" in str(_error(tmp_path))
    path.write_bytes(struct.pack("<Q", 4) + b"[1,}" + data)
    assert "corrupt header: invalid JSON" in str(_error(tmp_path))


def test_sharded_index_problems(tensors, tmp_path):
    write_dir(tensors, tmp_path, META, shards=3)
    index_path = tmp_path / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    shard = sorted(set(index["weight_map"].values()))[1]

    index_path.write_text("{not json")
    assert f"{index_path}: invalid JSON" in str(_error(tmp_path))
    index_path.write_text(json.dumps({"metadata": {}}))
    assert f"{index_path}: invalid index (no weight_map object)" in str(_error(tmp_path))
    index_path.write_text(json.dumps({"weight_map": {**index["weight_map"], "x.weight": "../elsewhere.safetensors"}}))
    assert "maps to '../elsewhere.safetensors', not a file name" in str(_error(tmp_path))

    moved = tmp_path / shard
    moved.rename(tmp_path / "aside")
    index_path.write_text(json.dumps(index))
    assert f"index points to a missing shard {moved}" in str(_error(tmp_path))
    (tmp_path / "aside").rename(moved)

    key = next(k for k, v in index["weight_map"].items() if v == shard)
    listed_elsewhere = {**index["weight_map"], key: sorted(set(index["weight_map"].values()))[0]}
    index_path.write_text(json.dumps({"weight_map": listed_elsewhere}))
    text = str(_error(tmp_path))
    assert f"tensor {key!r} is not in its shard" in text and f"tensor {key!r} is in this shard but the index" in text


def test_truncated_shard_names_the_shard(tensors, tmp_path):
    write_dir(tensors, tmp_path, META, shards=2)
    shard = sorted(tmp_path.glob("model-*.safetensors"))[1]
    shard.write_bytes(shard.read_bytes()[:-100])
    assert f"{shard}: not a readable safetensors file (truncated" in str(_error(tmp_path))


class _Bomb:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "policy.pth", "last.ckpt",
                                  "checkpoints/latest-checkpoint.pt"])
def test_pickles_are_refused_unopened(tmp_path, name):
    marker = tmp_path.parent / f"{tmp_path.name}-unpickled"
    (tmp_path / name).parent.mkdir(exist_ok=True)
    (tmp_path / name).write_bytes(pickle.dumps(_Bomb(marker)))
    text = str(_error(tmp_path))
    assert not marker.exists()
    assert f"only pickled weights ({name})" in text and "never loaded" in text
    assert "save_file(" in text and "weights_only=True" in text


def test_empty_directory_and_unknown_layout(tmp_path):
    assert "no model.safetensors found" in str(_error(tmp_path))
    save_tensors(tmp_path / "model.safetensors", {"encoder.block.0.weight": torch.zeros(2)})
    assert "unknown checkpoint layout (keys: 'encoder.block.0.weight')" in str(_error(tmp_path))


def test_hf_decoder_without_heads_or_family(pi0_state, tmp_path):
    write_dir(hf_decoder_tensors(pi0_state), tmp_path)  # Gemma keys: no q_norm, no biases, no config.json
    assert "cannot tell the decoder family" in str(_error(tmp_path))
    write_dir(hf_decoder_tensors(pi0_state), tmp_path, {"model_type": "llama"})
    assert "config.json has neither head_dim nor num_attention_heads" in str(_error(tmp_path))
    write_dir(hf_decoder_tensors(pi0_state), tmp_path, {"model_type": "gemma2"})
    assert "model_type 'gemma2' is not a supported decoder" in str(_error(tmp_path))
    write_dir(hf_decoder_tensors(pi0_state), tmp_path, {"model_type": "llama", "num_attention_heads": 8,
                                                        "rope_scaling": {"rope_type": "yarn", "factor": 4.0}})
    assert "rope type 'yarn' is not supported" in str(_error(tmp_path))


@pytest.mark.parametrize("projector, form", [
    ({"projector.projector.0.weight": (128, 144), "projector.projector.0.bias": (128,),
      "projector.projector.2.weight": (128, 128), "projector.projector.2.bias": (128,)}, "'gelu-mlp'"),
    ({f"projector.projector.{i}.weight": (128, 128) for i in (0, 2, 4)}, "'fused-gelu-mlp'"),
    ({"projector.fc1.weight": (576, 144), "projector.fc2.weight": (128, 576), "projector.fc3.weight": (128, 128)},
     "OpenVLA's MLP projector"),
])
def test_prismatic_mlp_projectors_are_refused(pi0_state, tmp_path, projector, form):
    tensors = prismatic_tensors(pi0_state)
    del tensors["projector.projector.weight"], tensors["projector.projector.bias"]
    tensors.update({k: torch.zeros(shape) for k, shape in projector.items()})
    write_dir(tensors, tmp_path, {"model": {"llm_backbone_id": "gemma-2b"}})
    text = str(_error(tmp_path))
    assert "unsupported projector: " in text and form in text and "single Linear" in text
    assert "unexpected tensor 'projector" not in text


def test_prismatic_fused_backbone_is_refused(pi0_state, tmp_path):
    tensors = prismatic_tensors(pi0_state)
    tensors["vision_backbone.fused_featurizer.blocks.0.attn.qkv.weight"] = torch.zeros(6, 2)
    tensors["vision_backbone.featurizer.cls_token"] = torch.zeros(1, 1, 144)
    write_dir(tensors, tmp_path, {"model": {"llm_backbone_id": "gemma-2b"}})
    err = _error(tmp_path)
    assert any("fused DINOv2 + SigLIP (vision_backbone.fused_featurizer.*)" in p for p in err.problems)
    assert not any("vision_backbone" in p for p in err.problems[1:])  # one line for the whole backbone


def test_prismatic_non_siglip_featurizer_keys_are_named(pi0_state, tmp_path):
    tensors = prismatic_tensors(pi0_state)
    tensors["vision_backbone.featurizer.reg_token"] = torch.zeros(1, 4, 144)
    tensors["vision_backbone.featurizer.blocks.0.attn.qkv.weight"] = torch.zeros(431, 144)
    write_dir(tensors, tmp_path, {"model": {"llm_backbone_id": "gemma-2b"}})
    text = str(_error(tmp_path))
    assert "unexpected tensor 'vision_backbone.featurizer.reg_token'" in text
    assert "blocks.0.attn.qkv.weight: shape [431, 144] is not a fused q/k/v" in text


def test_errors_come_before_any_model_is_built(tensors, tmp_path, monkeypatch):
    import reference.policy

    tensors[checkpoint_key("vlm.norm.weight")][0] = float("nan")
    write_dir(tensors, tmp_path, META)
    built = []
    original = reference.policy.Pi0Policy.__init__

    def spy(self, config):
        built.append(torch.empty(0).device.type)
        original(self, config)
    monkeypatch.setattr(reference.policy.Pi0Policy, "__init__", spy)
    _error(tmp_path)
    assert set(built) <= {"meta"}  # only the shape spec, on the meta device


def test_open_safetensors_views_are_zero_copy(pi0_state, tmp_path):
    path = tmp_path / "model.safetensors"
    save_tensors(path, {k: v.to(lerobot_dtype(k)) for k, v in pi0_state.items()})
    file = open_safetensors(path)
    name = "vlm.layers.0.mlp.up_proj.weight"
    a, b = file.tensor(name), file.tensor(name)
    assert a.data_ptr() == b.data_ptr() and torch.equal(a, pi0_state[name].bfloat16())
