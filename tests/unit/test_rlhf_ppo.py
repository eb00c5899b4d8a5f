"""The pieces of PPO for language models, against hand-computed values."""

import math

import pytest
import torch

from rung.rlhf.ppo import AdaptiveKL, kl_estimates, response_layout, whiten

PAD, EOS = 0, 2


def test_kl_estimators_k1_and_k3():
    logp, logp_ref = torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -1.0])
    k1, k3 = kl_estimates(logp, logp_ref)
    torch.testing.assert_close(k1, torch.tensor([0.5, -1.0]))            # log π − log π_ref
    r = torch.tensor([math.exp(-0.5), math.exp(1.0)])                    # π_ref / π
    torch.testing.assert_close(k3, r - 1 - r.log())
    assert (k3 >= 0).all()
    # on average over samples of π both estimate KL(π‖π_ref)
    p, q = torch.tensor([0.7, 0.3]), torch.tensor([0.4, 0.6])
    exact = float((p * (p / q).log()).sum())
    k1, k3 = kl_estimates(p.log(), q.log())
    assert float((p * k1).sum()) == pytest.approx(exact) and float((p * k3).sum()) == pytest.approx(exact)


def test_adaptive_kl_controller_moves_beta_towards_the_target():
    controller = AdaptiveKL(beta=0.1, target=2.0, horizon=1000)
    # KL twice the target: error clipped to +0.2, β ← 0.1 · (1 + 0.2 · 100/1000)
    assert controller.update(4.0, 100) == pytest.approx(0.1 * 1.02)
    beta = controller.beta
    # KL at 1.5 (error −0.25 → −0.2): β shrinks
    assert controller.update(1.5, 100) == pytest.approx(beta * (1 - 0.02))
    controller.update(2.0, 100)
    assert controller.beta == pytest.approx(beta * 0.98)                   # on target: unchanged


def test_response_layout_marks_response_tokens_and_places_the_score_at_eos_or_the_cut():
    # <bos> the movie | was good <eos> <pad>      and      <bos> the movie | was good very (cut by length)
    ids = torch.tensor([[1, 4, 5, 6, 7, EOS, PAD], [1, 4, 5, 6, 7, 8, 9]])
    response, last = response_layout(ids, prompt_len=3, pad_id=PAD)
    # shifted frame: position t predicts token t+1, so response tokens 3..5 are positions 2..4
    assert response.tolist() == [[False, False, True, True, True, False], [False, False, True, True, True, True]]
    assert last.tolist() == [[False, False, False, False, True, False], [False, False, False, False, False, True]]


def test_whitening_uses_only_masked_entries():
    values = torch.tensor([[1.0, 2.0, 100.0], [3.0, 4.0, -50.0]])
    mask = torch.tensor([[True, True, False], [True, True, False]])
    out = whiten(values, mask)
    selected = torch.tensor([1.0, 2.0, 3.0, 4.0])
    torch.testing.assert_close(out[mask], (selected - selected.mean()) / selected.std(), rtol=1e-5, atol=1e-6)
    assert (out[~mask] == 0).all()


