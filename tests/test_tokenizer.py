"""Prompt formats and tokenisation, against lerobot 0.6.1's own pi0 / pi0.5 processor pipelines.

lerobot's pipelines load `google/paligemma-3b-pt-224` by name; offline we hand them (by patching
`AutoTokenizer.from_pretrained`) a transformers GemmaTokenizer built from the same small SentencePiece model that
our SentencePieceTokenizer reads, so both sides tokenise with one vocabulary.
"""

from __future__ import annotations

import random
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import sentencepiece
import torch

from models.tokenizer import (ByteTokenizer, QwenTokenizer, SentencePieceTokenizer, discretize_state,
                              load_tokenizer, pi05_prompt, pi0_prompt, tokenize_prompts)

WORDS = ("pick up the red blue green cube block place it in box bowl open close drawer move arm left right "
         "task state action fold towel").split()
SP_VOCAB = 400  # 256 byte-fallback pieces + specials + merges
BOS, PAD = 2, 0
PROMPTS = ["pick up the red cube", "", "open the drawer\n", "  place_it in the bowl  ", "move arm\nleft",
           "fold the towel, then émigré 東京 7"]


def train_sentencepiece(directory: Path) -> Path:
    """A tiny Gemma-like SentencePiece BPE model (no dummy prefix, byte fallback, identity normaliser)."""
    rng = random.Random(0)
    sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 10))) for _ in range(300)]
    sentences += ["Task: pick up, State: 0 12 127 128 255;\nAction: "] * 5
    path = directory / "tokenizer.model"
    with open(path, "wb") as f:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=f, vocab_size=SP_VOCAB, model_type="bpe",
            pad_id=PAD, eos_id=1, bos_id=BOS, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>",
            unk_piece="<unk>", byte_fallback=True, add_dummy_prefix=False, remove_extra_whitespaces=False,
            normalization_rule_name="identity", user_defined_symbols=["\n"], split_digits=True,
            character_coverage=1.0, minloglevel=2)
    return path


def hf_gemma_tokenizer(model_path: Path):
    """transformers' GemmaTokenizer over the same vocabulary (merges derived as transformers' converter does)."""
    from transformers import GemmaTokenizer
    from transformers.tokenization_utils_base import generate_merges

    processor = sentencepiece.SentencePieceProcessor(model_file=str(model_path))
    vocab = {processor.id_to_piece(i): i for i in range(processor.get_piece_size())}
    return GemmaTokenizer(vocab=vocab, merges=generate_merges(vocab, None), add_bos_token=True)


def lerobot_preprocessor(kind: str, hf_tokenizer, stats: dict, state_dim: int, action_dim: int):
    """lerobot's own make_pi0/pi05_pre_post_processors, offline."""
    import lerobot.processor.tokenizer_processor as tokenizer_processor
    from lerobot.configs import FeatureType, PolicyFeature

    if kind == "pi0":
        from lerobot.policies.pi0.configuration_pi0 import PI0Config as Config
        from lerobot.policies.pi0.processor_pi0 import make_pi0_pre_post_processors as make
    else:
        from lerobot.policies.pi05.configuration_pi05 import PI05Config as Config
        from lerobot.policies.pi05.processor_pi05 import make_pi05_pre_post_processors as make
    config = Config(device="cpu",
                    input_features={
                        "observation.images.base_0_rgb": PolicyFeature(FeatureType.VISUAL, (3, 224, 224)),
                        "observation.state": PolicyFeature(FeatureType.STATE, (state_dim,))},
                    output_features={"action": PolicyFeature(FeatureType.ACTION, (action_dim,))})
    with mock.patch.object(tokenizer_processor.AutoTokenizer, "from_pretrained", return_value=hf_tokenizer):
        return make(config, stats)


def random_stats(state_dim: int, action_dim: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)

    def feature(dim):
        return {"mean": torch.randn(dim, generator=g), "std": torch.rand(dim, generator=g) + 0.5,
                "q01": -torch.rand(dim, generator=g) - 0.2, "q99": torch.rand(dim, generator=g) + 0.2}
    return {"observation.state": feature(state_dim), "action": feature(action_dim)}


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory) -> Path:
    return train_sentencepiece(tmp_path_factory.mktemp("spm"))


