"""Generation with and without the key/value cache (issue 18): 64 new tokens from a tiny random GPT-2
(Hugging Face, its own cache) and from rung's tiny GPT, the same prompts and seed, alternating runs,
median over several; the row goes to docs/benchmarks.md.

    python benchmarks/kv_cache.py [--repeats 5] [--batch 16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import torch
from report import append_row

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rung.rlhf.hf import HFCausalLM  # noqa: E402
from rung.rlhf.model import GPT, GPTConfig  # noqa: E402
from rung.rlhf.pretrain import generate, left_pad  # noqa: E402
from rung.rlhf.tokenizer import WordTokenizer  # noqa: E402
from tests.unit.test_rlhf_model import generate_without_cache  # noqa: E402

NEW_TOKENS = 64


def models(tokenizer) -> dict:
    vocab = len(tokenizer)
    import transformers

    torch.manual_seed(0)
    gpt2 = transformers.GPT2Config(vocab_size=vocab, n_positions=128, n_embd=64, n_layer=2, n_head=2,
                                     bos_token_id=tokenizer.bos_id, eos_token_id=tokenizer.eos_id)
    return {"tiny random GPT-2 (2 × 64)": HFCausalLM(transformers.GPT2LMHeadModel(gpt2)),
            "rung tiny GPT (2 × 64)": GPT(GPTConfig(vocab_size=vocab, context=128))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tokenizer = WordTokenizer()
    prompts = left_pad([tokenizer.encode(p, eos=False) for p in ["the movie", "the food was"] * (args.batch // 2)],
                       tokenizer.pad_id)
    for name, model in models(tokenizer).items():
        times = {"cache": [], "no cache": []}
        for _ in range(args.repeats):
            for label, fn in (("cache", generate), ("no cache", generate_without_cache)):
                start = time.perf_counter()
                ids = fn(model, tokenizer, prompts, NEW_TOKENS, generator=torch.Generator().manual_seed(0))
                times[label].append(time.perf_counter() - start)
        cached, uncached = statistics.median(times["cache"]), statistics.median(times["no cache"])
        row = (f"| {date.today()} | {name} | {args.batch} | {ids.shape[1] - prompts.shape[1]} | {cached * 1e3:.0f} ms | "
               f"{uncached * 1e3:.0f} ms | {uncached / cached:.1f}× |")
        print(row)
        append_row("Generation with the key/value cache (issue 18)",
                   f"Command: `python benchmarks/kv_cache.py --repeats {args.repeats} --batch {args.batch}`; one torch "
                   "thread, medians of alternating runs, the same tokens both ways (tests/unit/test_rlhf_*.py).",
                   ["date", "model", "batch", "new tokens", "with cache", "without", "speed-up"], row)


if __name__ == "__main__":
    main()