def test_group_advantages_rloo_leave_one_out_and_grpo_standardised():
    from rung.rlhf.critic_free import group_advantages

    rewards = torch.tensor([[1.0, 2.0, 6.0], [0.0, 0.0, 3.0]])
    # RLOO: R_i − mean of the other two
    torch.testing.assert_close(group_advantages(rewards, "rloo"),
                               torch.tensor([[1 - 4.0, 2 - 3.5, 6 - 1.5], [0 - 1.5, 0 - 1.5, 3 - 0.0]]))
    grpo = group_advantages(rewards, "grpo")
    torch.testing.assert_close(grpo[0], (rewards[0] - 3.0) / rewards[0].std(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grpo.mean(1), torch.zeros(2), atol=1e-6, rtol=0)


def test_best_of_n_kl_closed_form_and_choice():
    from rung.rlhf.critic_free import best_of_n, best_of_n_kl
    from rung.rlhf.model import GPT, GPTConfig
    from rung.rlhf.tokenizer import WordTokenizer

    assert best_of_n_kl(1) == 0.0
    assert best_of_n_kl(2) == pytest.approx(math.log(2) - 0.5)
    assert best_of_n_kl(64) == pytest.approx(math.log(64) - 63 / 64)
    tok = WordTokenizer()
    torch.manual_seed(0)
    policy = GPT(GPTConfig(vocab_size=len(tok)))
    count_good = lambda texts: torch.tensor([float(t.split().count("good")) for t in texts])  # noqa: E731
    prompt_ids = torch.tensor([tok.encode("the movie", eos=False)] * 3)
    chosen = best_of_n(policy, count_good, tok, prompt_ids, 16, generator=torch.Generator().manual_seed(0))
    again = torch.Generator().manual_seed(0)
    from rung.rlhf.pretrain import generate

    all_ids = generate(policy, tok, prompt_ids.repeat_interleave(16, 0), 16, generator=again)
    texts = tok.decode_batch(all_ids)
    for i, text in enumerate(chosen):
        assert count_good([text])[0] == max(count_good(texts[i * 16:(i + 1) * 16]))


def tiny_run(method: str, **settings):
    """Two updates of `method` (ppo, grpo, rloo or dpo) on a fresh tiny GPT: (its parameters, history)."""
    from rung.rlhf import critic_free, dpo, ppo
    from rung.rlhf.model import GPT, GPTConfig
    from rung.rlhf.tokenizer import WordTokenizer

    tok = WordTokenizer()
    torch.manual_seed(0)
    policy = GPT(GPTConfig(vocab_size=len(tok)))

    def count_good(texts):
        return torch.tensor([float(t.split().count("good")) for t in texts])
    if method == "ppo":
        config = ppo.LMPPOConfig(updates=2, batch_size=16, minibatch_size=8, max_new_tokens=8, **settings)
        trained, history = ppo.train(policy, count_good, tok, config)
    elif method == "dpo":
        pairs = [("the movie was good .", "the movie was bad ."), ("the food was great .", "the food was awful .")] * 8
        trained, history = dpo.train(policy, tok, pairs, dpo.DPOConfig(epochs=1, batch_size=8, **settings))
    else:
        config = critic_free.GroupConfig(method=method, updates=2, prompts_per_update=4, group_size=4,
                                         max_new_tokens=8, **settings)
        trained, history = critic_free.train(policy, count_good, tok, config)
    return torch.cat([p.detach().reshape(-1) for p in trained.parameters()]), history


@pytest.mark.parametrize("method", ["ppo", "grpo", "rloo", "dpo"])
def test_micro_batches_accumulate_to_the_minibatch_gradient(method):
    """Gradients accumulated over micro-batches of 3, 3 and 2 (responses, or preference pairs for DPO;
    their means weighted by their shares of the tokens or items) train the policy as whole minibatches
    do, up to float rounding."""
    whole, _ = tiny_run(method)
    micro, _ = tiny_run(method, micro_batch_size=3)
    assert not torch.equal(whole, micro)   # a different summation order, so not bit for bit …
    torch.testing.assert_close(micro, whole, rtol=1e-4, atol=1e-5)   # … but the same steps


@pytest.mark.parametrize("method", ["ppo", "grpo", "rloo", "dpo"])
def test_bf16_autocast_trains_with_float32_losses(method):
    params, history = tiny_run(method, bf16=True)
    whole, _ = tiny_run(method)
    assert torch.isfinite(params).all() and all(math.isfinite(row.get("objective/kl", row.get("loss")))
                                                for row in history)
    assert not torch.equal(params, whole)   # the forwards really ran in bfloat16
    assert (params - whole).abs().max() < 0.05