@pytest.fixture(scope="module")
def hf_tokenizer(sp_model):
    return hf_gemma_tokenizer(sp_model)


def test_sentencepiece_adds_bos_and_pads_with_pad_id(sp_model):
    tokenizer = SentencePieceTokenizer(sp_model)
    assert tokenizer.pad_id == PAD and tokenizer.encode("pick up")[0] == BOS
    tokens, masks = tokenize_prompts(tokenizer, ["pick up\n", ""], max_len=12, vocab_size=SP_VOCAB)
    assert tokens.dtype == torch.int64 and masks.dtype == torch.bool and tokens.shape == (2, 12)
    n = len(tokenizer.encode("pick up\n"))
    assert masks[0].tolist() == [True] * n + [False] * (12 - n)
    assert masks[1].tolist() == [True] + [False] * 11  # the empty string is BOS only
    assert (tokens[~masks] == PAD).all()


def test_hf_gemma_tokenizer_agrees_with_sentencepiece(sp_model, hf_tokenizer):
    """The precondition of the lerobot comparisons below: both libraries tokenise alike."""
    tokenizer = SentencePieceTokenizer(sp_model)
    texts = [pi0_prompt(p) for p in PROMPTS] + [pi05_prompt(p, [0, 5, 255, 128]) for p in PROMPTS]
    for text in texts:
        assert tokenizer.encode(text) == hf_tokenizer(text)["input_ids"], repr(text)


@pytest.mark.parametrize("kind, max_len", [("pi0", 48), ("pi05", 200)])
def test_tokens_match_lerobot_pipeline(kind, max_len, sp_model, hf_tokenizer):
    state_dim = 7
    stats = random_stats(state_dim, 6)
    preprocessor, _ = lerobot_preprocessor(kind, hf_tokenizer, stats, state_dim, 6)
    # Normalised by lerobot's MEAN_STD / QUANTILES step before discretising; include out-of-range values.
    state = torch.randn(len(PROMPTS), state_dim) * 2.0
    batch = {"observation.images.base_0_rgb": torch.rand(len(PROMPTS), 3, 224, 224), "observation.state": state,
             "task": list(PROMPTS)}
    out = preprocessor(batch)
    if kind == "pi0":
        prompts = [pi0_prompt(p) for p in PROMPTS]
    else:
        bins = discretize_state(out["observation.state"])
        prompts = [pi05_prompt(p, row.tolist()) for p, row in zip(PROMPTS, bins)]
    tokens, masks = tokenize_prompts(SentencePieceTokenizer(sp_model), prompts, max_len, SP_VOCAB)
    assert torch.equal(tokens, out["observation.language.tokens"])
    assert torch.equal(masks, out["observation.language.attention_mask"])


def test_pi05_prompt_string_matches_lerobot_step():
    from lerobot.lerobot_types import TransitionKey
    from lerobot.policies.pi05.processor_pi05 import Pi05PrepareStateTokenizerProcessorStep

    state = torch.tensor([[-1.5, -1.0, -0.99, 0.0, 0.5, 0.999, 1.0, 3.0]])
    tasks = ["  fold_the towel\nnow "]
    transition = {TransitionKey.OBSERVATION: {"observation.state": state},
                  TransitionKey.COMPLEMENTARY_DATA: {"task": tasks}}
    expected = Pi05PrepareStateTokenizerProcessorStep()(transition)[TransitionKey.COMPLEMENTARY_DATA]["task"]
    ours = [pi05_prompt(tasks[0], discretize_state(state)[0].tolist())]
    assert ours == expected
    assert ours[0] == "Task: fold the towel now, State: -1 0 1 128 192 255 255 255;\nAction: "


def test_pi0_prompt_appends_one_newline():
    assert pi0_prompt("pick_up ") == "pick_up \n"  # lerobot's pi0 processor does no other cleaning
    assert pi0_prompt("done\n") == "done\n"
    assert pi0_prompt("") == "\n"


