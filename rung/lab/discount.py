"""Discounting: how patient should an agent be? (the seed's question on γ)

    G_t = r_t + γ r_{t+1} + γ² r_{t+2} + …

A small γ makes the agent myopic; a large γ lets a distant reward count, at a price: the return then
sums more random future rewards, and a policy-gradient estimate built on it gets noisier.

Task (`Corridor` below): a corridor of 12 cells, start in cell 2. Walking left reaches a small reward
0.1 after 2 steps; walking right reaches 1.0 after 9 steps; either ends the episode (time limit 50).
From the start, right is better iff γ⁸ · 1 > γ · 0.1, i.e. γ > 0.1^(1/7) ≈ 0.72.

Measured for a grid of γ:
- success: does Q-learning's greedy policy (rung's qlearning, exact rollout) walk to the far reward?
- gradient variance: the REINFORCE estimate g = Σ_t ∇log π(a_t|s_t) · G_t for the uniform random
  policy (tabular softmax), from many single episodes: total variance tr Cov[g] and the relative
  variance tr Cov[g] / ‖E g‖².
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rung.lab.common import claim, figure, iqm_ci, save_figure, train
from rung.returns import discounted_returns

LENGTH, START, NEAR, FAR = 12, 2, 0.1, 1.0
ENV_ID = "rung.lab.discount:Corridor"
# the far reward comes after LENGTH−1−START = 9 steps, the near one after START = 2:
# right is better iff γ^8 · FAR > γ^1 · NEAR  ⇔  γ^7 > 0.1
THRESHOLD = (NEAR / FAR) ** (1 / ((LENGTH - 1 - START) - START))


class Corridor(gym.Env):
    """Cells 0 … LENGTH−1; action 0 left, 1 right; cell 0 pays NEAR, the last cell FAR; both end it."""

    observation_space = gym.spaces.Discrete(LENGTH)
    action_space = gym.spaces.Discrete(2)

    def __init__(self):
        self.spec = gym.envs.registration.EnvSpec("Corridor-v0", max_episode_steps=50)
        self.position = START

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position = START
        return self.position, {}

    def step(self, action):
        self.position += 1 if action == 1 else -1
        reward = NEAR if self.position == 0 else FAR if self.position == LENGTH - 1 else 0.0
        return self.position, reward, reward > 0, False, {}


def greedy_reaches_far(q: np.ndarray) -> bool:
    position = START
    for _ in range(LENGTH):
        position += 1 if q[position].argmax() == 1 else -1
        if position in (0, LENGTH - 1):
            return position == LENGTH - 1
    return False


def gradient_samples(gamma: float, episodes: int, rng: np.random.Generator) -> np.ndarray:
    """REINFORCE estimates g [episodes, LENGTH·2] for the uniform policy, one per episode (cut at 50
    steps like the env). For a tabular softmax, ∇_θ[s,·] log π(a|s) = onehot(a) − π(·|s)."""
    samples = np.zeros((episodes, LENGTH * 2))
    for i in range(episodes):
        states, actions, rewards = [], [], []
        position = START
        for _ in range(50):
            action = int(rng.integers(2))
            states.append(position)
            actions.append(action)
            position += 1 if action == 1 else -1
            rewards.append(NEAR if position == 0 else FAR if position == LENGTH - 1 else 0.0)
            if position in (0, LENGTH - 1):
                break
        T = len(rewards)
        terminated = np.zeros((T, 1), bool)
        terminated[-1] = rewards[-1] > 0
        G = discounted_returns(np.array(rewards, np.float32)[:, None], np.zeros((T, 1), np.float32), terminated,
                               np.zeros((T, 1), bool), gamma)[:, 0]
        for s, a, g in zip(states, actions, G):
            grad = -0.5 * np.ones(2)
            grad[a] += 1.0
            samples[i, 2 * s:2 * s + 2] += grad * g
    return samples


def run(out, seeds: int, quick: bool) -> tuple[dict, list[dict], list[str]]:
    gammas = [0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 0.99]
    steps = 20_000 if quick else 60_000
    episodes = 1_000 if quick else 10_000
    config = {"lr": 0.2, "lr_final": 0.0, "epsilon": 1.0, "epsilon_final": 0.1, "exploration_fraction": 0.5}
    success, variance, relative = {}, {}, {}
    for gamma in gammas:
        success[gamma] = [float(greedy_reaches_far(train("qlearning", ENV_ID, steps, seed, {**config, "gamma": gamma},
                                                         eval_episodes=1).q)) for seed in range(seeds)]
        g = gradient_samples(gamma, episodes, np.random.default_rng(0))
        variance[gamma] = float(g.var(axis=0).sum())
        relative[gamma] = variance[gamma] / float((g.mean(axis=0) ** 2).sum())
    patient = [gm for gm in gammas if gm > THRESHOLD]
    myopic = [gm for gm in gammas if gm < THRESHOLD]
    rate = {gm: iqm_ci(success[gm]) for gm in gammas}
    claims = [
        claim(f"Patient agents (γ > {THRESHOLD:.2f}) learn to walk to the distant reward, myopic ones take the near one",
              all(np.mean(success[gm]) >= 0.8 for gm in patient) and all(np.mean(success[gm]) <= 0.2 for gm in myopic),
              threshold=THRESHOLD, success_rate={str(gm): float(np.mean(success[gm])) for gm in gammas}),
        claim("Patience has a cost: the policy-gradient estimate's variance grows with γ",
              all(variance[a] < variance[b] for a, b in zip(gammas, gammas[1:])),
              variance={str(gm): variance[gm] for gm in gammas}),
    ]
    numbers = {"gammas": gammas, "threshold": THRESHOLD, "steps": steps, "episodes": episodes,
               "success": {str(gm): s for gm, s in success.items()}, "success_iqm": {str(gm): r for gm, r in rate.items()},
               "gradient_variance": {str(gm): v for gm, v in variance.items()},
               "relative_variance": {str(gm): v for gm, v in relative.items()}}

    fig, axes = figure(1, 2)
    axes[0].plot(gammas, [np.mean(success[gm]) for gm in gammas], "o-")
    axes[0].axvline(THRESHOLD, color="k", ls="--", lw=0.8, label=f"γ = 0.1^(1/7) ≈ {THRESHOLD:.2f}")
    axes[0].set(title="greedy policy walks to the far reward", xlabel="γ", ylabel="fraction of seeds", ylim=(-0.05, 1.05))
    axes[1].semilogy(gammas, [variance[gm] for gm in gammas], "o-", label="tr Cov[g]")
    axes[1].semilogy(gammas, [relative[gm] for gm in gammas], "s--", label="tr Cov[g] / ‖E g‖²")
    axes[1].set(title="REINFORCE gradient variance, uniform policy", xlabel="γ")
    for ax in axes:
        ax.legend(fontsize=7)
    return numbers, claims, [save_figure(fig, out, "discount.png")]
