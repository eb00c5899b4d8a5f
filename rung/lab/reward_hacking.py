"""Reward hacking: optimising a learned reward model (the proxy) too hard makes the true objective
(the gold judge) worse (the seed's RLHF warning; Gao, Schulman & Hilton 2023, "Scaling laws for reward
model overoptimization").

Setup: rung.rlhf's review language. A base policy, a reward model trained on gold-labelled
preferences of its samples, then
- PPO for many updates with β = 0 (no KL penalty), a small fixed β, and the adaptive KL controller,
  logging per update the proxy score, the gold score of the same samples, and KL(π‖π_ref);
- best-of-n against the proxy for n = 1 … 256 (KL = log n − (n − 1)/n, no training);
- DPO on the reward model's own preference pairs, no reward model, for β from 1 down to 0.01 and
  several epochs: the gold score, KL and the accuracy of its implicit reward β·log π/π_ref on
  held-out gold pairs after each epoch. DPO has no proxy to run up, but its implicit reward is one:
  with small β the policy keeps moving to widen the margins long after the gold score has peaked.

Gao et al.'s functional forms for the gold gain R over the base policy, with d = √KL:
    best-of-n:  R(d) = d (α − β d)          RL:  R(d) = d (α − β log d)
Both are linear in (α, β), fitted here by least squares, and reported with R².
"""

from __future__ import annotations

import random

import numpy as np
import torch

from rung.lab.common import claim, figure, save_figure
from rung.rlhf import critic_free, dpo, ppo
from rung.rlhf.data import corpus
from rung.rlhf.gold import gold_scores
from rung.rlhf.model import seeded_generator
from rung.rlhf.pretrain import generate, pretrain
from rung.rlhf.reward import model_reward, pairwise_accuracy, preference_pairs, train_reward_model
from rung.rlhf.tokenizer import WordTokenizer


def smooth(values, width: int) -> np.ndarray:
    """Moving average over the last `width` updates (fewer at the start), the length of `values`: the
    gold of one batch of 64 samples is noisy."""
    values = np.asarray(values, dtype=float)
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - width, 0)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


def fit(d: np.ndarray, gain: np.ndarray, form: str) -> dict:
    """Least squares for R = α·d − β·d² (best-of-n) or R = α·d − β·d·log d (RL)."""
    second = d ** 2 if form == "bon" else d * np.log(np.maximum(d, 1e-12))
    design = np.stack([d, -second], axis=1)
    (alpha, beta), *_ = np.linalg.lstsq(design, gain, rcond=None)
    predicted = design @ np.array([alpha, beta])
    r2 = 1 - ((gain - predicted) ** 2).sum() / max(((gain - gain.mean()) ** 2).sum(), 1e-12)
    return {"alpha": float(alpha), "beta": float(beta), "r2": float(r2)}


def best_of_n_curve(base, reward, tokenizer, ns: list[int], prompts: int, seed: int) -> dict:
    """Gold of the proxy's favourite among the first n samples of each prompt, for every n."""
    prompt_ids = ppo.review_prompts(tokenizer, ppo.HELDOUT_NOUNS)(random.Random(seed), prompts)
    n_max = max(ns)
    generator = seeded_generator(base, seed)
    texts = []
    for chunk in prompt_ids.split(16):
        ids = generate(base, tokenizer, chunk.repeat_interleave(n_max, 0), 16, generator=generator)
        texts += tokenizer.decode_batch(ids)
    proxy = reward(texts).view(prompts, n_max)
    gold = gold_scores(texts).view(prompts, n_max)
    out = {"n": ns, "kl": [critic_free.best_of_n_kl(n) for n in ns], "gold": [], "proxy": []}
    for n in ns:
        best = proxy[:, :n].argmax(1)
        out["gold"].append(float(gold[torch.arange(prompts), best].mean()))
        out["proxy"].append(float(proxy[torch.arange(prompts), best].mean()))
    return out


def dpo_curve(base, tokenizer, pairs, heldout, beta: float, epochs: int, seed: int) -> dict:
    """DPO from `base` at this β: gold, KL, grammatical fraction and implicit-reward accuracy on the
    held-out pairs at the start and after each epoch."""
    curve = {"epoch": [], "gold": [], "kl": [], "grammatical": [], "implicit_accuracy": []}

    def record(epoch, policy):
        result = ppo.evaluate_policy(policy, base, None, tokenizer, n=128)
        for key, value in (("epoch", epoch), ("gold", result["gold"]), ("kl", result["kl"]),
                           ("grammatical", result["grammatical"]),
                           ("implicit_accuracy", dpo.implicit_accuracy(policy, base, tokenizer, heldout, beta))):
            curve[key].append(value)
    record(0, base)
    config = dpo.DPOConfig(beta=beta, epochs=epochs, rpo_alpha=0.0, seed=seed)   # DPO's loss alone, no NLL anchor
    dpo.train(base, tokenizer, pairs, config, after_epoch=record)
    return curve


