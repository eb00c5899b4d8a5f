"""Direct Preference Optimisation, DPO (Rafailov et al. 2023): the reward model and PPO replaced by one
classification loss on the same preference pairs. For the KL-regularised objective PPO-RLHF optimises,
max E[r] − β·KL(π‖π_ref), the optimal policy is π*(y|x) ∝ π_ref(y|x)·exp(r(x,y)/β); turned around,
every policy defines an implicit reward

    r_θ(x, y) = β · (log π_θ(y|x) − log π_ref(y|x))          (up to a term of x alone)

and the reward model's Bradley–Terry loss (rung.rlhf.reward) on that reward is DPO's loss:

    L(θ) = −E[log σ(β·[(log π_θ(y_w) − log π_ref(y_w)) − (log π_θ(y_l) − log π_ref(y_l))])]

y_w the chosen response, y_l the rejected one, both for the same prompt x. The loss only sees the
margin, so it can lower log π(y_w) too, as long as log π(y_l) falls faster, and the freed probability
goes to sequences neither response resembles (here: ungrammatical ones). `rpo_alpha` > 0 adds the
chosen responses' language-model loss, α·(−log π(y_w) / |y_w|) (RPO, Pang et al. 2024; TRL's rpo_alpha),
which holds them up. Small β lets π move far from
π_ref for a small margin: DPO over-optimises its implicit reward as PPO does a learned one
(rung lab reward-hacking). No sampling during training, no value model, no reward model.
Metrics use TRL's names (rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rung.devices import device_of
from rung.nets import FlatParameters
from rung.optim import Adam
from rung.rlhf.model import CausalLM, policy_and_reference, trainable
from rung.rlhf.ppo import token_logprobs
from rung.rlhf.pretrain import pad
from rung.rlhf.tokenizer import Tokenizer


@dataclass
class DPOConfig:
    beta: float = 0.1             # β: the implicit reward's scale, the inverse strength of the KL anchor
    epochs: int = 2
    batch_size: int = 64          # preference pairs per step
    lr: float = 3e-4              # decays linearly to 0
    # weight of the chosen responses' per-token NLL added to the loss (0: DPO's loss alone). Measured on
    # the demo's base policies of seeds 0, 2, 3, 4 (β 0.1, lr 3e-4, 2 epochs): DPO alone gold gain
    # 0.33, −0.22, −0.02, −0.11 with KL up to 5 and grammatical down to 68 %; with α = 1: 0.23, 0.25,
    # 0.29, 0.22, KL ≤ 0.23, ≥ 97 % grammatical
    rpo_alpha: float = 1.0
    micro_batch_size: int | None = None   # pairs per forward/backward; gradients accumulate over a step's batch
    bf16: bool = False                    # forward passes under bfloat16 autocast (for GPUs; losses in float32)
    seed: int = 0


def sequence_logprobs(model: CausalLM, tokenizer: Tokenizer, texts: list[str],
                      with_lengths: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """log π(text) [N]: the sum of every token's log-probability after <bos> (and the number of those
    tokens [N] with `with_lengths`). The prompt's tokens are the same in y_w and y_l, so their terms
    cancel in DPO's difference of differences."""
    ids, mask = pad([tokenizer.encode(t)[:model.context] for t in texts], tokenizer.pad_id, device_of(model))
    logp, _ = token_logprobs(model, ids, mask)                                              # [N, T−1]
    total = (logp * mask[:, 1:]).sum(1)
    return (total, mask[:, 1:].sum(1)) if with_lengths else total


