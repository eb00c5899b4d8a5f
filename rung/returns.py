"""Pure return formulas over a rollout laid out [T, N] (T steps of N envs). numpy in, numpy out.

`next_values[t]` is V(s_{t+1}) for the obs that step t actually led to: at the step an episode ended,
that is the episode's final obs. With next-step autoreset (rung.envs.VecEnv) the obs fed to step t+1 is
exactly that obs, so `next_values = [values[1:], V(obs after the last step)]`.
Termination ends the future (no bootstrap); truncation by a time limit bootstraps from V(final obs);
either way nothing flows back across an episode end.
"""

from __future__ import annotations

import numpy as np


def discounted_returns(rewards: np.ndarray, next_values: np.ndarray, terminated: np.ndarray,
                       truncated: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = r_t + γ·G_{t+1} inside an episode; G_t = r_t + γ·V(s_{t+1}) where the episode was truncated
    at t or the rollout stops at t; G_t = r_t where it terminated. Shapes [T, N]."""
    returns = np.zeros_like(rewards, dtype=np.float32)
    future = next_values[-1]                                                  # [N] bootstrap past the rollout
    for t in reversed(range(len(rewards))):
        # what follows step t: nothing if terminal, V(s') if cut, else the return of the next step
        future = np.where(terminated[t], 0.0, np.where(truncated[t], next_values[t], future))
        returns[t] = rewards[t] + gamma * future
        future = returns[t]
    return returns


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, terminated: np.ndarray,
        truncated: np.ndarray, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation (Schulman et al. 2016):

        δ_t = r_t + γ·(1 − terminated_t)·V(s_{t+1}) − V(s_t)
        A_t = δ_t + γλ·(1 − ended_t)·A_{t+1},     ended = terminated or truncated

    Returns (advantages, returns = advantages + values), both [T, N]. λ = 1 gives the discounted
    return minus V (Monte Carlo), λ = 0 the one-step TD error A = r + γV(s') − V(s)."""
    advantages = np.zeros_like(rewards, dtype=np.float32)
    next_advantage = np.zeros(rewards.shape[1], dtype=np.float32)            # [N]
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * np.where(terminated[t], 0.0, next_values[t]) - values[t]
        ended = terminated[t] | truncated[t]
        advantages[t] = delta + gamma * lam * np.where(ended, 0.0, next_advantage)
        next_advantage = advantages[t]
    return advantages, advantages + values


# Advantages whose spread is under this fraction of the returns' spread are not stretched to unit spread.
ADVANTAGE_FLOOR = 0.01


def normalize_advantages(advantages, returns_std: float):
    """Â = (A − mean A) / max(std A, 0.01·std G, 1e-8)  (NumPy arrays or torch tensors).

    Plain normalisation divides by std A alone: once the critic is nearly perfect, the advantages of a
    converged policy are tiny residuals, and dividing by their tiny std turns them into ±1 noise that
    the following epochs follow out of the optimum (the late collapse of a solved task). The floor is
    reached only when V explains all but 10⁻⁴ of the returns' variance (std A < 0.01·std G); it is
    measured against the spread of the returns, not their size, so a constant offset in the rewards
    (Pendulum's are all negative) leaves it alone."""
    floor = max(ADVANTAGE_FLOOR * returns_std, 1e-8)
    spread = advantages.std()
    return (advantages - advantages.mean()) / max(floor, spread)
