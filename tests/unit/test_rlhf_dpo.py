"""DPO's pieces: the loss is Bradley–Terry on β·log π/π_ref, sequence log-probabilities ignore padding,
and a few steps move a tiny GPT's preference the labelled way."""

import math

import torch

from rung.rlhf import dpo
from rung.rlhf.model import GPT, GPTConfig
from rung.rlhf.tokenizer import WordTokenizer

TOK = WordTokenizer()


def test_the_loss_is_bradley_terry_on_the_implicit_rewards():
    loss, stats = dpo.dpo_loss(torch.tensor([-3.0]), torch.tensor([-6.0]), torch.tensor([-4.0]),
                               torch.tensor([-5.0]), beta=0.5)
    # r_w = 0.5·(−3 + 4) = 0.5, r_l = 0.5·(−6 + 5) = −0.5: −log σ(1)
    assert math.isclose(float(loss), math.log(1 + math.exp(-1)), rel_tol=1e-6)
    assert stats["rewards/margins"] == 1.0 and stats["rewards/accuracies"] == 1.0


def test_sequence_log_probability_is_the_sum_over_its_tokens_whatever_the_padding():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(TOK)))
    text = "the movie was good ."
    ids = torch.tensor([TOK.encode(text)])
    by_hand = model(ids)[0, :-1].log_softmax(-1).gather(1, ids[0, 1:, None]).sum()
    together = dpo.sequence_logprobs(model, TOK, [text, "the food was not very good but the room was fine ."])
    torch.testing.assert_close(together[0], by_hand, rtol=1e-5, atol=1e-5)


def test_a_few_steps_move_the_preference_the_labelled_way():
    torch.manual_seed(0)
    reference = GPT(GPTConfig(vocab_size=len(TOK)))
    pairs = [("the movie was good .", "the movie was bad ."), ("the food was great .", "the food was awful .")] * 32
    before = {k: v.clone() for k, v in reference.state_dict().items()}
    policy, history = dpo.train(reference, TOK, pairs, dpo.DPOConfig(epochs=3, batch_size=16, lr=1e-3))
    assert history[-1]["loss"] < history[0]["loss"] and history[-1]["rewards/accuracies"] == 1.0
    assert dpo.implicit_accuracy(policy, reference, TOK, pairs[:2], beta=0.1) == 1.0
    assert all(torch.equal(before[k], v) for k, v in reference.state_dict().items())   # DPO trains a copy
