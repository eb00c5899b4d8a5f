"""The base policy: the tiny GPT (or a Hugging Face model) trained by next-token prediction on the
generated corpus, and sampling from it (with <eos> ending each sequence)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rung.devices import device_of
from rung.optim import Adam
from rung.rlhf.model import GPT, CausalLM, GPTConfig
from rung.rlhf.tokenizer import Tokenizer


def pad(sequences: list[list[int]], pad_id: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids [B, T] and the mask of real tokens [B, T], on `device`."""
    T = max(len(s) for s in sequences)
    ids = torch.tensor([list(s) + [pad_id] * (T - len(s)) for s in sequences], dtype=torch.long, device=device)
    return ids, ids != pad_id


def left_pad(sequences: list[list[int]], pad_id: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Prompts of different lengths as one batch [B, P], padded on the left so that every completion
    starts at the same column (models read positions from the mask, rung.rlhf.model.positions_from)."""
    P = max(len(s) for s in sequences)
    return torch.tensor([[pad_id] * (P - len(s)) + list(s) for s in sequences], dtype=torch.long, device=device)


def language_model_loss(model: CausalLM, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """−mean log p(x_{t+1} | x_≤t) over real next tokens."""
    logits = model(ids[:, :-1], mask[:, :-1])                                                # [B, T−1, V]
    targets = ids[:, 1:].masked_fill(~mask[:, 1:], -100)                                     # [B, T−1]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


def pretrain(texts: list[str], tokenizer: Tokenizer, steps: int = 600, batch_size: int = 64, lr: float = 3e-3,
             seed: int = 0, config: GPTConfig | None = None, model: CausalLM | None = None,
             device: torch.device | str = "cpu", checkpoint=None) -> tuple[CausalLM, list[float]]:
    """Train `model` (default: a fresh GPT of `config`) on `texts` by next-token prediction; with a
    pretrained Hugging Face model this is supervised fine-tuning. Returns the model and its loss per
    step. The learning rate decays linearly to 0. `checkpoint` (rung.rlhf.pipeline.StageCheckpoint)
    saves the state after steps and restores it when there is one."""
    from rung.nets import FlatParameters

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    if model is None:
        with torch.device(device):
            model = GPT(config or GPTConfig(vocab_size=len(tokenizer)))
    flat = FlatParameters(model)
    optimizer = Adam(flat.param, lr=lr)
    encoded = [tokenizer.encode(text)[:model.context] for text in texts]   # longer texts are cut
    history = {"losses": []}
    state = {"model": model, "optimizer": optimizer, "generator": generator, "history": history}
    start = checkpoint.start(state) if checkpoint is not None else 0
    losses = history["losses"]
    for step in range(start, steps):
        optimizer.lr = lr * (1 - step / steps)
        batch = torch.randint(len(encoded), (batch_size,), generator=generator, device="cpu").tolist()   # list indices
        ids, mask = pad([encoded[i] for i in batch], tokenizer.pad_id, device_of(model))
        loss = language_model_loss(model, ids, mask)
        flat.apply(loss, optimizer, 1.0, step)
        losses.append(float(loss.detach()))
        if checkpoint is not None:
            checkpoint.after(step, state)
    return model, losses


@torch.no_grad()
def generate(model: CausalLM, tokenizer: Tokenizer, prompt_ids: torch.Tensor, max_new_tokens: int = 24,
             temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample a completion of every prompt [N, P] (left-padded, `left_pad`): ids [N, T] on the model's
    device, with <pad> after each sequence's <eos>. A sequence that reaches the length limit ends
    without <eos>. `generator` on the model's device (rung.rlhf.model.seeded_generator)."""
    prompt_ids = prompt_ids.to(device_of(model))
    ids, new_ids, cache = prompt_ids, prompt_ids, None
    done = torch.zeros(len(ids), dtype=torch.bool, device=ids.device)
    for _ in range(min(max_new_tokens, model.context - ids.shape[1])):
        # with the key/value cache only the newest token goes through the model (the whole prompt at first)
        logits, cache = model.next_logits(new_ids, ids != tokenizer.pad_id, cache)
        logits = logits / temperature                                                        # [N, V]
        logits[:, tokenizer.pad_id] = float("-inf")
        next_ids = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)  # [N]
        next_ids = torch.where(done, torch.full_like(next_ids, tokenizer.pad_id), next_ids)
        new_ids = next_ids[:, None]
        ids = torch.cat([ids, new_ids], dim=1)
        done |= next_ids == tokenizer.eos_id
        if done.all():
            break
    return ids


def sample(model: CausalLM, tokenizer: Tokenizer, n: int, prompt: str = "", max_new_tokens: int = 24,
           temperature: float = 1.0, generator: torch.Generator | None = None) -> tuple[torch.Tensor, list[str]]:
    """`n` completions of `prompt`: token ids [n, T] (<bos>, prompt, completion, <pad> after <eos>)
    and the decoded texts (prompt included)."""
    prompt_ids = left_pad([tokenizer.encode(prompt, eos=False)] * n, tokenizer.pad_id, device_of(model))
    ids = generate(model, tokenizer, prompt_ids, max_new_tokens, temperature, generator)
    return ids, tokenizer.decode_batch(ids)
