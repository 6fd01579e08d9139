"""Checkpoint reading, shared by both trees (pure torch; `load_policy` in models/loading.py is the entry point).

    policy = load_policy("weights/pi0_base")                                # a policy
    policy, report = load_policy("weights/pi0_base", return_report=True)    # and a LoadReport (also logged)
    policy = load_policy("weights/Qwen3-1.7B", base_preset="pi0-qwen3")     # VLM only: the rest random, sized so
    checkpoint = read_checkpoint(directory, parameter_shapes)               # validate / inspect, build nothing

Layouts, detected from the key names (never asked), first match wins:
1. pi0 / pi0.5 trees (lerobot_layout.py): a key starts with `model.paligemma_with_expert.` (lerobot) or
   `paligemma_with_expert.` (openpi's PyTorch conversion, older lerobot); current or older transformers PaliGemma
   names and either SigLIP naming (`vision_tower.vision_model.*` or the flattened `vision_tower.*`).
2. Prismatic VLMs (prismatic_layout.py): a key starts with `vision_backbone.` or `llm_backbone.` (or `projector.`
   together with `language_model.model.`). SigLIP featurizer, linear projector and the LLM load; MLP projectors and
   fused DINOv2 + SigLIP backbones are refused (see that module for exactly what maps).
3. Hugging Face decoders (decoder_layout.py): a key starts with `model.layers.` (Qwen2.5, Qwen3, Llama, Mistral,
   Gemma ...ForCausalLM), loaded as the VLM.
Layouts 2 and 3 lack the action expert and suffix (2 may lack the vision tower too): those get deterministic random
weights from `seed`, sized by `base_preset` (architecture.py), and a warning names them.

Files (files.py): `model.safetensors` or shards listed by `model.safetensors.index.json`, plus `config.json`
(optional; unknown keys ignored; where it states a size the tensors also give and they disagree, the tensors win, with
a warning). Pickles (`*.bin`, `*.pt`, `*.pth`, `*.ckpt`) are never unpickled: the error says how to convert them.

Validation (validation.py) happens before any weight is allocated and reports every problem in one CheckpointError
(a ValueError), each line naming the tensor or file: missing, unexpected and misshapen tensors, dtypes other than
float32 / bfloat16 / float16, NaN or infinite values in any tensor, and file-level damage (not safetensors, truncated,
bad header length or JSON, offsets out of range, overlapping or leaving gaps, a shard the index names but lacks).

Memory (safetensors_io.py): each file is parsed by our own validating reader and memory-mapped; parameters are
`torch.frombuffer` views assigned into a meta-device module (`load_state_dict(assign=True)`), so a tensor stored in
the requested dtype is never copied; the others are converted one at a time.
"""

from .errors import CheckpointError
from .lerobot_layout import EXPERT_LM_HEAD, VLM_LM_HEAD
from .reader import Checkpoint, read_checkpoint
from .report import ComponentReport, LoadReport, preset_report
from .safetensors_io import open_safetensors, save_tensors, write_safetensors
from .writer import checkpoint_key, lerobot_dtype, write_checkpoint, write_safetensors_dir

__all__ = ["Checkpoint", "CheckpointError", "ComponentReport", "EXPERT_LM_HEAD", "LoadReport", "VLM_LM_HEAD",
           "checkpoint_key", "lerobot_dtype", "open_safetensors", "preset_report", "read_checkpoint", "save_tensors",
           "write_checkpoint", "write_safetensors", "write_safetensors_dir"]
