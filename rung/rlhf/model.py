"""A small causal transformer (GPT-2's layout, nanoGPT-sized): the policy, the reference policy, the
reward model and the value model are all this network, with a language-model head or a scalar head.

Shapes: B batch, T tokens, D model width, H heads, V vocabulary.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from rung.devices import device_of


MODEL_JSON = "model.json"


class CausalLM(Protocol):
    """What rung.rlhf needs of a policy: GPT below, or a Hugging Face model (rung.rlhf.hf)."""
    context: int                                   # longest sequence it can read

    def __call__(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Next-token logits [B, T, V] (a scalar head gives [B, T])."""

    def next_logits(self, new_ids: torch.Tensor, attention_mask: torch.Tensor, cache=None) -> tuple[torch.Tensor, object]:
        """Generation with a key/value cache: the logits after the last of `new_ids` [B, V] and the cache
        to pass with the next tokens. `new_ids` [B, T_new] follow the tokens the cache has seen (none
        when `cache` is None); `attention_mask` [B, T_seen + T_new] covers them all."""

    def with_scalar_head(self) -> "CausalLM":
        """A copy of the transformer with a fresh scalar head: reward and value models."""

    def save(self, directory: str | Path) -> None: ...


def seeded_generator(model: nn.Module, seed: int) -> torch.Generator:
    """A random number generator for sampling from `model`, on its device (torch.multinomial on a
    GPU needs a GPU generator)."""
    return torch.Generator(device=device_of(model)).manual_seed(seed)


def policy_and_reference(policy: CausalLM) -> tuple[CausalLM, CausalLM]:
    """(the policy to train, π_ref). A LoRA policy (rung.rlhf.hf.LoRACausalLM) trains its adapters in
    place and π_ref is the same weights with the adapters off; any other policy trains a copy and stays
    π_ref itself."""
    if hasattr(policy, "without_adapters"):
        return policy, reference_of(policy)
    return copy.deepcopy(policy), policy


def reference_of(policy: CausalLM) -> CausalLM:
    """π_ref of a policy handed to a trainer, the same before and after training: the policy itself
    (trainers train a copy), or for a LoRA policy its weights with the adapters off."""
    return policy.without_adapters() if hasattr(policy, "without_adapters") else policy


def value_model_for(policy: CausalLM, reference: CausalLM, start: CausalLM | None = None) -> CausalLM:
    """V for PPO: a copy of `start` (the reward model, as InstructGPT) or the reference's transformer with a
    fresh scalar head; for a LoRA policy, a scalar head on its own trunk (no second copy of the weights)."""
    if hasattr(policy, "value_model"):
        return policy.value_model()
    return copy.deepcopy(start) if start is not None else reference.with_scalar_head()


def trainable(model: nn.Module) -> nn.Module:
    """What the optimiser updates: the model, or only its adapters (and head) when it has them."""
    return model.trainable() if hasattr(model, "trainable") else model


@dataclass
class GPTConfig:
    vocab_size: int
    context: int = 32          # longest sequence, prompt and completion together
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    dropout: float = 0.0


def positions_from(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of each token counted over real tokens only [B, T], so a left-padded prompt starts at
    position 0 (padding gets 0; it is masked anyway)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_heads = config.n_heads
        self.ln1, self.ln2 = nn.LayerNorm(config.d_model), nn.LayerNorm(config.d_model)
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.mlp = nn.Sequential(nn.Linear(config.d_model, 4 * config.d_model), nn.GELU(),
                                 nn.Linear(4 * config.d_model, config.d_model))

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None,
                past: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, tuple]:
        """x [B, T, D] are the newest T tokens; `past` the keys and values [B, H, S, D/H] of the S before
        them, `attention_mask` [B, S + T] all of them. Returns x and the keys and values of all S + T."""
        B, T, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)                                     # [B, T, D] each
        q, k, v = (t.view(B, T, self.n_heads, D // self.n_heads).transpose(1, 2) for t in (q, k, v))  # [B, H, T, D/H]
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)            # [B, H, S + T, D/H]
        S = k.shape[2] - T
        causal = torch.ones(T, S + T, dtype=torch.bool, device=x.device).tril(S)             # query i sees keys ≤ S + i
        mask = causal if attention_mask is None else causal & attention_mask[:, None, None, :].bool()  # [B, 1, T, S + T]
        itself = torch.zeros_like(causal)
        itself[:, S:] = torch.eye(T, dtype=torch.bool, device=x.device)
        mask = mask | itself                                   # a padding query sees itself, not nothing
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)                  # [B, H, T, D/H]
        x = x + self.proj(attended.transpose(1, 2).reshape(B, T, D))
        return x + self.mlp(self.ln2(x)), (k, v)