def dpo_claim(dpo_runs: dict, epochs: int) -> dict:
    """The smallest β ends with less gold than the largest, after a gold peak it has left behind,
    while its implicit reward still ranks held-out gold pairs better than chance."""
    small, large = min(dpo_runs), max(dpo_runs)
    end = {beta: float(np.mean([r["gold"][-1] for r in rs])) for beta, rs in dpo_runs.items()}
    peak = float(np.mean([max(r["gold"]) for r in dpo_runs[small]]))
    accuracy = float(np.mean([r["implicit_accuracy"][-1] for r in dpo_runs[small]]))
    kl = {beta: float(np.mean([r["kl"][-1] for r in rs])) for beta, rs in dpo_runs.items()}
    return claim(f"DPO over-optimises as β shrinks: after {epochs} epochs the gold score at β = {small:g} is below "
                 f"β = {large:g}'s and below its own peak, while its implicit reward still ranks held-out gold "
                 f"pairs better than chance", end[small] < end[large] and end[small] < peak - 0.1 and accuracy > 0.5,
                 gold_end=end, gold_peak_small_beta=peak, implicit_accuracy_small_beta=accuracy, kl_end=kl)


def run(out, seeds: int, quick: bool) -> tuple[dict, list[dict], list[str]]:
    tokenizer = WordTokenizer()
    torch.manual_seed(0)
    base, _ = pretrain(corpus(5000, seed=0), tokenizer, steps=300 if quick else 600, seed=0)
    pairs = preference_pairs(base, tokenizer, 1000 if quick else 6000, seed=1)
    reward_model, _ = train_reward_model(base, tokenizer, pairs, seed=0)
    heldout = preference_pairs(base, tokenizer, 500, seed=2)
    accuracy = pairwise_accuracy(reward_model, tokenizer, heldout)
    reward = model_reward(reward_model, tokenizer)

    updates = 15 if quick else 120
    settings = {"beta=0": {"beta": 0.0}, "beta=0.05": {"beta": 0.05},
                "adaptive": {"beta": 0.05, "adaptive_kl": True, "target_kl": 2.0}}
    runs = {}
    for name, values in settings.items():
        runs[name] = []
        for seed in range(seeds):
            config = ppo.LMPPOConfig(updates=updates, seed=seed, **values)
            _, history = ppo.train(base, reward, tokenizer, config, value_model=reward_model, judge=gold_scores)
            runs[name].append({"proxy": [r["objective/scores"] for r in history], "gold": [r["gold/mean"] for r in history],
                               "kl": [max(r["objective/kl"], 0.0) for r in history], "samples": [r["sample"] for r in history]})

    betas, epochs = ([1.0, 0.01], 1) if quick else ([1.0, 0.1, 0.01], 6)
    dpo_runs = {beta: [dpo_curve(base, tokenizer, pairs, heldout, beta, epochs, seed) for seed in range(seeds)]
                for beta in betas}

    ns = [1, 2, 4, 8, 16] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256]
    bon = best_of_n_curve(base, reward, tokenizer, ns, 32 if quick else 128, seed=3)
    bon_d = np.sqrt(np.array(bon["kl"]))
    bon_fit = fit(bon_d, np.array(bon["gold"]) - bon["gold"][0], "bon")

    # β = 0, seed 0: where gold peaks, and what the policy writes there and at the end
    width = 3 if quick else 10
    hack = runs["beta=0"][0]
    gold_smooth, proxy_smooth = smooth(hack["gold"], width), smooth(hack["proxy"], width)
    peak = int(gold_smooth.argmax())
    rl_d = np.sqrt(np.array(hack["kl"]))
    rl_fit = fit(rl_d, np.array(hack["gold"]) - hack["gold"][0], "rl")
    numbers = {"reward_model_accuracy": accuracy, "updates": updates, "settings": settings, "runs": runs,
               "dpo": {"epochs": epochs, "runs": {str(beta): rs for beta, rs in dpo_runs.items()}},
               "best_of_n": bon, "fit_best_of_n": bon_fit, "fit_rl_beta0": rl_fit,
               "beta0": {"gold_start": float(hack["gold"][0]), "gold_peak": float(gold_smooth[peak]), "gold_peak_update": peak,
                         "gold_end": float(gold_smooth[-1]), "proxy_at_peak": float(proxy_smooth[peak]),
                         "proxy_end": float(proxy_smooth[-1]), "sample_at_peak": hack["samples"][peak],
                         "sample_end": hack["samples"][-1]}}
    b0 = numbers["beta0"]
    final_gold = {name: float(np.mean([np.mean(r["gold"][-width:]) for r in rs])) for name, rs in runs.items()}
    final_kl = {name: float(np.mean([np.mean(r["kl"][-width:]) for r in rs])) for name, rs in runs.items()}
    claims = [
        claim("With β = 0 the proxy keeps rising while the gold score peaks and then falls (reward hacking)",
              b0["gold_peak"] >= b0["gold_start"] + 0.1 and b0["gold_peak_update"] < updates - width
              and b0["gold_end"] < b0["gold_peak"] - 0.2 and b0["proxy_end"] >= b0["proxy_at_peak"], **b0),
        claim("A KL penalty holds the policy closer to the reference: the final KL is smaller with β = 0.05 than with β = 0",
              final_kl["beta=0.05"] < final_kl["beta=0"], final_kl=final_kl),
        claim("…and keeps more of the gold: the final gold score is higher with β = 0.05 than with β = 0",
              final_gold["beta=0.05"] > final_gold["beta=0"], final_gold=final_gold),
        claim("Best-of-n follows Gao et al.'s form R(d) = d(α − βd) (R² ≥ 0.8)", bon_fit["r2"] >= 0.8, **bon_fit),
        dpo_claim(dpo_runs, epochs),
    ]

    fig, axes = figure(1, 4)
    for i, (name, rs) in enumerate(runs.items()):
        for j, r in enumerate(rs):
            x = np.sqrt(np.array(r["kl"]))
            axes[0].plot(np.arange(len(r["gold"])), smooth(r["gold"], width), color=f"C{i}", alpha=1 if j == 0 else 0.4,
                         label=f"gold, {name}" if j == 0 else None)
            axes[1].plot(np.arange(len(r["proxy"])), smooth(r["proxy"], width), color=f"C{i}", alpha=1 if j == 0 else 0.4,
                         label=f"proxy, {name}" if j == 0 else None)
            axes[2].scatter(x, r["gold"], s=4, color=f"C{i}", alpha=0.5, label=f"PPO {name}" if j == 0 else None)
    grid = np.linspace(1e-3, max(rl_d.max(), bon_d.max()), 100)
    axes[2].plot(grid, hack["gold"][0] + grid * (rl_fit["alpha"] - rl_fit["beta"] * np.log(grid)), "C0--",
                 label=f"fit d(α − β log d), R² {rl_fit['r2']:.2f}")
    axes[2].plot(bon_d, bon["gold"], "ko-", ms=3, label="best-of-n, n = 1…" + str(ns[-1]))
    axes[2].plot(grid[grid <= bon_d.max()], bon["gold"][0] + grid[grid <= bon_d.max()]
                 * (bon_fit["alpha"] - bon_fit["beta"] * grid[grid <= bon_d.max()]), "k--", lw=0.8,
                 label=f"fit d(α − βd), R² {bon_fit['r2']:.2f}")
    axes[0].set(title="gold score during PPO (moving avg.)", xlabel="update", ylim=(-1.05, 1))
    axes[1].set(title="proxy (reward model) score during PPO", xlabel="update")
    axes[2].set(title="gold vs d = √KL", xlabel="√KL(π‖π_ref)", ylabel="gold score", ylim=(-1.05, 1))
    for i, (beta, rs) in enumerate(dpo_runs.items()):
        for j, r in enumerate(rs):
            axes[3].plot(np.sqrt(np.maximum(r["kl"], 0.0)), r["gold"], "o-", ms=3, color=f"C{i + 3}",
                         alpha=1 if j == 0 else 0.4, label=f"DPO β = {beta:g}" if j == 0 else None)
    axes[3].set(title=f"DPO: gold vs √KL, epochs 0…{epochs}", xlabel="√KL(π‖π_ref)", ylabel="gold score",
                ylim=(-1.05, 1))
    for ax in axes:
        ax.legend(fontsize=6)
    return numbers, claims, [save_figure(fig, out, "reward_hacking.png")]


