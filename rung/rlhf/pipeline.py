"""The whole RLHF pipeline as run directories, one per stage, each with a `summary.json`:

    DIR/base/          the pretrained policy (model.safetensors + model.json), summary: loss, grammatical
    DIR/reward_model/  summary: heldout_accuracy against gold labels
    DIR/ppo/, DIR/grpo/, DIR/rloo/  metrics.csv (TRL's names), samples.jsonl (a completion every 5
                       updates), summary: gold_before, gold_after, proxy_before, proxy_after, kl,
                       grammatical, samples
    DIR/best_of_16/    summary: gold, proxy, kl (closed form)

`rung rlhf demo` runs it and prints the table base vs best-of-n vs PPO vs GRPO vs RLOO.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from rung.rlhf import critic_free, ppo
from rung.rlhf.data import corpus
from rung.rlhf.gold import gold_score
from rung.rlhf.model import GPT, GPTConfig
from rung.rlhf.pretrain import pretrain, sample
from rung.rlhf.reward import pairwise_accuracy, preference_pairs, scores, train_reward_model
from rung.rlhf.tokenizer import WordTokenizer
from rung.runs import create_run_dir, write_json

BEST_OF = 16


def save_model(model: GPT, tokenizer: WordTokenizer, directory: Path) -> None:
    save_file(model.state_dict(), str(directory / "model.safetensors"))
    write_json(directory / "model.json", {**model.meta(), "words": tokenizer.vocab[4:]})


def load_model(directory: str | Path) -> tuple[GPT, WordTokenizer]:
    directory = Path(directory)
    meta = json.loads((directory / "model.json").read_text())
    model = GPT(GPTConfig(**meta["config"]), head=meta["head"])
    model.load_state_dict(load_file(str(directory / "model.safetensors")))
    return model, WordTokenizer(tuple(meta["words"]))


def write_metrics(directory: Path, rows: list[dict], sample_every: int = 5) -> None:
    """metrics.csv (the numbers of every update) and samples.jsonl (a completion every
    `sample_every` updates)."""
    numbers = [{k: v for k, v in row.items() if k != "sample"} for row in rows]
    with open(directory / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, list(numbers[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(numbers)
    with open(directory / "samples.jsonl", "w") as f:
        for row in rows[::sample_every]:
            f.write(json.dumps({"update": row["update"], "sample": row["sample"]}) + "\n")


def policy_summary(before: dict, after: dict) -> dict:
    return {"gold_before": before["gold"], "gold_after": after["gold"], "proxy_before": before["proxy"],
            "proxy_after": after["proxy"], "kl": after["kl"], "grammatical": after["grammatical"],
            "samples": after["samples"]}


def demo(run_dir: str | Path, seed: int = 0, say=print) -> list[dict]:
    """Every stage in order; returns the table's rows."""
    root = create_run_dir(run_dir)
    torch.manual_seed(seed)
    tok = WordTokenizer()

    say("pretraining the base policy …")
    base, losses = pretrain(corpus(5000, seed=seed), tok, steps=600, seed=seed)
    stage = create_run_dir(root / "base")
    save_model(base, tok, stage)
    _, texts = sample(base, tok, 200, generator=torch.Generator().manual_seed(seed))
    from rung.rlhf.data import is_grammatical

    write_json(stage / "summary.json", {"final_loss": float(np.mean(losses[-50:])),
                                        "grammatical": float(np.mean([is_grammatical(t) for t in texts]))})

    say("labelling preferences with the gold judge and training the reward model …")
    pairs, heldout = preference_pairs(base, tok, 6000, seed=seed + 1), preference_pairs(base, tok, 1000, seed=seed + 2)
    reward_model, rm_losses = train_reward_model(base, tok, pairs, seed=seed)
    stage = create_run_dir(root / "reward_model")
    save_model(reward_model, tok, stage)
    write_json(stage / "summary.json", {"heldout_accuracy": pairwise_accuracy(reward_model, tok, heldout),
                                        "pairs": len(pairs), "final_loss": float(np.mean(rm_losses[-20:]))})
    reward = lambda texts: scores(reward_model, tok, texts).detach()  # noqa: E731

    before = ppo.evaluate_policy(base, base, reward_model, tok)
    rows = [{"policy": "base", "gold": before["gold"], "proxy": before["proxy"], "kl": 0.0,
             "sample": before["samples"][0]}]

    say(f"best-of-{BEST_OF} …")
    rng = random.Random(seed + 3)
    prompt_ids = ppo.prompts(ppo.HELDOUT_NOUNS, 128, rng, tok)
    best = critic_free.best_of_n(base, reward, tok, prompt_ids, BEST_OF, generator=torch.Generator().manual_seed(seed))
    stage = create_run_dir(root / f"best_of_{BEST_OF}")
    summary = {"gold": float(np.mean([gold_score(t) for t in best])), "proxy": float(reward(best).mean()),
               "kl": critic_free.best_of_n_kl(BEST_OF), "samples": best[:4]}
    write_json(stage / "summary.json", summary)
    rows.append({"policy": f"best-of-{BEST_OF}", "gold": summary["gold"], "proxy": summary["proxy"],
                 "kl": summary["kl"], "sample": best[0]})

    for name in ("ppo", "grpo", "rloo"):
        say(f"{name.upper()} against the reward model …")
        if name == "ppo":
            policy, history = ppo.train(base, reward_model, tok, ppo.LMPPOConfig(seed=seed))
        else:
            policy, history = critic_free.train(base, reward, tok, critic_free.GroupConfig(method=name, seed=seed))
        after = ppo.evaluate_policy(policy, base, reward_model, tok)
        stage = create_run_dir(root / name)
        save_model(policy, tok, stage)
        write_metrics(stage, history)
        write_json(stage / "summary.json", policy_summary(before, after))
        rows.append({"policy": name.upper(), "gold": after["gold"], "proxy": after["proxy"], "kl": after["kl"],
                     "sample": after["samples"][0]})
    write_json(root / "summary.json", {"table": rows})
    return rows
