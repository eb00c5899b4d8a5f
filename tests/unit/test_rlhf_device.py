"""RLHF on the configured device: with torch's default device set to "meta", any tensor the code makes
without naming a device lands on meta, and the first operation that mixes it with the CPU models fails
(or copying out of it does). So these pass only if every tensor is made on the model's device, as it
must be for `--device cuda`."""

import pytest
import torch

from rung.devices import resolve
from rung.errors import RungError
from rung.rlhf import critic_free, dpo, ppo
from rung.rlhf.data import corpus
from rung.rlhf.model import GPT, GPTConfig
from rung.rlhf.pretrain import pretrain, sample
from rung.rlhf.reward import model_reward, train_reward_model
from rung.rlhf.tokenizer import WordTokenizer

TOK = WordTokenizer()
PAIRS = [("the movie was good .", "the movie was bad ."), ("the food was great .", "the food was awful .")] * 4


@pytest.fixture
def meta_default_device():
    torch.set_default_device("meta")
    yield
    torch.set_default_device(None)


def test_no_rlhf_stage_makes_a_tensor_off_the_models_device(meta_default_device):
    torch.manual_seed(0)
    with torch.device("cpu"):
        policy = GPT(GPTConfig(vocab_size=len(TOK)))
    assert next(policy.parameters()).device.type == "cpu" and torch.empty(1).device.type == "meta"
    policy, _ = pretrain(corpus(100), TOK, steps=2, batch_size=4, model=policy)
    sample(policy, TOK, 2, prompt="the movie", max_new_tokens=4, generator=torch.Generator().manual_seed(0))
    reward_model, _ = train_reward_model(policy, TOK, PAIRS, epochs=1, batch_size=4)
    reward = model_reward(reward_model, TOK)
    ppo.train(policy, reward, TOK, ppo.LMPPOConfig(updates=2, batch_size=4, minibatch_size=2, max_new_tokens=4),
              value_model=reward_model)
    for method in ("grpo", "rloo"):
        critic_free.train(policy, reward, TOK, critic_free.GroupConfig(method=method, updates=2, prompts_per_update=2,
                                                                         group_size=2, max_new_tokens=4))
    trained, _ = dpo.train(policy, TOK, PAIRS, dpo.DPOConfig(epochs=1, batch_size=4))
    assert 0 <= dpo.implicit_accuracy(trained, policy, TOK, PAIRS, 0.1) <= 1
    ppo.evaluate_policy(trained, policy, reward, TOK, n=4, max_new_tokens=4)


def test_devices_are_checked_before_anything_runs():
    assert resolve("cpu") == torch.device("cpu") and resolve("auto", prefers_gpu=False) == torch.device("cpu")
    for bad in ("tpu", "gpu", "cuda:x"):
        with pytest.raises(RungError, match="unknown device"):
            resolve(bad)
    if not torch.cuda.is_available():
        assert resolve("auto") == torch.device("cpu")
        with pytest.raises(RungError, match="torch sees no CUDA device"):
            resolve("cuda:0")
