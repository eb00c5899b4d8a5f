"""Hugging Face models as the RLHF policy (`pip install 'rung[hf]'`): any `AutoModelForCausalLM` with
its tokenizer, from a local directory (nothing is downloaded), behind the same two small interfaces
as rung's own GPT and WordTokenizer (rung.rlhf.model.CausalLM, rung.rlhf.tokenizer.Tokenizer), so
pretraining (here: supervised fine-tuning), the reward model, PPO, GRPO, RLOO and best-of-n all run
unchanged. Reward and value models are the policy's transformer (`base_model`) with a scalar head,
so they read the policy's own tokens.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from rung.errors import RungError
from rung.rlhf.model import positions_from

PAD_TOKEN = "<pad>"
SCALAR_HEAD_FILE = "scalar_head.safetensors"


def context_of(config) -> int:
    """The longest sequence a Hugging Face model reads (GPT-2 calls it n_positions)."""
    return getattr(config, "max_position_embeddings", None) or config.n_positions


class HFTokenizer:
    """A Hugging Face tokenizer as rung.rlhf.tokenizer.Tokenizer."""

    def __init__(self, tokenizer):
        if tokenizer.eos_token_id is None:
            raise RungError("the tokenizer has no eos token: a response could never end")
        if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
            raise RungError("the tokenizer needs a pad token distinct from eos (rung.rlhf.hf.load adds one)")
        self.tokenizer = tokenizer
        self.pad_id, self.eos_id, self.bos_id = tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id

    def __len__(self) -> int:
        return len(self.tokenizer)

    def encode(self, text: str, bos: bool = True, eos: bool = True) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ([self.bos_id] if bos and self.bos_id is not None else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids) -> str:
        """The text up to the first <eos> after a leading <bos> (GPT-2 uses one token for both)."""
        ids = [int(i) for i in ids if int(i) != self.pad_id]
        if ids and self.bos_id is not None and ids[0] == self.bos_id:
            ids = ids[1:]
        if self.eos_id in ids:
            ids = ids[:ids.index(self.eos_id)]
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    def decode_batch(self, ids) -> list[str]:
        return [self.decode(row) for row in ids]

    def save(self, directory: str | Path) -> None:
        self.tokenizer.save_pretrained(str(directory))


class HFCausalLM(nn.Module):
    """An AutoModelForCausalLM as rung.rlhf.model.CausalLM: forward(ids, mask) → logits [B, T, V],
    positions counted over real tokens (left-padded prompts), dropout off (PPO's ratio must be 1
    before the first update)."""

    def __init__(self, model):
        super().__init__()
        self.model, self.context = model.eval(), context_of(model.config)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = torch.ones_like(ids) if attention_mask is None else attention_mask.long()
        return self.model(input_ids=ids, attention_mask=mask, position_ids=positions_from(mask)).logits

    def next_logits(self, new_ids: torch.Tensor, attention_mask: torch.Tensor, cache=None) -> tuple[torch.Tensor, object]:
        """rung.rlhf.model.CausalLM.next_logits with the model's own cache."""
        mask = attention_mask.long()
        out = self.model(input_ids=new_ids, attention_mask=mask, position_ids=positions_from(mask)[:, -new_ids.shape[1]:],
                         cache=cache, use_cache=True)
        return out.logits[:, -1], out.cache

    def with_scalar_head(self) -> "HFScalarModel":
        return HFScalarModel(copy.deepcopy(self.model.base_model), self.context)

    def save(self, directory: str | Path) -> None:
        self.model.save_pretrained(str(directory))   # safetensors


class HFScalarModel(nn.Module):
    """The policy's transformer with a scalar head: a value per position [B, T] (reward at <eos>, V)."""

    def __init__(self, backbone: nn.Module, context: int):
        super().__init__()
        self.backbone, self.context = backbone.eval(), context
        self.scalar = nn.Linear(backbone.config.hidden_size, 1)
        nn.init.normal_(self.scalar.weight, std=0.02)
        nn.init.zeros_(self.scalar.bias)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = torch.ones_like(ids) if attention_mask is None else attention_mask.long()
        hidden = self.backbone(input_ids=ids, attention_mask=mask, position_ids=positions_from(mask)).last_hidden_state
        return self.scalar(hidden).squeeze(-1)

    def save(self, directory: str | Path) -> None:
        """The transformer as Hugging Face saves it, and the head beside it."""
        from safetensors.torch import save_file

        self.backbone.save_pretrained(str(directory))
        save_file(self.scalar.state_dict(), str(Path(directory) / SCALAR_HEAD_FILE))


def wrap(model, tokenizer) -> tuple[HFCausalLM, HFTokenizer]:
    """A model and tokenizer already in memory. A tokenizer without a pad token (GPT-2's) gets
    "<pad>" added, and the model's embeddings grow by one row to match."""
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    return HFCausalLM(model), HFTokenizer(tokenizer)


def load(directory: str | Path) -> tuple[HFCausalLM | HFScalarModel, HFTokenizer]:
    """A model and its tokenizer from a local directory in `save_pretrained`'s layout: an
    AutoModelForCausalLM, or (with scalar_head.safetensors beside it) a reward/value model."""
    try:
        from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging
    except ImportError:
        raise RungError("Hugging Face models need transformers: pip install 'rung[hf]'") from None
    logging.disable_progress_bar()   # rung prints its own lines; loading and saving a small model is quick
    directory = Path(directory)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        if (directory / SCALAR_HEAD_FILE).is_file():
            from safetensors.torch import load_file

            backbone = AutoModel.from_pretrained(str(directory), local_files_only=True)
            model = HFScalarModel(backbone, context_of(backbone.config))
            model.scalar.load_state_dict(load_file(str(directory / SCALAR_HEAD_FILE)))
            return model, HFTokenizer(tokenizer)
        model = AutoModelForCausalLM.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise RungError(f"cannot load a Hugging Face model from {directory}: {exc}") from None
    return wrap(model, tokenizer)
