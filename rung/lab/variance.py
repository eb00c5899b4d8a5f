"""The variance of the policy gradient, and what baselines do to it (the seed's step from REINFORCE to
actor-critic):

    ∇J(θ) = E[ Σ_t ∇log π_θ(a_t|s_t) · Ψ_t ]

    Ψ_t = G_t                 REINFORCE: unbiased, high variance
    Ψ_t = G_t − V(s_t)        with a baseline: still unbiased (E[∇log π · b(s)] = 0), less variance
    Ψ_t = Â_t (GAE, λ 0.95)   the TD/GAE advantage: bootstraps from V, a little bias, less variance again

Experiment: policy snapshots of PPO on CartPole (trained for a few budgets; each snapshot's own critic
is V). For each snapshot, `estimates` independent gradient estimates per estimator, each from the
same number of episodes (sampled once and shared by the three estimators, so they differ only in Ψ);
per estimator the total variance tr Cov[ĝ] and the angle between its mean and a reference gradient —
the baseline estimator averaged over a separate, much larger set of episodes.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from rung.envs import make_vec_env
from rung.lab.common import claim, figure, save_figure, train
from rung.returns import discounted_returns, gae

ENV_ID = "CartPole-v1"
GAMMA, LAM = 0.99, 0.95
ESTIMATORS = ("G", "G - V", "GAE")


def sample_episodes(policy, n: int, seed: int) -> list[dict]:
    """n complete episodes of the stochastic policy (64 env copies side by side)."""
    env = make_vec_env(ENV_ID, min(n, 64))
    generator = torch.Generator().manual_seed(seed)
    obs = env.reset(seed=seed)
    current = [{"obs": [], "actions": [], "rewards": []} for _ in range(env.num_envs)]
    episodes = []
    while len(episodes) < n:
        with torch.no_grad():
            dist, _ = policy(torch.as_tensor(obs))
            probs = dist.probs
        actions = torch.multinomial(probs, 1, generator=generator).squeeze(1).numpy()
        next_obs, rewards, terminated, truncated, valid = env.step(actions)
        for i in np.flatnonzero(valid):
            current[i]["obs"].append(obs[i])
            current[i]["actions"].append(actions[i])
            current[i]["rewards"].append(rewards[i])
            if terminated[i] or truncated[i]:
                episodes.append({"obs": np.array(current[i]["obs"], np.float32), "actions": np.array(current[i]["actions"]),
                                 "rewards": np.array(current[i]["rewards"], np.float32), "terminated": bool(terminated[i]),
                                 "final_obs": next_obs[i].astype(np.float32)})
                current[i] = {"obs": [], "actions": [], "rewards": []}
        obs = next_obs
    env.close()
    return episodes[:n]


def psi(policy, episode: dict) -> dict[str, np.ndarray]:
    """Ψ_t of each estimator for one episode [L]. Truncation bootstraps from V(final obs) for the two
    critic-based estimators; plain G is the Monte Carlo return of what happened."""
    with torch.no_grad():
        _, values = policy(torch.as_tensor(episode["obs"]))
        _, final_value = policy(torch.as_tensor(episode["final_obs"][None]))
    values = values.numpy().reshape(-1, 1)                                          # [L, 1]
    L = len(values)
    terminated = np.zeros((L, 1), bool)
    truncated = np.zeros((L, 1), bool)
    terminated[-1] = episode["terminated"]
    truncated[-1] = not episode["terminated"]
    rewards = episode["rewards"][:, None]
    next_values = np.concatenate([values[1:], final_value.numpy().reshape(1, 1)])
    monte_carlo = discounted_returns(rewards, np.zeros_like(next_values), terminated, np.zeros_like(truncated), GAMMA)
    bootstrapped = discounted_returns(rewards, next_values, terminated, truncated, GAMMA)
    advantages, _ = gae(rewards, values, next_values, terminated, truncated, GAMMA, LAM)
    return {"G": monte_carlo[:, 0], "G - V": (bootstrapped - values)[:, 0], "GAE": advantages[:, 0]}


def gradients(policy, episodes: list[dict]) -> dict[str, np.ndarray]:
    """One estimate per estimator from a batch of episodes: (1/B) Σ_episodes Σ_t ∇log π(a_t|s_t) Ψ_t,
    flattened over every parameter of π."""
    obs = torch.as_tensor(np.concatenate([e["obs"] for e in episodes]))
    actions = torch.as_tensor(np.concatenate([e["actions"] for e in episodes]))
    weights = [psi(policy, e) for e in episodes]
    params = [p for p in policy.parameters() if p.requires_grad]
    dist, _ = policy(obs)
    logp = dist.log_prob(actions)                                                   # [ΣL]
    out = {}
    for name in ESTIMATORS:
        weight = torch.as_tensor(np.concatenate([w[name] for w in weights]))
        grads = torch.autograd.grad((logp * weight).sum() / len(episodes), params, retain_graph=True, allow_unused=True)
        out[name] = torch.cat([g.reshape(-1) for g in grads if g is not None]).numpy()
    return out


def angle(a: np.ndarray, b: np.ndarray) -> float:
    cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


def run(out, seeds: int, quick: bool) -> tuple[dict, list[dict], list[str]]:
    budgets = [4096] if quick else [4096, 12288, 30720]
    estimates, batch = (20, 4) if quick else (60, 8)
    reference_episodes = 200 if quick else 1500
    snapshots = {}
    for seed in range(seeds):
        for budget in budgets:
            agent = train("ppo", ENV_ID, budget, seed, eval_episodes=5)
            policy = agent.policy
            episodes = sample_episodes(policy, estimates * batch, seed=10_000 + seed)
            samples = {name: [] for name in ESTIMATORS}
            for k in range(estimates):
                for name, g in gradients(policy, episodes[k * batch:(k + 1) * batch]).items():
                    samples[name].append(g)
            reference = np.mean([gradients(policy, chunk)["G - V"] for chunk in
                                 np.array_split(sample_episodes(policy, reference_episodes, seed=20_000 + seed),
                                                max(1, reference_episodes // 50))], axis=0)
            stats = {}
            for name in ESTIMATORS:
                g = np.array(samples[name])                                           # [estimates, P]
                stats[name] = {"variance": float(g.var(axis=0, ddof=1).sum()), "angle": angle(g.mean(0), reference)}
            snapshots[f"seed {seed}, {budget} steps"] = {
                "budget": budget, "seed": seed, "mean_episode_length": float(np.mean([len(e["rewards"]) for e in episodes])),
                **stats}

    def ratio(name):
        return [s[name]["variance"] / s["G"]["variance"] for s in snapshots.values()]

    claims = [
        claim("A baseline cuts the variance: tr Cov of the G − V estimator ≤ ⅕ of plain G's, on every snapshot",
              max(ratio("G - V")) <= 0.2, ratios=ratio("G - V")),
        claim("The GAE advantage cuts it too: ≤ ⅕ of plain G's, on every snapshot",
              max(ratio("GAE")) <= 0.2, ratios=ratio("GAE")),
        claim("…without pointing further from the reference gradient: their mean's angle to it is no larger "
              "than plain G's, on every snapshot",
              all(s[n]["angle"] <= s["G"]["angle"] for s in snapshots.values() for n in ("G - V", "GAE")),
              angles={k: {n: s[n]["angle"] for n in ESTIMATORS} for k, s in snapshots.items()}),
    ]
    numbers = {"budgets": budgets, "estimates": estimates, "episodes_per_estimate": batch,
               "reference_episodes": reference_episodes, "snapshots": snapshots}

    fig, axes = figure(1, 2)
    labels = list(snapshots)
    x = np.arange(len(labels))
    for i, name in enumerate(ESTIMATORS):
        axes[0].bar(x + (i - 1) * 0.27, [s[name]["variance"] for s in snapshots.values()], 0.27, label=name)
        axes[1].bar(x + (i - 1) * 0.27, [s[name]["angle"] for s in snapshots.values()], 0.27, label=name)
    axes[0].set(title=f"tr Cov[ĝ], {batch} episodes per estimate", yscale="log")
    axes[1].set(title="angle between E[ĝ] and the reference (degrees)")
    for ax in axes:
        ax.set_xticks(x, labels, rotation=20, fontsize=7)
        ax.legend(fontsize=7)
    return numbers, claims, [save_figure(fig, out, "variance.png")]
