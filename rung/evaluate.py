"""Evaluation episodes on a fresh environment, separate from the one the agent trained on."""

from __future__ import annotations

import numpy as np
import torch
from gymnasium.wrappers import TimeLimit

from rung.envs import make_env

# An env without a time limit (CliffWalking) and a policy that walks in circles would never end.
STEP_CAP = 10_000


def evaluate(agent, episodes: int = 100, seed: int = 0, deterministic: bool = True,
             env_kwargs: dict | None = None) -> dict:
    """Run `episodes` episodes of `agent` on a new copy of its env, seeded once with `seed`.

    Returns mean/std of the undiscounted return and mean length. For table agents on envs that expose
    their model (toy-text `P`) it adds `exact_return`, the greedy policy's expected return computed by
    dynamic programming, and `optimal_return`, the best any policy can do within the time limit."""
    env = make_env(agent.env_id, {**agent.env_kwargs, **(env_kwargs or {})})
    if env.spec is None or env.spec.max_episode_steps is None:
        env = TimeLimit(env, STEP_CAP)
    with torch.random.fork_rng():  # stochastic actions draw from torch's RNG: seed it, leave the caller's alone
        torch.manual_seed(seed)
        returns, lengths = run_episodes(agent, env, episodes, seed, deterministic)
    result = {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
              "min_return": float(np.min(returns)), "max_return": float(np.max(returns)),
              "mean_length": float(np.mean(lengths)), "episodes": episodes, "seed": seed,
              "deterministic": deterministic}
    result.update(exact_returns(agent, env))
    env.close()
    return result


def run_episodes(agent, env, episodes: int, seed: int, deterministic: bool) -> tuple[list[float], list[int]]:
    returns, lengths = [], []
    obs, _ = env.reset(seed=seed)
    while len(returns) < episodes:
        total, length, done = 0.0, 0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.act(obs, deterministic=deterministic))
            total, length, done = total + float(reward), length + 1, terminated or truncated
        returns.append(total)
        lengths.append(length)
        obs, _ = env.reset()
    return returns, lengths


def exact_returns(agent, env) -> dict:
    """Exact greedy-policy and optimal returns for a table agent on an env with a known model."""
    from rung.algos import value_iteration

    if not hasattr(agent, "greedy_policy") or value_iteration.supports(env) is not None:
        return {}
    model = value_iteration.tabular_model(env)
    horizon = env.spec.max_episode_steps if env.spec and env.spec.max_episode_steps else STEP_CAP
    return {"exact_return": value_iteration.policy_return(model, agent.greedy_policy(), horizon),
            "optimal_return": value_iteration.finite_horizon_optimum(model, horizon)}