class GPT(nn.Module):
    """Token + position embeddings, `n_layers` blocks, a final LayerNorm, and one head: next-token
    logits [B, T, V] (`head="lm"`, weights tied to the embedding) or a scalar per position [B, T]
    (`head="scalar"`: rewards and values, read at the last real token)."""

    def __init__(self, config: GPTConfig, head: str = "lm"):
        super().__init__()
        self.config, self.head_kind = config, head
        self.tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.positions = nn.Embedding(config.context, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln = nn.LayerNorm(config.d_model)
        self.scalar = nn.Linear(config.d_model, 1) if head == "scalar" else None
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    @property
    def context(self) -> int:
        return self.config.context

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        x, _ = self.transformer(ids, attention_mask)
        if self.scalar is not None:
            return self.scalar(x).squeeze(-1)                                                # [B, T]
        return x @ self.tokens.weight.T                                                      # [B, T, V]

    def next_logits(self, new_ids: torch.Tensor, attention_mask: torch.Tensor,
                    cache: list[tuple] | None = None) -> tuple[torch.Tensor, list[tuple]]:
        """rung.rlhf.model.CausalLM.next_logits; the cache is each block's keys and values."""
        x, cache = self.transformer(new_ids, attention_mask, cache)
        return x[:, -1] @ self.tokens.weight.T, cache                                      # [B, V]

    def transformer(self, ids: torch.Tensor, attention_mask: torch.Tensor | None,
                    cache: list[tuple] | None = None) -> tuple[torch.Tensor, list[tuple]]:
        """The final hidden states [B, T, D] of `ids` [B, T] (the newest tokens when `cache` holds the
        blocks' keys and values of those before), and the cache extended by them."""
        T = ids.shape[1]
        if attention_mask is None:
            positions = torch.arange(T, device=ids.device)
        else:
            positions = positions_from(attention_mask)[:, -T:]
        x = self.tokens(ids) + self.positions(positions)                                    # [B, T, D]
        new_cache = []
        for block, past in zip(self.blocks, cache or [None] * len(self.blocks)):
            x, keys_values = block(x, attention_mask, past)
            new_cache.append(keys_values)
        return self.ln(x), new_cache

    def with_scalar_head(self) -> "GPT":
        """A scalar-head GPT with this one's transformer weights (reward and value models start here)."""
        with torch.device(device_of(self)):
            model = GPT(self.config, head="scalar")
        model.load_state_dict(self.state_dict(), strict=False)   # everything but the new scalar head
        return model

    def save(self, directory: str | Path) -> None:
        """model.safetensors (the weights) and model.json (config and head)."""
        from safetensors.torch import save_file

        save_file(self.state_dict(), str(Path(directory) / "model.safetensors"))
        (Path(directory) / MODEL_JSON).write_text(json.dumps({"config": asdict(self.config), "head": self.head_kind}))

    @classmethod
    def load(cls, directory: str | Path) -> "GPT":
        from safetensors.torch import load_file

        meta = json.loads((Path(directory) / MODEL_JSON).read_text())
        model = cls(GPTConfig(**meta["config"]), head=meta["head"])
        model.load_state_dict(load_file(str(Path(directory) / "model.safetensors")))
        return model
