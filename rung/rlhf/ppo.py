"""PPO on a language model (Ziegler et al. 2019; Ouyang et al. 2022), the seed's main use of PPO.

Each response token is an action. Per-token reward, with the reward model's score added at the
sequence's last token:

    r_t = −β · KL_t  (+ RM(prompt, response) at the last token),   KL_t = log π(y_t|·) − log π_ref(y_t|·)  (k1)

Advantages by token-level GAE (rung.returns.gae, the same function as for control: <eos> is the
terminal step), whitened over the response tokens; then rung.algos.ppo's clipped surrogate and
clipped value loss, unchanged. A separate value model (a scalar-head copy of the reward
model) gives V. β is fixed, or follows the adaptive controller (AdaptiveKL). Metrics use TRL's names.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from rung.algos.ppo import clipped_surrogate_loss, value_loss
from rung.devices import device_of
from rung.nets import FlatParameters
from rung.optim import Adam
from rung.returns import gae
from rung.rlhf.data import NOUNS
from rung.rlhf.gold import gold_scores
from rung.rlhf.model import CausalLM, policy_and_reference, seeded_generator, trainable, value_model_for
from rung.rlhf.pretrain import generate, left_pad
from rung.rlhf.reward import Reward
from rung.rlhf.tokenizer import Tokenizer

TRAIN_NOUNS, HELDOUT_NOUNS = NOUNS[:10], NOUNS[10:]   # prompts "the NOUN"; held-out prompts are never trained on


@dataclass
class LMPPOConfig:
    updates: int = 40
    batch_size: int = 64          # responses per update
    minibatch_size: int = 16
    n_epochs: int = 4
    lr: float = 3e-4
    value_lr: float = 1e-3
    # KL coefficient β. 0.05 until 2026-12-02: at seed 3 the policy then ended 89.8 % grammatical (the
    # test's bar is 90 %) with a gold gain of 1.32 half-gaps; at 0.1 96.5 % and 1.59 (0.08: 94.9 %, 1.49)
    beta: float = 0.1
    adaptive_kl: bool = False
    target_kl: float = 2.0        # nats per response, for the adaptive controller
    horizon: int = 2000
    clip_eps: float = 0.2
    clip_value: float = 0.2
    vf_coef: float = 1.0
    gamma: float = 1.0
    gae_lambda: float = 0.95
    max_new_tokens: int = 16
    micro_batch_size: int | None = None   # responses per forward/backward; gradients accumulate over a minibatch
    bf16: bool = False            # forward passes under bfloat16 autocast (for GPUs; losses stay in float32)
    seed: int = 0


class AdaptiveKL:
    """Ziegler et al. (2019): β ← β · (1 + clip(KL / KL_target − 1, −0.2, 0.2) · n / horizon)."""

    def __init__(self, beta: float, target: float, horizon: int):
        self.beta, self.target, self.horizon = beta, target, horizon

    def update(self, kl: float, n_samples: int) -> float:
        error = float(np.clip(kl / self.target - 1, -0.2, 0.2))
        self.beta *= 1 + error * n_samples / self.horizon
        return self.beta


def kl_estimates(logp: torch.Tensor, logp_ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token estimators of KL(π‖π_ref) from samples of π: k1 = log π − log π_ref (unbiased, can be
    negative) and k3 = (r − 1) − log r with r = π_ref/π (unbiased, never negative; Schulman 2020)."""
    log_ratio = logp_ref - logp
    return -log_ratio, log_ratio.exp() - 1 - log_ratio


