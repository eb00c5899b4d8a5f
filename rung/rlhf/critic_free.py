"""Critic-free policy optimisation on groups of responses, and best-of-n, on the same reward interface
as PPO (`reward(texts) -> tensor`): the reward model's score, or an exact verifiable reward.

For each prompt, G responses y_1..y_G with rewards R_i:
- RLOO (Ahmadian et al. 2024): R_i = score_i − β·KL_i (k1 summed over the response); the baseline is
  the mean of the *other* responses, A_i = R_i − (Σ_j R_j − R_i)/(G − 1); REINFORCE's loss
  −E[A_i · log π(y_i)] (rung.algos.reinforce.policy_gradient_loss).
- GRPO (Shao et al. 2024): A_i = (R_i − mean R) / std R within the group, given to every token;
  PPO's clipped surrogate (rung.algos.ppo.clipped_surrogate_loss) plus β times the k3 estimate of
  KL(π‖π_ref) in the loss rather than in the reward.
- best-of-n: no training; sample n, keep the highest-scoring. Its KL from the policy is known in
  closed form: KL = log n − (n − 1)/n (Stiennon et al. 2020).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from rung.algos.ppo import clipped_surrogate_loss
from rung.algos.reinforce import policy_gradient_loss
from rung.devices import device_of
from rung.nets import FlatParameters
from rung.optim import Adam
from rung.rlhf.model import CausalLM, policy_and_reference, seeded_generator, trainable
from rung.rlhf.ppo import PromptSampler, kl_estimates, response_layout, review_prompts, token_logprobs
from rung.rlhf.pretrain import generate
from rung.rlhf.reward import Reward
from rung.rlhf.tokenizer import Tokenizer

@dataclass
class GroupConfig:
    method: str = "grpo"          # grpo | rloo
    updates: int = 40
    prompts_per_update: int = 16
    group_size: int = 4
    n_epochs: int = 1
    lr: float = 3e-4
    # KL coefficient β. Until 2026-12-02 0.1 for GRPO and 0.05 for RLOO: at seed 3 with two threads GRPO
    # ended 84 % grammatical (KL 1.9) and RLOO found a reward hack (gold gain 0.02, 75 % grammatical, KL 3.7;
    # at 0.1 the same); at 0.2 both held (0.95 / 0.98 grammatical, KL 0.55 / 0.32)
    beta: float = 0.2
    clip_eps: float = 0.2
    max_new_tokens: int = 16
    micro_batch_size: int | None = None   # responses per forward/backward; gradients accumulate over the update
    bf16: bool = False                    # forward passes under bfloat16 autocast (for GPUs; losses in float32)
    seed: int = 0


def group_advantages(rewards: torch.Tensor, method: str) -> torch.Tensor:
    """Advantages of rewards [P, G] (P prompts × G responses) within each group."""
    if method == "rloo":
        G = rewards.shape[1]
        return rewards - (rewards.sum(1, keepdim=True) - rewards) / (G - 1)     # R_i − mean of the others
    mean, std = rewards.mean(1, keepdim=True), rewards.std(1, keepdim=True)
    return (rewards - mean) / (std + 1e-8)                                     # GRPO: standardised in the group


def best_of_n_kl(n: int) -> float:
    """KL(best-of-n ‖ π) = log n − (n − 1)/n."""
    return math.log(n) - (n - 1) / n


@torch.no_grad()
def best_of_n(policy: CausalLM, reward: Reward, tokenizer: Tokenizer, prompt_ids: torch.Tensor, n: int,
              generator: torch.Generator | None = None, max_new_tokens: int = 16) -> list[str]:
    """For each prompt [P, L], the highest-reward text among n samples."""
    ids = generate(policy, tokenizer, prompt_ids.repeat_interleave(n, 0), max_new_tokens, generator=generator)
    texts = tokenizer.decode_batch(ids)
    best = reward(texts).view(len(prompt_ids), n).argmax(1).tolist()
    return [texts[i * n + b] for i, b in enumerate(best)]


def train(policy: CausalLM, reward: Reward, tokenizer: Tokenizer, config: GroupConfig,
          prompt_sampler: PromptSampler | None = None, judge: Reward | None = None, log=None,
          checkpoint=None) -> tuple[CausalLM, list[dict]]:
    """Optimise a copy of `policy` (the original is π_ref) with GRPO or RLOO. `prompt_sampler(rng, n)`
    gives n left-padded prompts (default: the review prompts); `judge` is only logged (gold/mean);
    `checkpoint` as in rung.rlhf.ppo.train."""
    torch.manual_seed(config.seed)
    policy, reference = policy_and_reference(policy)
    rng, generator, device = random.Random(config.seed), seeded_generator(policy, config.seed), device_of(policy)
    flat = FlatParameters(trainable(policy))
    optimizer = Adam(flat.param, config.lr, eps=1e-5)
    P, G, history = config.prompts_per_update, config.group_size, []
    prompt_sampler = prompt_sampler or review_prompts(tokenizer)
    state = {"policy": trainable(policy), "optimizer": optimizer, "rng": rng, "generator": generator}
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16)
    start = checkpoint.start(state) if checkpoint is not None else 0
    for update in range(start, config.updates):
        with torch.no_grad(), autocast:
            prompt_ids = prompt_sampler(rng, P).repeat_interleave(G, 0)                    # [P·G, L]
            ids = generate(policy, tokenizer, prompt_ids, config.max_new_tokens, generator=generator)
            mask = ids != tokenizer.pad_id
            response, _ = response_layout(ids, prompt_ids.shape[1], tokenizer.pad_id)      # [P·G, T−1]
            logp_old, _ = token_logprobs(policy, ids, mask)
            logp_ref, _ = token_logprobs(reference, ids, mask)
            texts = tokenizer.decode_batch(ids)
            score = reward(texts).to(device)                                                # [P·G]
            kl = (kl_estimates(logp_old, logp_ref)[0] * response).sum(1)                   # k1 per response
            total = score - config.beta * kl if config.method == "rloo" else score
            advantages = group_advantages(total.view(P, G), config.method).reshape(-1)     # [P·G]
        tokens = int(response.sum())
        for _ in range(config.n_epochs):
            flat.zero_grad()
            kl_term = 0.0
            for micro in torch.arange(len(ids), device=device).split(config.micro_batch_size or len(ids)):
                m = response[micro]
                with autocast:
                    logp = token_logprobs(policy, ids[micro], mask[micro])[0].float()
                if config.method == "rloo":
                    # REINFORCE with the leave-one-out baseline: −E[A · Σ_t log π(y_t)], a mean over responses
                    loss, _ = policy_gradient_loss((logp * m).sum(1), advantages[micro])
                    share = len(micro) / len(ids)
                else:   # means over response tokens
                    token_adv = advantages[micro][:, None].expand_as(logp)
                    loss, _ = clipped_surrogate_loss(logp[m], logp_old[micro][m], token_adv[m], config.clip_eps)
                    micro_kl = kl_estimates(logp, logp_ref[micro])[1][m].mean()               # k3, in the loss
                    loss = loss + config.beta * micro_kl
                    share = int(m.sum()) / tokens
                    kl_term += float(micro_kl.detach()) * share
                # the update's mean, as a sum over micro-batches of their means × their share
                flat.backward(loss * share, update)
            flat.step(optimizer, 1.0, update)
        row = {"update": update, "objective/scores": float(score.mean()), "objective/kl": float(kl.mean()),
               "loss/kl_term": kl_term, "sample": texts[0]}
        if judge is not None:
            row["gold/mean"] = float(judge(texts).mean())
        history.append(row)
        if log is not None:
            log(row)
        if checkpoint is not None:
            checkpoint.after(update, state)
    return policy, history
