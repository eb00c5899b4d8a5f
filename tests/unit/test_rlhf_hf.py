"""A Hugging Face AutoModelForCausalLM as the RLHF policy: a tiny randomly initialised GPT-2 built
from a local config, with a BPE tokenizer trained here on the review corpus (GPT-2's layout: one
<|endoftext|> for bos and eos, no pad token). Nothing is downloaded."""

import json
import random

import pytest
import torch

transformers = pytest.importorskip("transformers")

from rung.rlhf import critic_free, hf, ppo  # noqa: E402
from rung.rlhf.data import corpus  # noqa: E402
from rung.rlhf.pretrain import left_pad  # noqa: E402
from tests.unit.test_rlhf_model import check_cached_generation  # noqa: E402

END = "<|endoftext|>"


def tiny_gpt2(seed: int = 0):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(corpus(2000, seed=0), trainers.BpeTrainer(vocab_size=300, special_tokens=[END],
                                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    from tokenizers import decoders

    bpe.decoder = decoders.ByteLevel()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=END, eos_token=END)
    torch.manual_seed(seed)
    config = transformers.GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    return transformers.GPT2LMHeadModel(config), tokenizer


def test_wrapping_adds_a_pad_token_and_left_padding_changes_no_log_prob():
    raw, tokenizer = tiny_gpt2()
    policy, tok = hf.wrap(raw, tokenizer)
    assert tok.pad_id not in (tok.eos_id, None) and raw.get_input_embeddings().num_embeddings == len(tok)
    assert tok.decode(tok.encode("the movie was good .")) == "the movie was good ."
    short, long = tok.encode("the movie was good ."), tok.encode("the extremely wonderful service felt delightful .")
    assert len(short) != len(long)
    ids = left_pad([short, long], tok.pad_id)
    logp, _ = ppo.token_logprobs(policy, ids, ids != tok.pad_id)
    for row, sequence in enumerate((short, long)):
        alone = torch.tensor([sequence])
        expected = raw(alone).logits[0, :-1].log_softmax(-1).gather(1, alone[0, 1:, None]).squeeze(1)
        torch.testing.assert_close(logp[row, -len(sequence) + 1:], expected, atol=1e-5, rtol=1e-4)
    # dropout is off: two forwards agree (PPO's first ratio must be exactly 1)
    torch.testing.assert_close(ppo.token_logprobs(policy, ids, ids != tok.pad_id)[0], logp)


def test_generation_with_the_models_own_cache_is_generation_without_it():
    policy, tok = hf.wrap(*tiny_gpt2())
    check_cached_generation(policy, tok, ["the movie", "", "the food was not very good"], 24)


def test_grpo_on_a_hugging_face_policy_raises_its_reward():
    """GRPO through the HF model's own gradients. The untrained model babbles, so the reward is dense:
    the number of letters "e" in the text."""
    policy, tok = hf.wrap(*tiny_gpt2())

    def letters_e(texts):
        return torch.tensor([float(t.count("e")) for t in texts])

    def mean_reward(model):
        prompt_ids = ppo.review_prompts(tok)(random.Random(5), 128)
        texts, _ = ppo.sample_with_kl(model, policy, tok, prompt_ids, 12, torch.Generator().manual_seed(5))
        return float(letters_e(texts).mean())

    config = critic_free.GroupConfig(updates=30, prompts_per_update=8, group_size=8, lr=3e-3, max_new_tokens=12, seed=0)
    trained, _ = critic_free.train(policy, letters_e, tok, config)
    before, after = mean_reward(policy), mean_reward(trained)
    assert after > 1.5 * before, (before, after)


def test_the_pipeline_stages_on_a_hugging_face_model_through_the_cli(cli, tmp_path):
    """pretrain (fine-tuning the saved model) → reward model → PPO; the trained policy is an ordinary
    Hugging Face model directory."""
    raw, tokenizer = tiny_gpt2()
    raw.save_pretrained(tmp_path / "gpt2")
    tokenizer.save_pretrained(tmp_path / "gpt2")
    stages = [("pretrain", "--model", tmp_path / "gpt2", "--steps", "500", "--lr", "3e-3"),
              ("reward", "--policy", tmp_path / "sft", "--pairs", "256"),
              ("ppo", "--policy", tmp_path / "sft", "--reward-model", tmp_path / "rm",
               "--set", "updates=3", "batch_size=16", "minibatch_size=8")]
    for (name, *args), out in zip(stages, ("sft", "rm", "ppo")):
        proc = cli("rlhf", name, *args, "--run-dir", tmp_path / out, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "ppo/summary.json").read_text())
    assert {"gold_before", "gold_after", "proxy_before", "proxy_after", "kl"} <= summary.keys()
    assert (tmp_path / "ppo/metrics.csv").read_text().count("\n") == 4
    assert list((tmp_path / "ppo/tb").iterdir())
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "ppo", local_files_only=True)
    assert isinstance(reloaded, transformers.GPT2LMHeadModel)
    policy, tok = hf.load(tmp_path / "ppo")
    reward_model, _ = hf.load(tmp_path / "rm")
    assert isinstance(reward_model, hf.HFScalarModel)
    ids = torch.tensor([tok.encode("the movie was good .")])
    assert reward_model(ids).shape == ids.shape and policy(ids).shape == (*ids.shape, len(tok))
