"""Hugging Face models as the RLHF policy (`pip install 'rung[hf]'`): any `AutoModelForCausalLM` with
its tokenizer, from a local directory (nothing is downloaded), behind the same two small interfaces
as rung's own GPT and WordTokenizer (rung.rlhf.model.CausalLM, rung.rlhf.tokenizer.Tokenizer), so
pretraining (here: supervised fine-tuning), the reward model, PPO, GRPO, RLOO and best-of-n all run
unchanged. Reward and value models are the policy's transformer (`base_model`) with a scalar head,
so they read the policy's own tokens.

LoRA (`pip install 'rung[lora]'`, peft): `with_lora(policy, r)` freezes the weights and trains low-rank
adapters W + (α/r)·B·A in their place (Hu et al. 2021). Then the reference policy is the same weights
with the adapters switched off and the value model a scalar head on the same trunk with adapters of its
own: one copy of the base weights for policy, π_ref and V (rung.rlhf.model.policy_and_reference).
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from rung.errors import RungError
from rung.rlhf.model import positions_from

PAD_TOKEN = "<pad>"
MERGED_DIR = "merged"   # a LoRA stage's policy with its adapters merged in, for the next stage
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
        backbone = copy.deepcopy(self.model.base_model)
        with torch.device(next(backbone.parameters()).device):
            return HFScalarModel(backbone, self.context)

    def save(self, directory: str | Path) -> None:
        self.model.save_pretrained(str(directory))   # safetensors


class LoRACausalLM(HFCausalLM):
    """A Hugging Face policy whose frozen weights carry LoRA adapters: "default" (the policy) and, once
    `value_model` is asked for, "value". Each forward switches on the adapter it needs."""

    ADAPTER = "default"

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        self.model.set_adapter(self.ADAPTER)
        return super().forward(ids, attention_mask)

    def next_logits(self, new_ids: torch.Tensor, attention_mask: torch.Tensor, cache=None) -> tuple[torch.Tensor, object]:
        self.model.set_adapter(self.ADAPTER)
        return super().next_logits(new_ids, attention_mask, cache)

    def trainable(self) -> nn.ParameterList:
        """The policy adapter's parameters: all the optimiser sees."""
        return adapter_parameters(self.model, self.ADAPTER)

    def without_adapters(self) -> "AdaptersOff":
        return AdaptersOff(self)

    def value_model(self) -> "LoRAScalarModel":
        """V(s): a scalar head on this model's trunk, through adapters of its own (same rank)."""
        self.model.add_adapter(LoRAScalarModel.ADAPTER, copy.deepcopy(self.model.peft_config[self.ADAPTER]))
        return LoRAScalarModel(self)

    def with_scalar_head(self) -> "HFScalarModel":
        raise RungError("a LoRA policy's scalar models share its trunk: use value_model()")

    def save(self, directory: str | Path) -> None:
        """The adapters as peft saves them (adapter_config.json, adapter_model.safetensors; "value" in
        value/), the base weights merged in beside them as a plain Hugging Face model."""
        self.model.save_pretrained(str(directory))
        merged = copy.deepcopy(self.model)
        merged.set_adapter(self.ADAPTER)
        merged.merge_and_unload().save_pretrained(str(Path(directory) / MERGED_DIR))


class AdaptersOff(nn.Module):
    """π_ref of a LoRA policy: the same model with every adapter switched off (no copy of the weights)."""

    def __init__(self, policy: LoRACausalLM):
        super().__init__()
        self.policy, self.context = policy, policy.context   # the same module, its weights shared, not copied

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        with self.policy.model.disable_adapter():
            return HFCausalLM.forward(self.policy, ids, attention_mask)

    def next_logits(self, new_ids: torch.Tensor, attention_mask: torch.Tensor, cache=None) -> tuple[torch.Tensor, object]:
        with self.policy.model.disable_adapter():
            return HFCausalLM.next_logits(self.policy, new_ids, attention_mask, cache)


class LoRAScalarModel(nn.Module):
    """A scalar head on a LoRA policy's trunk, read through the "value" adapter: V per position [B, T]."""

    ADAPTER = "value"

    def __init__(self, policy: LoRACausalLM):
        super().__init__()
        self.policy, self.context = policy, policy.context   # the same module, its weights shared, not copied
        self.scalar = nn.Linear(policy.model.config.hidden_size, 1, device=next(policy.parameters()).device)
        nn.init.normal_(self.scalar.weight, std=0.02)
        nn.init.zeros_(self.scalar.bias)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        model = self.policy.model
        model.set_adapter(self.ADAPTER)
        mask = torch.ones_like(ids) if attention_mask is None else attention_mask.long()
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions_from(mask), output_hidden_states=True)
        return self.scalar(out.hidden_states[-1]).squeeze(-1)

    def trainable(self) -> nn.ParameterList:
        return nn.ParameterList([*adapter_parameters(self.policy.model, self.ADAPTER), *self.scalar.parameters()])


def adapter_parameters(model: nn.Module, adapter: str) -> nn.ParameterList:
    return nn.ParameterList([p for name, p in model.named_parameters() if f".{adapter}." in name])


def with_lora(policy: HFCausalLM, r: int, alpha: float | None = None) -> LoRACausalLM:
    """The policy with its weights frozen and LoRA adapters of rank r (scale α/r, α default 2r) on the
    linear layers of the transformer ("all-linear": attention and MLP, not the output head); B = 0 at
    the start, so it is still the policy it was. The embeddings and LayerNorms stay frozen, so LoRA
    steers a pretrained model: a freshly initialised one (logits near uniform) barely moves."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise RungError("LoRA needs peft: pip install 'rung[lora]'") from None
    if isinstance(policy, LoRACausalLM) or not isinstance(policy, HFCausalLM):
        raise RungError("LoRA adapters go on a Hugging Face policy without adapters (rung's tiny GPT trains in full)")
    if not isinstance(r, int) or r <= 0 or (alpha is not None and not alpha > 0):
        raise RungError(f"LoRA needs a positive integer rank r and a positive alpha, got r={r!r}, alpha={alpha!r}")
    config = LoraConfig(r=r, lora_alpha=alpha or 2 * r, lora_dropout=0.0, target_modules="all-linear",
                        task_type="CAUSAL_LM")
    return LoRACausalLM(get_peft_model(policy.model, config))


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
    AutoModelForCausalLM, or (with scalar_head.safetensors beside it) a reward/value model; a LoRA
    stage's directory gives its policy with the adapters merged in (MERGED_DIR)."""
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
        merged = directory / MERGED_DIR
        model = AutoModelForCausalLM.from_pretrained(str(merged if merged.is_dir() else directory), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise RungError(f"cannot load a Hugging Face model from {directory}: {exc}") from None
    return wrap(model, tokenizer)
