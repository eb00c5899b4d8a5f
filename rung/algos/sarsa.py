"""Tabular SARSA (Rummery & Niranjan 1994): the on-policy contrast to Q-learning.

    Q(s,a) ← Q(s,a) + α · [ r + γ · Q(s',a') − Q(s,a) ],   a' ~ ε-greedy(Q(s',·))

The only change from qlearning.py: the target uses the action a' the agent will actually take next
instead of max_a' Q(s',a'). So SARSA learns the value of the ε-greedy policy it follows, and on
CliffWalking it prefers a path away from the edge, where an exploratory step cannot fall off.

Implementation details are those of qlearning.py (schedules, terminated vs truncated, optimistic init).
"""

from __future__ import annotations

import numpy as np

from rung.algos.qlearning import Config, check
from rung.algos.tabular import (QTableAgent, epsilon_greedy, legal_actions_reader, linear_schedule, new_q_table,
                                table_support)
from rung.checkpoint import restart_seed
from rung.runs import EpisodeStats

NAME = "sarsa"
SPACES = "obs: Discrete or Tuple of Discrete; actions: Discrete (maskable)"
USES_ENV_STEPS = True
ROLLOUT_WORKERS = False  # it learns between env steps: nothing to hand to rollout workers
ON_DEVICE = False       # a NumPy table: the CPU
supports = table_support
__all__ = ["Config", "check", "train", "sarsa_target"]


def sarsa_target(reward: float, next_q_action: float, terminated: bool, gamma: float) -> float:
    """y = r + γ · Q(s',a') for the next action a' actually chosen, or y = r when s' is terminal."""
    return reward if terminated else reward + gamma * next_q_action


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
    state = indexer(obs)
    epsilon = linear_schedule(config.epsilon, config.epsilon_final, config.exploration_fraction, start / steps)
    action = epsilon_greedy(q[state], epsilon, rng, legal_in(info, start))
    for step in range(start + 1, steps + 1):
        progress = step / steps
        epsilon = linear_schedule(config.epsilon, config.epsilon_final, config.exploration_fraction, progress)
        lr = linear_schedule(config.lr, lr_final, 1.0, progress)

        # COLLECT: take a, observe r and s', and choose a' now (among the legal actions): the target needs it
        next_obs, reward, terminated, truncated, info = env.step(action)
        next_state = indexer(next_obs)
        next_legal = legal_in(info, step, terminated or truncated)
        next_action = epsilon_greedy(q[next_state], epsilon, rng, next_legal)

        # UPDATE: δ = r + γ·Q(s',a') − Q(s,a);  Q(s,a) ← Q(s,a) + α·δ
        td_error = sarsa_target(float(reward), q[next_state, next_action], terminated, config.gamma) - q[state, action]
        q[state, action] += lr * td_error
        td_abs_sum, updates = td_abs_sum + abs(td_error), updates + 1

        if terminated or truncated:
            episodes.add(info["episode"]["r"], info["episode"]["l"])
            obs, info = env.reset()
            state = indexer(obs)
            action = epsilon_greedy(q[state], epsilon, rng, legal_in(info, step))
        else:
            state, action = next_state, next_action

        # LOG
        if step % logger.every == 0 or step == steps:
            logger.log(step, {**episodes.pop(), "td_error": td_abs_sum / updates, "epsilon": epsilon, "lr": lr})
            td_abs_sum, updates = 0.0, 0
            if logger.checkpoint(step, checkpointed):  # exact resume: new episodes from here
                obs, info = env.reset(seed=restart_seed(seed, step))
                state = indexer(obs)
                action = epsilon_greedy(q[state], epsilon, rng, legal_in(info, step))

    return agent