def dpo_loss(logp_chosen: torch.Tensor, logp_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> tuple[torch.Tensor, dict]:
    """−E[log σ(r_w − r_l)] with the implicit rewards r = β·(log π − log π_ref) [B], and their stats."""
    reward_chosen, reward_rejected = beta * (logp_chosen - ref_chosen), beta * (logp_rejected - ref_rejected)
    margin = reward_chosen - reward_rejected
    with torch.no_grad():
        stats = {"rewards/chosen": float(reward_chosen.mean()), "rewards/rejected": float(reward_rejected.mean()),
                 "rewards/margins": float(margin.mean()), "rewards/accuracies": float((margin > 0).float().mean())}
    return -F.logsigmoid(margin).mean(), stats


def implicit_reward(policy: CausalLM, reference: CausalLM, tokenizer: Tokenizer, texts: list[str],
                    beta: float) -> torch.Tensor:
    """r_θ(x, y) = β·(log π_θ(y|x) − log π_ref(y|x)) of each text [N] (what DPO maximises, as a proxy)."""
    with torch.no_grad():
        return beta * (sequence_logprobs(policy, tokenizer, texts) - sequence_logprobs(reference, tokenizer, texts))


def implicit_accuracy(policy: CausalLM, reference: CausalLM, tokenizer: Tokenizer, pairs: list[tuple[str, str]],
                      beta: float) -> float:
    """Fraction of (chosen, rejected) pairs whose implicit rewards order them right: DPO's policy read
    as a reward model (rung.rlhf.reward.pairwise_accuracy for the explicit one)."""
    chosen = torch.cat([implicit_reward(policy, reference, tokenizer, [c for c, _ in chunk], beta)
                        for chunk in batches(pairs, 256)])
    rejected = torch.cat([implicit_reward(policy, reference, tokenizer, [r for _, r in chunk], beta)
                          for chunk in batches(pairs, 256)])
    return float((chosen > rejected).float().mean())


def train(policy: CausalLM, tokenizer: Tokenizer, pairs: list[tuple[str, str]], config: DPOConfig,
          log=None, after_epoch=None, checkpoint=None) -> tuple[CausalLM, list[dict]]:
    """Optimise a copy of `policy` on (chosen, rejected) text pairs; the original stays π_ref, whose
    log-probabilities are computed once. `log` receives one row per step, `after_epoch(epoch, policy)`
    is called after each pass over the pairs (epoch counted from 1); `checkpoint` as in
    rung.rlhf.pretrain.pretrain (the history returned then starts at the resumed step)."""
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    policy, reference = policy_and_reference(policy)
    autocast = torch.autocast(device_of(policy).type, dtype=torch.bfloat16, enabled=config.bf16)
    with torch.no_grad(), autocast:
        ref_chosen = torch.cat([sequence_logprobs(reference, tokenizer, [c for c, _ in chunk])
                                for chunk in batches(pairs, 256)])
        ref_rejected = torch.cat([sequence_logprobs(reference, tokenizer, [r for _, r in chunk])
                                  for chunk in batches(pairs, 256)])
    flat = FlatParameters(trainable(policy))
    optimizer = Adam(flat.param, lr=config.lr)
    steps_per_epoch = len(pairs) // config.batch_size
    total, history, epoch = config.epochs * steps_per_epoch, [], {"order": []}
    state = {"policy": trainable(policy), "optimizer": optimizer, "rng": rng, "epoch": epoch}
    start = checkpoint.start(state) if checkpoint is not None else 0
    for step in range(start, total):
        if step % steps_per_epoch == 0:
            epoch["order"] = list(range(len(pairs)))
            rng.shuffle(epoch["order"])
        optimizer.lr = config.lr * (1 - step / total)
        idx = epoch["order"][(step % steps_per_epoch) * config.batch_size:][:config.batch_size]
        flat.zero_grad()
        row = {"step": step}
        for micro in batches(idx, config.micro_batch_size or len(idx)):
            B = len(micro)
            with autocast:
                logp, lengths = sequence_logprobs(policy, tokenizer, [pairs[i][0] for i in micro] +
                                                  [pairs[i][1] for i in micro], with_lengths=True)
            logp = logp.float()
            loss, stats = dpo_loss(logp[:B], logp[B:], ref_chosen[micro], ref_rejected[micro], config.beta)
            if config.rpo_alpha:
                nll = -(logp[:B] / lengths[:B]).mean()                                  # the chosen ones' LM loss
                loss, stats["nll_loss"] = loss + config.rpo_alpha * nll, float(nll.detach())
            # the batch's mean, as a sum over micro-batches of their means × their share of the pairs
            share = B / len(idx)
            flat.backward(loss * share, step)
            for key, value in {"loss": float(loss.detach()), **stats}.items():
                row[key] = row.get(key, 0.0) + value * share
        flat.step(optimizer, 1.0, step)
        history.append(row)
        if log is not None:
            log(row)
        if after_epoch is not None and (step + 1) % steps_per_epoch == 0:
            after_epoch((step + 1) // steps_per_epoch, policy)
        if checkpoint is not None:
            checkpoint.after(step, state)
    return policy, history


def batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]
