"""Tabular Q-learning (Watkins 1989): the seed's first rung.

    Q(s,a) ← Q(s,a) + α · [ r + γ · max_a' Q(s',a') − Q(s,a) ]

The bracket is the TD error δ. Off-policy: the target uses the greedy max while the agent behaves
ε-greedily, so Q converges to Q* (given every pair keeps being visited and α decays) whatever ε is.

Implementation details:
- terminated: the target is r alone (nothing follows a terminal state);
  truncated by a time limit: the target still bootstraps from max_a' Q(s',a'), because the state
  itself is not terminal, only the episode was cut.
- ε decays linearly from `epsilon` to `epsilon_final` over `exploration_fraction` of the steps;
  α decays linearly from `lr` to `lr_final` over all steps (α → 0 is what the convergence proof needs).
- greedy ties are broken at random while training; `q_init` > 0 gives optimistic exploration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rung.algos.tabular import (QTableAgent, epsilon_greedy, legal_actions_reader, linear_schedule, new_q_table,
                                table_support)
from rung.checkpoint import restart_seed
from rung.config import param
from rung.runs import EpisodeStats

NAME = "qlearning"
SPACES = "obs: Discrete or Tuple of Discrete; actions: Discrete (maskable)"
USES_ENV_STEPS = True
ROLLOUT_WORKERS = False  # it learns between env steps: nothing to hand to rollout workers
ON_DEVICE = False       # a NumPy table: the CPU


@dataclass
class Config:
    gamma: float = param(0.99, "discount factor γ", 0, 1)
    lr: float = param(0.1, "step size α at the start", 0, 1, low_inclusive=False)
    lr_final: float | None = param(None, "step size α at the end of training, linear decay (None: constant)", 0, 1)
    epsilon: float = param(1.0, "exploration rate ε at the start", 0, 1)
    epsilon_final: float = param(0.05, "exploration rate ε after the decay", 0, 1)
    exploration_fraction: float = param(0.5, "fraction of the steps over which ε decays", 0, 1)
    q_init: float = param(0.0, "initial value of every Q(s,a); > 0 is optimistic and drives exploration")


supports = table_support


def check(config: Config, steps: int) -> list[str]:
    """Problems with this config and budget: raises RungError when the run cannot work, else warnings."""
    return []


def q_learning_target(reward: float, next_q: np.ndarray, terminated: bool, gamma: float) -> float:
    """y = r + γ · max_a' Q(s',a'), or y = r when s' is terminal."""
    return reward if terminated else reward + gamma * float(next_q.max())


def train(envs, config: Config, steps: int, seed: int, logger) -> QTableAgent:
    env = envs.single()
    indexer, q = new_q_table(env, config.q_init)  # q: [S, A]
    rng = np.random.default_rng(seed)
    episodes = EpisodeStats()
    td_abs_sum, updates = 0.0, 0
    lr_final = config.lr if config.lr_final is None else config.lr_final

    checkpointed = {"q": q, "rng": rng, "episodes": episodes}
    agent = QTableAgent(NAME, q, indexer.dims, indexer.starts)   # acts with the live table
    start = logger.begin(checkpointed, agent)
    obs, info = env.reset(seed=restart_seed(seed, start))
    legal_in = legal_actions_reader(env, envs.env_id, info)
    state, legal = indexer(obs), legal_in(info, start)
    for step in range(start + 1, steps + 1):
        progress = step / steps
        epsilon = linear_schedule(config.epsilon, config.epsilon_final, config.exploration_fraction, progress)
        lr = linear_schedule(config.lr, lr_final, 1.0, progress)

        # COLLECT: one ε-greedy step (among the legal actions, if the env masks some)
        action = epsilon_greedy(q[state], epsilon, rng, legal)
        next_obs, reward, terminated, truncated, info = env.step(action)
        next_state = indexer(next_obs)
        next_legal = legal_in(info, step, terminated or truncated)

        # UPDATE: δ = r + γ·max_a' Q(s',a') − Q(s,a);  Q(s,a) ← Q(s,a) + α·δ  (a' legal in s')
        next_q = q[next_state] if next_legal is None else q[next_state][next_legal]
        td_error = q_learning_target(float(reward), next_q, terminated, config.gamma) - q[state, action]
        q[state, action] += lr * td_error
        td_abs_sum, updates = td_abs_sum + abs(td_error), updates + 1

        if terminated or truncated:
            episodes.add(info["episode"]["r"], info["episode"]["l"])
            obs, info = env.reset()
            state, legal = indexer(obs), legal_in(info, step)
        else:
            state, legal = next_state, next_legal

        # LOG
        if step % logger.every == 0 or step == steps:
            logger.log(step, {**episodes.pop(), "td_error": td_abs_sum / updates, "epsilon": epsilon, "lr": lr})
            td_abs_sum, updates = 0.0, 0
            if logger.checkpoint(step, checkpointed):  # exact resume: new episodes from here
                obs, info = env.reset(seed=restart_seed(seed, step))
                state, legal = indexer(obs), legal_in(info, step)

    return agent
