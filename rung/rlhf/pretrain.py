"""The base policy: the tiny GPT trained by next-token prediction on the generated corpus, and
sampling from it (with <eos> ending each sequence)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rung.optim import Adam
from rung.rlhf.model import GPT, GPTConfig
from rung.rlhf.tokenizer import WordTokenizer


def pad(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids [B, T] and the mask of real tokens [B, T]."""
    T = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), T), pad_id, dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, :len(s)] = torch.tensor(s)
    return ids, ids != pad_id


def language_model_loss(model: GPT, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """−mean log p(x_{t+1} | x_≤t) over real next tokens."""
    logits = model(ids[:, :-1], mask[:, :-1])                                                # [B, T−1, V]
    targets = ids[:, 1:].masked_fill(~mask[:, 1:], -100)                                     # [B, T−1]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


def pretrain(texts: list[str], tokenizer: WordTokenizer, steps: int = 600, batch_size: int = 64, lr: float = 3e-3,
             seed: int = 0, config: GPTConfig | None = None) -> tuple[GPT, list[float]]:
    """Train a fresh GPT on `texts`; returns it and its loss per step. The learning rate decays
    linearly to 0."""
    from rung.nets import FlatParameters

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = GPT(config or GPTConfig(vocab_size=len(tokenizer)))
    flat = FlatParameters(model)
    optimizer = Adam(flat.param, lr=lr)
    encoded = [tokenizer.encode(text) for text in texts]
    losses = []
    for step in range(steps):
        optimizer.lr = lr * (1 - step / steps)
        batch = torch.randint(len(encoded), (batch_size,), generator=generator)
        ids, mask = pad([encoded[i] for i in batch], tokenizer.pad_id)
        loss = language_model_loss(model, ids, mask)
        flat.apply(loss, optimizer, 1.0, step)
        losses.append(float(loss.detach()))
    return model, losses


@torch.no_grad()
def generate(model: GPT, tokenizer: WordTokenizer, prompt_ids: torch.Tensor, max_new_tokens: int = 24,
             temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample a completion of every prompt [N, P] (prompts of equal length): ids [N, T] with <pad>
    after each sequence's <eos>. A sequence that reaches the length limit ends without <eos>."""
    ids = prompt_ids
    done = torch.zeros(len(ids), dtype=torch.bool)
    for _ in range(min(max_new_tokens, model.config.context - ids.shape[1])):
        logits = model(ids)[:, -1] / temperature                                             # [N, V]
        logits[:, tokenizer.pad_id] = float("-inf")
        next_ids = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)  # [N]
        next_ids = torch.where(done, torch.full_like(next_ids, tokenizer.pad_id), next_ids)
        ids = torch.cat([ids, next_ids[:, None]], dim=1)
        done |= next_ids == tokenizer.eos_id
        if done.all():
            break
    return ids


def sample(model: GPT, tokenizer: WordTokenizer, n: int, prompt: str = "", max_new_tokens: int = 24,
           temperature: float = 1.0, generator: torch.Generator | None = None) -> tuple[torch.Tensor, list[str]]:
    """`n` completions of `prompt`: token ids [n, T] (<bos>, prompt, completion, <pad> after <eos>)
    and the decoded texts (prompt included)."""
    ids = generate(model, tokenizer, torch.tensor([tokenizer.encode(prompt, eos=False)] * n), max_new_tokens,
                   temperature, generator)
    return ids, [tokenizer.decode(row[1:]) for row in ids]
