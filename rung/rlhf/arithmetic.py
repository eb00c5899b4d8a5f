"""A task with a verifiable reward (the seed's RLVR question): "a + b =" answered by the model, the
reward computed exactly — 1 for the right sum in the right form, else 0. No reward model to hack.

The base policy is pretrained on a corpus where only `correct_fraction` of the answers are right (the
rest uniform), so it knows the format and leans towards the sum without being reliable; RL with the
exact reward then has something to sharpen.
"""

from __future__ import annotations

import random

import torch

from rung.rlhf.pretrain import left_pad

MAX_OPERAND = 9
WORDS = tuple(str(i) for i in range(2 * MAX_OPERAND + 1)) + ("+", "=", ".")


def line(a: int, b: int, answer: int) -> str:
    return f"{a} + {b} = {answer} ."


def corpus(n: int, seed: int = 0, correct_fraction: float = 0.3) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        a, b = rng.randint(0, MAX_OPERAND), rng.randint(0, MAX_OPERAND)
        answer = a + b if rng.random() < correct_fraction else rng.randint(0, 2 * MAX_OPERAND)
        lines.append(line(a, b, answer))
    return lines


def prompt_sampler(tokenizer):
    """prompts(rng, n) -> ids [n, P]: "a + b =" with random operands, left-padded."""
    def sample(rng: random.Random, n: int) -> torch.Tensor:
        return left_pad([tokenizer.encode(f"{rng.randint(0, MAX_OPERAND)} + {rng.randint(0, MAX_OPERAND)} =",
                                          eos=False) for _ in range(n)], tokenizer.pad_id)
    return sample


def exact_reward(texts: list[str]) -> torch.Tensor:
    """1.0 where a text is exactly "a + b = (a+b) .", else 0.0."""
    def correct(text: str) -> bool:
        words = text.split()
        return (len(words) == 6 and words[1] == "+" and words[3] == "=" and words[5] == "."
                and all(w.isdigit() for w in (words[0], words[2], words[4]))
                and int(words[0]) + int(words[2]) == int(words[4]))
    return torch.tensor([float(correct(t)) for t in texts], device="cpu")   # callers move it to their device


@torch.no_grad()
def accuracy(model, tokenizer, n: int = 500, seed: int = 99, max_new_tokens: int = 8) -> float:
    """Exact-match accuracy on n fresh problems (the same ones for every model with the same seed)."""
    from rung.rlhf.pretrain import generate

    prompt_ids = prompt_sampler(tokenizer)(random.Random(seed), n)
    from rung.rlhf.model import seeded_generator

    ids = generate(model, tokenizer, prompt_ids, max_new_tokens, generator=seeded_generator(model, seed))
    return float(exact_reward(tokenizer.decode_batch(ids)).mean())
