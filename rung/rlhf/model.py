"""A small causal transformer (GPT-2's layout, nanoGPT-sized): the policy, the reference policy, the
reward model and the value model are all this network, with a language-model head or a scalar head.

Shapes: B batch, T tokens, D model width, H heads, V vocabulary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class GPTConfig:
    vocab_size: int
    context: int = 32          # longest sequence, prompt and completion together
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    dropout: float = 0.0


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

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)                                     # [B, T, D] each
        q, k, v = (t.view(B, T, self.n_heads, D // self.n_heads).transpose(1, 2) for t in (q, k, v))  # [B, H, T, D/H]
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()                  # [T, T]
        mask = causal if attention_mask is None else causal & attention_mask[:, None, None, :].bool()  # [B, 1, T, T]
        mask = mask | torch.eye(T, dtype=torch.bool, device=x.device)  # a padding query sees itself, not nothing
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)                  # [B, H, T, D/H]
        x = x + self.proj(attended.transpose(1, 2).reshape(B, T, D))
        return x + self.mlp(self.ln2(x))


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

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T = ids.shape
        x = self.tokens(ids) + self.positions(torch.arange(T, device=ids.device))           # [B, T, D]
        for block in self.blocks:
            x = block(x, attention_mask)
        x = self.ln(x)
        if self.scalar is not None:
            return self.scalar(x).squeeze(-1)                                                # [B, T]
        return x @ self.tokens.weight.T                                                      # [B, T, V]

    def meta(self) -> dict:
        return {"config": asdict(self.config), "head": self.head_kind}