def test_discretize_state_matches_numpy_digitize():
    edges = np.linspace(-1, 1, 257)[:-1]
    state = torch.cat([torch.rand(4, 64) * 2.4 - 1.2, torch.from_numpy(edges).float()[None, :64]])
    expected = np.digitize(state.numpy(), bins=edges) - 1
    assert np.array_equal(discretize_state(state).numpy(), expected)


def test_too_long_prompt_is_an_error_unless_truncated(sp_model, warnings):
    tokenizer = SentencePieceTokenizer(sp_model)
    text = " ".join(WORDS)
    n = len(tokenizer.encode(text))
    with pytest.raises(ValueError, match=rf"has {n} tokens, more than the limit of 10"):
        tokenize_prompts(tokenizer, [text], max_len=10, vocab_size=SP_VOCAB)
    tokens, masks = tokenize_prompts(tokenizer, [text], max_len=10, vocab_size=SP_VOCAB, truncate=True)
    assert tokens[0].tolist() == tokenizer.encode(text)[:10] and masks.all()
    assert any("truncated" in m for m in warnings)


def test_ids_beyond_the_vocabulary_are_an_error(sp_model):
    with pytest.raises(ValueError, match=r"outside the model's vocabulary \[0, 100\)"):
        tokenize_prompts(SentencePieceTokenizer(sp_model), ["émigré 東京"], max_len=48, vocab_size=100)


@pytest.fixture(scope="module")
def qwen_json(tmp_path_factory) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<|im_start|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    rng = random.Random(1)
    tokenizer.train_from_iterator([" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(200)], trainer)
    path = tmp_path_factory.mktemp("qwen") / "tokenizer.json"
    tokenizer.save(str(path))
    return path


def test_qwen_tokenizer_json_loads_and_tokenises(qwen_json):
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(qwen_json))
    tokenizer = load_tokenizer(qwen_json.parent, vocab_size=1024)
    assert isinstance(tokenizer, QwenTokenizer)
    assert tokenizer.pad_id == reference.token_to_id("<|endoftext|>")
    text = pi0_prompt("pick up the red cube")
    assert tokenizer.encode(text) == reference.encode(text).ids
    tokens, masks = tokenize_prompts(tokenizer, [text], max_len=48, vocab_size=1024)
    n = len(reference.encode(text).ids)
    assert tokens[0, :n].tolist() == reference.encode(text).ids and int(masks.sum()) == n
    assert (tokens[0, n:] == tokenizer.pad_id).all()


def test_load_tokenizer_picks_by_file(sp_model, tmp_path):
    assert isinstance(load_tokenizer(sp_model, 1024), SentencePieceTokenizer)
    assert isinstance(load_tokenizer(sp_model.parent, 1024), SentencePieceTokenizer)
    with pytest.raises(ValueError, match="does not exist"):
        load_tokenizer(tmp_path / "missing.model", 1024)
    with pytest.raises(ValueError, match="neither tokenizer.model nor tokenizer.json"):
        load_tokenizer(tmp_path, 1024)
    (tmp_path / "vocab.txt").write_text("x")
    with pytest.raises(ValueError, match="unknown tokenizer file"):
        load_tokenizer(tmp_path / "vocab.txt", 1024)


def test_byte_fallback_warns_and_is_deterministic(warnings):
    tokenizer = load_tokenizer(None, vocab_size=1024)
    assert isinstance(tokenizer, ByteTokenizer)
    assert any("NOT the PaliGemma" in m for m in warnings)
    offset = ByteTokenizer.BYTE_OFFSET
    assert tokenizer.encode("A\n") == [ByteTokenizer.BOS, offset + 65, offset + 10]
    tokens, _ = tokenize_prompts(tokenizer, ["é"], max_len=4, vocab_size=1024)
    assert tokens[0].tolist() == [2, 3 + 0xC3, 3 + 0xA9, 0]
    with pytest.raises(ValueError, match="at least 259 ids, the model has 100"):
        ByteTokenizer(100)