def token_logprobs(model: CausalLM, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log π(x_{t+1} | x_≤t) [N, T−1] and the entropy of π(·|x_≤t) [N, T−1]."""
    logits = model(ids[:, :-1], mask[:, :-1])                                                # [N, T−1, V]
    logp_all = logits.log_softmax(-1)
    logp = logp_all.gather(2, ids[:, 1:, None]).squeeze(2)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


def response_layout(ids: torch.Tensor, prompt_len: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """In the shifted frame [N, T−1] (position t predicts token t+1): the mask of response tokens, and
    the mask of each sequence's last response token (its <eos>, or the last token if cut by length),
    where the score is placed."""
    real = ids[:, 1:] != pad_id                                                             # [N, T−1]
    response = real & (torch.arange(ids.shape[1] - 1, device=ids.device) >= prompt_len - 1)
    last = torch.zeros_like(response)
    last[torch.arange(len(ids), device=ids.device), response.long().cumsum(1).argmax(1)] = True
    return response, last & response


def whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(x − mean) / std over the masked entries; the rest is left at 0."""
    selected = values[mask]
    return torch.where(mask, (values - selected.mean()) / (selected.std() + 1e-8), torch.zeros_like(values))


PromptSampler = Callable[[random.Random, int], torch.Tensor]   # (rng, n) → n prompts [n, P], left-padded


def review_prompts(tokenizer: Tokenizer, nouns: tuple[str, ...] = TRAIN_NOUNS) -> PromptSampler:
    """Prompts "the NOUN" (default: the training nouns; HELDOUT_NOUNS for evaluation)."""
    def sample(rng: random.Random, n: int) -> torch.Tensor:
        return left_pad([tokenizer.encode(f"the {rng.choice(nouns)}", eos=False) for _ in range(n)], tokenizer.pad_id)
    return sample


@torch.no_grad()
def sample_with_kl(policy: CausalLM, reference: CausalLM, tokenizer: Tokenizer, prompt_ids: torch.Tensor,
                   max_new_tokens: int, generator: torch.Generator) -> tuple[list[str], torch.Tensor]:
    """Completions of the prompts by `policy` (texts) and each one's KL(π‖π_ref): k1 summed over its
    response tokens [N]; its mean estimates the KL per response."""
    ids = generate(policy, tokenizer, prompt_ids, max_new_tokens, generator=generator)
    mask = ids != tokenizer.pad_id
    response, _ = response_layout(ids, prompt_ids.shape[1], tokenizer.pad_id)
    logp, _ = token_logprobs(policy, ids, mask)
    logp_ref, _ = token_logprobs(reference, ids, mask)
    return tokenizer.decode_batch(ids), ((logp - logp_ref) * response).sum(1)


def evaluate_policy(policy: CausalLM, reference: CausalLM, reward: Reward | None, tokenizer: Tokenizer, n: int = 256,
                    seed: int = 1234, max_new_tokens: int = 16) -> dict:
    """On held-out review prompts: mean gold and proxy (reward-model; None without one) scores,
    KL(π‖π_ref) per response, the grammatical fraction, and a few sample texts."""
    from rung.rlhf.data import is_grammatical

    prompt_ids = review_prompts(tokenizer, HELDOUT_NOUNS)(random.Random(seed), n)
    texts, kl = sample_with_kl(policy, reference, tokenizer, prompt_ids, max_new_tokens, seeded_generator(policy, seed))
    gold = gold_scores(texts)
    return {"gold": float(gold.mean()), "gold_max": float(gold.max()), "proxy": float(reward(texts).mean()) if reward else None,
            "kl": float(kl.mean()), "grammatical": float(np.mean([is_grammatical(t) for t in texts])),
            "samples": texts[:4]}


def train(policy: CausalLM, reward: Reward, tokenizer: Tokenizer, config: LMPPOConfig,
          value_model: CausalLM | None = None, prompt_sampler: PromptSampler | None = None,
          judge: Reward | None = None, log=None, checkpoint=None) -> tuple[CausalLM, list[dict]]:
    """Optimise a copy of `policy` against `reward`; the original stays the reference π_ref.
    `checkpoint` (rung.rlhf.pipeline.StageCheckpoint) saves the state after updates and restores it
    at the start, so that an interrupted run continues bit for bit. The value
    model starts as a copy of `value_model` (the reward model, as in InstructGPT; default: the policy's
    transformer with a fresh scalar head). `prompt_sampler` default: the review prompts. `judge` (the
    gold judge, never optimised) is only logged, as gold/mean: proxy and gold side by side."""
    torch.manual_seed(config.seed)
    policy, reference = policy_and_reference(policy)
    rng, generator, device = random.Random(config.seed), seeded_generator(policy, config.seed), device_of(policy)
    value_model = value_model_for(policy, reference, value_model)
    prompt_sampler = prompt_sampler or review_prompts(tokenizer)
    policy_flat, value_flat = FlatParameters(trainable(policy)), FlatParameters(trainable(value_model))
    policy_opt, value_opt = Adam(policy_flat.param, config.lr, eps=1e-5), Adam(value_flat.param, config.value_lr, eps=1e-5)
    controller = AdaptiveKL(config.beta, config.target_kl, config.horizon) if config.adaptive_kl else None
    counters, history = {"beta": config.beta}, []
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16)
    state = {"policy": trainable(policy), "value_model": trainable(value_model), "policy_opt": policy_opt,
             "value_opt": value_opt, "rng": rng, "generator": generator, "counters": counters}
    start = checkpoint.start(state) if checkpoint is not None else 0
    beta = counters["beta"]
    if controller is not None:
        controller.beta = beta

    for update in range(start, config.updates):
        # ROLLOUT: responses to training prompts, scored by the reward model
        with torch.no_grad(), autocast:
            prompt_ids = prompt_sampler(rng, config.batch_size)
            ids = generate(policy, tokenizer, prompt_ids, config.max_new_tokens, generator=generator)
            mask = ids != tokenizer.pad_id                                                  # [N, T]
            response, last = response_layout(ids, prompt_ids.shape[1], tokenizer.pad_id)  # [N, T−1]
            logp_old, entropy = token_logprobs(policy, ids, mask)
            logp_ref, _ = token_logprobs(reference, ids, mask)
            values_old = value_model(ids[:, :-1], mask[:, :-1]).float() * response         # [N, T−1]
            texts = tokenizer.decode_batch(ids)
            score = reward(texts).to(device)                                                # [N]
            k1, k3 = kl_estimates(logp_old, logp_ref)
            k1, k3 = k1 * response, k3 * response
            # r_t = −β·KL_t, plus the score at the last response token
            rewards = -beta * k1 + score[:, None] * last
            # token-level GAE in rung.returns' [T, N] layout: the last response token is terminal
            rewards_np, values_np, last_np = (t.T.cpu().numpy() for t in (rewards, values_old, last))
            advantages, returns = gae(rewards_np, values_np,
                                      np.concatenate([values_np[1:], np.zeros((1, len(ids)), np.float32)]),
                                      last_np, np.zeros_like(last_np), config.gamma, config.gae_lambda)
            advantages, returns = (torch.from_numpy(a.T.copy()).to(device) for a in (advantages, returns))
            advantages = whiten(advantages, response)

        # UPDATE: epochs of minibatches over the responses, PPO's losses unchanged
        stats = []
        for _ in range(config.n_epochs):
            order = torch.randperm(len(ids), generator=generator, device=device)
            for start in range(0, len(ids), config.minibatch_size):
                idx = order[start:start + config.minibatch_size]
                tokens = int(response[idx].sum())
                policy_flat.zero_grad()
                value_flat.zero_grad()
                for micro in idx.split(config.micro_batch_size or len(idx)):
                    m = response[micro]
                    # the minibatch's mean over tokens, as a sum over micro-batches of their means × token share
                    share = int(m.sum()) / tokens
                    # the policy's backward before V's forward: a LoRA V switches the shared trunk's adapters
                    with autocast:
                        logp = token_logprobs(policy, ids[micro], mask[micro])[0].float()
                    policy_loss, pstats = clipped_surrogate_loss(logp[m], logp_old[micro][m], advantages[micro][m],
                                                                 config.clip_eps)
                    policy_flat.backward(policy_loss * share, update)
                    with autocast:
                        values = value_model(ids[micro][:, :-1], mask[micro][:, :-1]).float()
                    v_loss = value_loss(values[m], values_old[micro][m], returns[micro][m], config.clip_value)
                    value_flat.backward(config.vf_coef * v_loss * share, update)
                    ratio = (logp[m] - logp_old[micro][m]).exp().mean()
                    stats.append({"approx_kl": float(pstats["approx_kl"]), "clipfrac": float(pstats["clipfrac"]),
                                  "ratio": float(ratio.detach()), "value_loss": float(v_loss.detach())})
                policy_flat.step(policy_opt, 1.0, update)
                value_flat.step(value_opt, 1.0, update)

        kl_per_response = k1.sum(1).mean()
        non_score = float((-beta * k1).sum(1).mean())
        row = {"update": update, "objective/kl": float(kl_per_response), "objective/kl_k3": float(k3.sum(1).mean()),
               "objective/scores": float(score.mean()), "objective/non_score_reward": non_score,
               "objective/rlhf_reward": float(score.mean()) + non_score,
               "objective/entropy": float((entropy * response).sum(1).mean()),
               "policy/approxkl_avg": float(np.mean([s["approx_kl"] for s in stats])),
               "policy/clipfrac_avg": float(np.mean([s["clipfrac"] for s in stats])),
               "val/ratio": float(np.mean([s["ratio"] for s in stats])),
               "loss/value_avg": float(np.mean([s["value_loss"] for s in stats])),
               "beta": beta, "sample": texts[0]}
        if judge is not None:
            row["gold/mean"] = float(judge(texts).mean())
        history.append(row)
        if log is not None:
            log(row)
        if controller is not None:
            beta = controller.update(float(kl_per_response), len(ids))
        if not math.isfinite(row["objective/kl"]):
            break
        counters["beta"] = beta
        if checkpoint is not None:
            checkpoint.after(update, state)
    return policy, history
