"""Evaluation episodes on fresh environments, separate from the ones the agent trained on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rung.envs import env_id_of, make_env, make_vec_env

# An env without a time limit (CliffWalking) and a policy that walks in circles would never end.
STEP_CAP = 10_000
# Episodes of each evaluation during training (PeriodicEval), unless the run says otherwise.
EVAL_EVERY_EPISODES = 10
# Evaluations during training of a run with a run directory, unless it says otherwise: enough to keep a
# good agent in best/ when the last updates wreck the policy, few enough to cost little time.
EVAL_POINTS = 5
# Episodes run side by side in this many env copies, the agent acting on all of them in one batch.
MAX_EVAL_ENVS = 100


def evaluate(agent, episodes: int = 100, seed: int = 0, deterministic: bool = True,
             env_kwargs: dict | None = None, env=None) -> dict:
    """Run `episodes` episodes of `agent` on new copies of its env (copy i seeded with `seed` + i), or of
    `env` (anything rung.train takes: needed for agents trained on an env given as a Python object),
    which then becomes the agent's env.

    Returns mean/std of the undiscounted return and mean length. For table agents on envs that expose
    their model (toy-text `P`) it adds `exact_return`, the greedy policy's expected return computed by
    dynamic programming, and `optimal_return`, the best any policy can do within the time limit."""
    if env is not None:
        agent.env_id = env_id_of(env)
    kwargs = {**agent.env_kwargs, **(env_kwargs or {})}
    env = make_vec_env(agent.env_id, min(episodes, MAX_EVAL_ENVS), kwargs, step_cap=STEP_CAP, wrappers=agent.wrappers)
    with torch.random.fork_rng():  # stochastic actions draw from torch's RNG: seed it, leave the caller's alone
        torch.manual_seed(seed)
        with torch.inference_mode():
            returns, lengths = run_episodes(agent, env, episodes, seed, deterministic)
    env.close()
    result = {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
              "min_return": float(np.min(returns)), "max_return": float(np.max(returns)),
              "mean_length": float(np.mean(lengths)), "episodes": episodes, "seed": seed,
              "deterministic": deterministic}
    result.update(exact_returns(agent, kwargs))
    return result


@dataclass
class PeriodicEval:
    """Greedy evaluation during training, every `every` env steps (rung.runs.Logger runs it): `episodes`
    episodes on fresh copies of the env, always with the same `seed`, so that the numbers compare
    across the run; training stops once the mean return reaches `stop_at` (None: never)."""
    every: int
    episodes: int
    seed: int
    env_id: str
    env_kwargs: dict
    wrappers: list[str]
    stop_at: float | None = None

    def run(self, agent) -> dict[str, float]:
        # the run's agent, before api.run sets these
        agent.env_id, agent.env_kwargs, agent.wrappers = self.env_id, self.env_kwargs, self.wrappers
        result = evaluate(agent, self.episodes, self.seed)
        return {"eval_return": result["mean_return"], "eval_length": result["mean_length"]}


def run_episodes(agent, env, episodes: int, seed: int, deterministic: bool) -> tuple[list[float], list[int]]:
    """Env copy i plays a fixed quota of episodes, so that short episodes are not over-counted (taking
    the first `episodes` to finish would favour them)."""
    n = env.num_envs
    quota = np.full(n, episodes // n) + (np.arange(n) < episodes % n)
    total, length = np.zeros(n), np.zeros(n, dtype=np.int64)
    returns, lengths = [], []
    obs = env.reset(seed=seed)
    begin_episodes = getattr(agent, "begin_episodes", lambda starts: None)   # a recurrent policy forgets there
    begin_episodes(np.ones(n, dtype=bool))
    while len(returns) < episodes:
        obs, rewards, terminated, truncated, valid = env.step(agent.act_batch(obs, deterministic, env.action_masks))
        begin_episodes(~valid)   # after next-step autoreset's reset step comes a new episode's first obs
        total += np.where(valid, rewards, 0.0)
        length += valid
        for i in np.flatnonzero(terminated | truncated):
            if quota[i] > 0:
                quota[i] -= 1
                returns.append(float(total[i]))
                lengths.append(int(length[i]))
            total[i], length[i] = 0.0, 0
    return returns, lengths


def exact_returns(agent, env_kwargs: dict) -> dict:
    """Exact greedy-policy and optimal returns for a table agent on an env with a known model."""
    from rung.algos import value_iteration

    if not hasattr(agent, "greedy_policy"):
        return {}
    with make_env(agent.env_id, env_kwargs, wrappers=agent.wrappers) as env:
        if value_iteration.supports(env) is not None:
            return {}
        model = value_iteration.tabular_model(env)
        horizon = env.spec.max_episode_steps if env.spec and env.spec.max_episode_steps else STEP_CAP
        return {"exact_return": value_iteration.policy_return(model, agent.greedy_policy(), horizon),
                "optimal_return": value_iteration.finite_horizon_optimum(model, horizon)}


def record_gif(agent, seed: int = 0, max_frames: int = 300, width: int = 320) -> bytes | None:
    """One greedy episode of `agent` as an animated GIF (every other frame, `width` pixels wide), or
    None when its env cannot render RGB frames (or its renderer, e.g. pygame, is not installed)."""
    from rung.errors import RungError
    from rung.video import gif_bytes, render_episodes

    try:
        episode, = render_episodes(agent, 1, seed, max_steps=2 * max_frames)
    except RungError:
        return None
    return gif_bytes(episode["frames"], width)[0]
