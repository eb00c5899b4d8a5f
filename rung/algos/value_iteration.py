"""Value iteration: dynamic programming on a known model, the ground truth the table methods aim at.

    Q_{k+1}(s,a) = r(s,a) + γ · Σ_s' p(s'|s,a) · (1 − done) · max_a' Q_k(s',a')

Bellman's optimality operator is a γ-contraction in ‖·‖∞, so Q_k → Q* from any start; this is the
fixed-point iteration behind the seed's question of why bootstrapping "an estimate from an estimate"
converges. Q-learning is the sampled, model-free version of this same update.

Needs the transition table toy-text envs expose as `env.unwrapped.P[s][a] = [(p, s', r, terminated)]`.
Also here, for checking learned policies exactly:
- `policy_return`: the expected undiscounted return of a stationary policy under the env's time limit;
- `finite_horizon_optimum`: the best return any (non-stationary) policy can get within the time limit.
Uses no env steps: `steps` is the budget of sweeps, and metrics are logged per sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rung.algos.tabular import QTableAgent, table_dims, table_support
from rung.config import param
from rung.errors import RungError

NAME = "value_iteration"
SPACES = "obs: Discrete; actions: Discrete; needs the env's transition table P (toy-text envs)"
USES_ENV_STEPS = False
ROLLOUT_WORKERS = False  # no env steps
ON_DEVICE = False       # a NumPy table: the CPU


@dataclass
class Config:
    gamma: float = param(0.99, "discount factor γ (γ = 1 converges only if every policy ends episodes)", 0, 1)
    tol: float = param(1e-10, "stop when the largest change of Q in a sweep, ‖Q_{k+1} − Q_k‖∞, is below this",
                       0, None, low_inclusive=False)


@dataclass
class TabularModel:
    """A toy-text env's dynamics as dense arrays (S states, A actions)."""
    transitions: np.ndarray  # [S, A, S] p(s'|s,a) over outcomes that do NOT end the episode
    rewards: np.ndarray      # [S, A] expected immediate reward r(s,a)
    start: np.ndarray        # [S] initial state distribution


def check(config: Config, steps: int) -> list[str]:
    """Problems with this config and budget: raises RungError when the run cannot work, else warnings."""
    return []


def supports(env) -> str | None:
    """Why value iteration cannot run on `env`, or None when it can."""
    reason = table_support(env)
    if reason:
        return reason
    if len(table_dims(env.observation_space)) != 1 or not hasattr(env.unwrapped, "P"):
        return "the env exposes no transition table `P` over Discrete states"
    return None


def tabular_model(env) -> TabularModel:
    """Read `env.unwrapped.P` into arrays; terminal outcomes contribute reward but no future value."""
    n_states, n_actions = int(env.observation_space.n), int(env.action_space.n)
    transitions = np.zeros((n_states, n_actions, n_states))
    rewards = np.zeros((n_states, n_actions))
    for s, by_action in env.unwrapped.P.items():
        for a, outcomes in by_action.items():
            for p, next_s, r, terminated in outcomes:
                rewards[s, a] += p * r
                if not terminated:
                    transitions[s, a, next_s] += p
    start = getattr(env.unwrapped, "initial_state_distrib", None)
    if start is None:
        raise RungError("the env exposes P but no initial_state_distrib")
    return TabularModel(transitions, rewards, np.asarray(start, dtype=float))


def bellman_optimality(model: TabularModel, q: np.ndarray, gamma: float) -> np.ndarray:
    """(T Q)(s,a) = r(s,a) + γ Σ_s' p(s'|s,a) max_a' Q(s',a')."""
    return model.rewards + gamma * model.transitions @ q.max(axis=1)  # [S, A]


def value_iteration(model: TabularModel, gamma: float, tol: float = 1e-10,
                    max_sweeps: int = 100_000) -> tuple[np.ndarray, list[float]]:
    """Q* by repeated Bellman optimality sweeps; returns (Q*, residual ‖Q_{k+1} − Q_k‖∞ per sweep)."""
    q = np.zeros_like(model.rewards)
    residuals = []
    for _ in range(max_sweeps):
        q_next = bellman_optimality(model, q, gamma)
        residuals.append(float(np.abs(q_next - q).max()))
        q = q_next
        if residuals[-1] < tol:
            break
    return q, residuals


def policy_return(model: TabularModel, policy: np.ndarray, horizon: int, gamma: float = 1.0) -> float:
    """Exact expected return of the stationary policy π (shape [S]) from the start distribution,
    when the episode is cut after `horizon` steps:  V_k = r_π + γ P_π V_{k−1},  V_0 = 0."""
    states = np.arange(len(policy))
    r_pi = model.rewards[states, policy]          # [S]
    p_pi = model.transitions[states, policy]      # [S, S]
    value = np.zeros(len(policy))
    for _ in range(horizon):
        value = r_pi + gamma * p_pi @ value
    return float(model.start @ value)


def finite_horizon_optimum(model: TabularModel, horizon: int) -> float:
    """Best expected undiscounted return within `horizon` steps, over all policies, including ones
    that depend on the steps left:  V_k = max_a [r + P V_{k−1}],  V_0 = 0."""
    value = np.zeros(model.rewards.shape[0])
    for _ in range(horizon):
        value = (model.rewards + model.transitions @ value).max(axis=1)
    return float(model.start @ value)


def train(envs, config: Config, steps: int, seed: int, logger) -> QTableAgent:
    """Solve for Q* with at most `steps` sweeps and return the greedy agent (`seed` is unused: nothing
    is sampled)."""
    env = envs.single()
    logger.begin({})  # nothing worth saving: a resumed run solves again from scratch, to the same Q*
    model = tabular_model(env)
    q, residuals = value_iteration(model, config.gamma, config.tol, max_sweeps=steps)
    for sweep, residual in enumerate(residuals, start=1):
        logger.log(sweep, {"bellman_residual": residual})
    if residuals[-1] >= config.tol:
        raise RungError(f"value iteration did not converge in {steps} sweeps "
                        f"(residual {residuals[-1]:.3g}); with γ = 1 some policy may never end an episode")
    space = env.observation_space
    return QTableAgent(NAME, q, (int(space.n),), (int(space.start),))
