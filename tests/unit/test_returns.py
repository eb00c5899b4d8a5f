"""Returns and GAE against brute-force loops over each episode, with termination and truncation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rung.returns import discounted_returns, gae


def random_rollout(steps, n_envs, seed):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(steps, n_envs)).astype(np.float32)
    values = rng.normal(size=(steps, n_envs)).astype(np.float32)
    next_values = rng.normal(size=(steps, n_envs)).astype(np.float32)
    ends = rng.random((steps, n_envs)) < 0.25
    terminated = ends & (rng.random((steps, n_envs)) < 0.5)
    truncated = ends & ~terminated
    # inside an episode V(s_{t+1}) is the next row's V(s_t): make the data consistent with that
    for t in range(steps - 1):
        next_values[t] = np.where(ends[t], next_values[t], values[t + 1])
    return rewards, values, next_values, terminated, truncated


def brute_force(rewards, values, next_values, terminated, truncated, gamma, lam, t, env):
    """Sum the discounted δ's forward from t until the episode or the rollout ends."""
    advantage, g, discount, k = 0.0, 0.0, 1.0, t
    while True:
        bootstrap = 0.0 if terminated[k, env] else next_values[k, env]
        delta = rewards[k, env] + gamma * bootstrap - values[k, env]
        advantage += (gamma * lam) ** (k - t) * delta
        g += discount * rewards[k, env]
        discount *= gamma
        if terminated[k, env] or truncated[k, env] or k == len(rewards) - 1:
            g += discount * bootstrap
            return advantage, g
        k += 1


cases = st.tuples(st.integers(1, 30), st.integers(1, 3), st.integers(0, 2**31 - 1),
                  st.sampled_from([0.0, 0.5, 0.95, 1.0]))


@settings(max_examples=80, deadline=None)
@given(cases)
def test_gae_and_returns_match_brute_force(case):
    steps, n_envs, seed, lam = case
    gamma = 0.9
    rollout = random_rollout(steps, n_envs, seed)
    advantages, _ = gae(*rollout, gamma, lam)
    returns = discounted_returns(rollout[0], rollout[2], rollout[3], rollout[4], gamma)
    for t in range(steps):
        for env in range(n_envs):
            adv, g = brute_force(*rollout, gamma, lam, t, env)
            assert advantages[t, env] == pytest.approx(adv, abs=1e-4)
            assert returns[t, env] == pytest.approx(g, abs=1e-4)


def test_gae_with_lambda_one_is_the_return_minus_the_value():
    rewards, values, next_values, terminated, truncated = random_rollout(20, 2, 7)
    advantages, gae_returns = gae(rewards, values, next_values, terminated, truncated, 0.9, 1.0)
    mc = discounted_returns(rewards, next_values, terminated, truncated, 0.9)
    np.testing.assert_allclose(advantages, mc - values, atol=1e-5)
    np.testing.assert_allclose(gae_returns, mc, atol=1e-5)


def test_termination_and_truncation_by_hand():
    # one env, three steps, reward 1 each, γ = 0.5; V = 0 inside the episode, V(final obs) = 10
    rewards = np.ones((3, 1), np.float32)
    next_values = np.array([[0.0], [10.0], [10.0]], np.float32)
    terminated = np.array([[False], [True], [False]])
    truncated = np.array([[False], [False], [True]])
    returns = discounted_returns(rewards, next_values, terminated, truncated, 0.5)
    # G_1 = 1 (terminal); G_0 = 1 + 0.5·1 = 1.5; G_2 = 1 + 0.5·10 = 6 (truncated: bootstrap V(final obs))
    np.testing.assert_allclose(returns[:, 0], [1.5, 1.0, 6.0])
    values = np.zeros((3, 1), np.float32)
    advantages, _ = gae(rewards, values, next_values, terminated, truncated, 0.5, 1.0)
    np.testing.assert_allclose(advantages[:, 0], [1.5, 1.0, 6.0])
