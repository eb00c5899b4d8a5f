"""A Hugging Face AutoModelForCausalLM as the RLHF policy: a tiny randomly initialised GPT-2 built
from a local config, with a BPE tokenizer trained here on the review corpus (GPT-2's layout: one
<|endoftext|> for bos and eos, no pad token). Nothing is downloaded."""

import copy
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


def letters_e(texts):
    """A dense reward for a model that babbles: the number of letters "e" in the text."""
    return torch.tensor([float(t.count("e")) for t in texts])


def mean_reward(model, reference, tok):
    prompt_ids = ppo.review_prompts(tok)(random.Random(5), 128)
    texts, _ = ppo.sample_with_kl(model, reference, tok, prompt_ids, 12, torch.Generator().manual_seed(5))
    return float(letters_e(texts).mean())


def test_grpo_on_a_hugging_face_policy_raises_its_reward():
    """GRPO through the HF model's own gradients (untrained, so the dense letters_e reward)."""
    policy, tok = hf.wrap(*tiny_gpt2())

    config = critic_free.GroupConfig(updates=30, prompts_per_update=8, group_size=8, lr=3e-3, max_new_tokens=12, seed=0)
    trained, _ = critic_free.train(policy, letters_e, tok, config)
    before, after = mean_reward(policy, policy, tok), mean_reward(trained, policy, tok)
    assert after > 1.5 * before, (before, after)


def unique_bytes(*modules) -> int:
    """Bytes of the distinct storages behind the modules' parameters: shared weights count once."""
    storages = {}
    for module in modules:
        for p in module.parameters():
            storages[p.untyped_storage().data_ptr()] = p.untyped_storage().nbytes()
    return sum(storages.values())


def test_lora_ppo_raises_the_reward_with_one_copy_of_the_base_weights(tmp_path):
    """PPO on LoRA adapters of a briefly fine-tuned tiny GPT-2 (LoRA cannot sharpen the near-uniform
    logits of a random one: its embeddings and LayerNorms stay frozen). π_ref is the same weights with
    the adapters off, V a scalar head on the same trunk through adapters of its own: policy, π_ref and V
    hold one copy of the base weights (a full-copy setup holds three). The saved adapters load back
    into the base with peft and give the trained policy's logits."""
    peft = pytest.importorskip("peft")
    from rung.rlhf.model import policy_and_reference, value_model_for
    from rung.rlhf.pretrain import pretrain

    policy, tok = hf.wrap(*tiny_gpt2())
    policy, _ = pretrain(corpus(2000, seed=0), tok, steps=300, lr=3e-3, model=policy)
    base_bytes = unique_bytes(policy)
    full = policy_and_reference(policy)
    assert unique_bytes(*full, value_model_for(*full)) > 2.9 * base_bytes   # the check can fail
    base = {name: p.detach().clone() for name, p in policy.model.named_parameters()}
    sft = copy.deepcopy(policy)
    lora = hf.with_lora(policy, r=8)
    parts = policy_and_reference(lora)
    value_model = value_model_for(*parts)
    adapters = sum(p.numel() * p.element_size() for name, p in lora.model.named_parameters() if "lora_" in name)
    head = sum(p.numel() * p.element_size() for p in value_model.scalar.parameters())
    assert unique_bytes(*parts, value_model) == base_bytes + adapters + head   # rank 8 on a 32-wide model: +44 %
    lora.model.delete_adapter("value")   # ppo.train adds V's adapter again

    before = mean_reward(lora, lora.without_adapters(), tok)
    config = ppo.LMPPOConfig(updates=12, batch_size=32, minibatch_size=16, lr=1e-2, value_lr=1e-2, max_new_tokens=12)
    trained, history = ppo.train(lora, letters_e, tok, config)
    assert mean_reward(trained, trained.without_adapters(), tok) > 1.5 * before
    assert history[-1]["objective/kl"] > 0.1   # the adapters moved the policy away from π_ref
    for name, p in trained.model.base_model.model.named_parameters():   # the base weights never moved
        if "lora_" not in name:
            assert torch.equal(p, base[name.replace(".base_layer", "")]), name

    trained.save(tmp_path / "lora")
    reloaded = peft.PeftModel.from_pretrained(sft.model, tmp_path / "lora")
    ids = torch.tensor([tok.encode("the movie was good .")])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, trained(ids), rtol=1e-5, atol=1e-5)


def test_the_pipeline_stages_on_a_hugging_face_model_through_the_cli(cli, cli_mistake, tmp_path):
    """pretrain (fine-tuning the saved model) → reward model → PPO; the trained policy is an ordinary
    Hugging Face model directory."""
    raw, tokenizer = tiny_gpt2()
    raw.save_pretrained(tmp_path / "gpt2")
    tokenizer.save_pretrained(tmp_path / "gpt2")
    stages = [("pretrain", "--model", tmp_path / "gpt2", "--steps", "300", "--lr", "3e-3"),
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
    # LoRA PPO from the same policy: adapters and the merged policy, which the next stage loads
    proc = cli("rlhf", "ppo", "--policy", tmp_path / "sft", "--reward-model", tmp_path / "rm", "--lora", "r=4",
               "--set", "updates=2", "batch_size=16", "minibatch_size=8", "--run-dir", tmp_path / "lora", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "lora/adapter_config.json").is_file() and (tmp_path / "lora/merged/config.json").is_file()
    merged, _ = hf.load(tmp_path / "lora")
    assert not any("lora_" in name for name, _ in merged.named_parameters())
    proc = cli_mistake("rlhf", "grpo", "--policy", tmp_path / "lora", "--reward-model", tmp_path / "rm",
                       "--lora", "rank=4", "--run-dir", tmp_path / "bad", cwd=tmp_path)
    assert proc.returncode == 2 and "--lora takes r=RANK" in proc.stderr
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "ppo", local_files_only=True)
    assert isinstance(reloaded, transformers.GPT2LMHeadModel)
    policy, tok = hf.load(tmp_path / "ppo")
    reward_model, _ = hf.load(tmp_path / "rm")
    assert isinstance(reward_model, hf.HFScalarModel)
    ids = torch.tensor([tok.encode("the movie was good .")])
    assert reward_model(ids).shape == ids.shape and policy(ids).shape == (*ids.shape, len(tok))
