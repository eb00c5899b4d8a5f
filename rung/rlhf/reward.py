"""The reward model: preferences between pairs of base-policy samples, labelled by the gold judge (the
"humans"), and a transformer with a scalar head trained on them with the Bradley–Terry loss

    P(chosen ≻ rejected) = σ(r(chosen) − r(rejected)),   L = −log σ(r_c − r_r)

r(text) is the scalar head read at the sequence's last real token (<eos>). The reward model starts
from the base policy's weights (its language knowledge), with a fresh scalar head.
"""

from __future__ import annotations

import random
from typing import Callable

import torch
import torch.nn.functional as F

from rung.devices import device_of
from rung.errors import RungError
from rung.nets import FlatParameters
from rung.optim import Adam
from rung.rlhf.data import NOUNS
from rung.rlhf.gold import gold_score
from rung.rlhf.model import CausalLM, seeded_generator
from rung.rlhf.pretrain import pad, sample
from rung.rlhf.tokenizer import Tokenizer

Reward = Callable[[list[str]], torch.Tensor]   # texts → one score each [N]: a reward model, or an exact check


def preference_pairs(policy: CausalLM, tokenizer: Tokenizer, n_pairs: int, seed: int = 0,
                     label_noise: float = 0.0) -> list[tuple[str, str]]:
    """(chosen, rejected) pairs: two samples of the same prompt ("the NOUN"), the one with the higher
    gold score chosen; ties are skipped; with probability `label_noise` a label is flipped. A policy
    whose samples nearly all tie (all ungrammatical: −1 each) is an error, not an endless loop."""
    rng, generator = random.Random(seed), seeded_generator(policy, seed)
    pairs, tried = [], 0
    while len(pairs) < n_pairs:
        if tried >= 100 and len(pairs) < tried // 20:
            raise RungError(f"only {len(pairs)} of {tried} sample pairs differ in gold score (most samples are "
                            "ungrammatical): pretrain the policy longer")
        prompt = f"the {rng.choice(NOUNS)}"
        _, texts = sample(policy, tokenizer, 32, prompt=prompt, generator=generator)
        for a, b in zip(texts[0::2], texts[1::2]):
            tried += 1
            gold_a, gold_b = gold_score(a), gold_score(b)
            if gold_a == gold_b:
                continue
            chosen, rejected = (a, b) if gold_a > gold_b else (b, a)
            if rng.random() < label_noise:
                chosen, rejected = rejected, chosen
            pairs.append((chosen, rejected))
    return pairs[:n_pairs]


def scores(model: CausalLM, tokenizer: Tokenizer, texts: list[str]) -> torch.Tensor:
    """r(text) for each text [N]: the scalar head at the last real token."""
    # a text longer than the model's context keeps its end: the score is read at <eos>
    ids, mask = pad([tokenizer.encode(t)[-model.context:] for t in texts], tokenizer.pad_id, device_of(model))
    values = model(ids, mask)                                                                # [N, T]
    return values.gather(1, (mask.sum(1) - 1)[:, None]).squeeze(1)                          # [N]


def model_reward(reward_model: CausalLM, tokenizer: Tokenizer) -> Reward:
    """The reward model as the reward every policy optimiser takes: texts → scores [N], no gradient."""
    @torch.no_grad()
    def reward(texts: list[str]) -> torch.Tensor:
        return scores(reward_model, tokenizer, texts)
    return reward


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """−E[log σ(r_c − r_r)]."""
    return -F.logsigmoid(chosen - rejected).mean()


def train_reward_model(policy: CausalLM, tokenizer: Tokenizer, pairs: list[tuple[str, str]], epochs: int = 6,
                       batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
                       checkpoint=None) -> tuple[CausalLM, list[float]]:
    """Bradley–Terry on (chosen, rejected) pairs: the policy's transformer with a scalar head; the model
    and its loss per step. `checkpoint` as in rung.rlhf.pretrain.pretrain."""
    torch.manual_seed(seed)
    model = policy.with_scalar_head()
    flat = FlatParameters(model)
    optimizer = Adam(flat.param, lr=lr)
    rng, history = random.Random(seed), {"losses": []}
    state = {"model": model, "optimizer": optimizer, "rng": rng, "history": history}
    start = checkpoint.start(state) if checkpoint is not None else 0
    losses = history["losses"]
    total = epochs * (len(pairs) // batch_size)
    for step in range(start, total):
        optimizer.lr = lr * (1 - step / total)
        batch = rng.sample(pairs, batch_size)
        r = scores(model, tokenizer, [c for c, _ in batch] + [r for _, r in batch])        # [2B]
        loss = bradley_terry_loss(r[:batch_size], r[batch_size:])
        flat.apply(loss, optimizer, 1.0, step)
        losses.append(float(loss.detach()))
        if checkpoint is not None:
            checkpoint.after(step, state)
    return model, losses


@torch.no_grad()
def pairwise_accuracy(model: CausalLM, tokenizer: Tokenizer, pairs: list[tuple[str, str]]) -> float:
    """Fraction of pairs where r(chosen) > r(rejected)."""
    r = scores(model, tokenizer, [c for c, _ in pairs] + [r for _, r in pairs])
    return float((r[:len(pairs)] > r[len(pairs):]).float().mean())
