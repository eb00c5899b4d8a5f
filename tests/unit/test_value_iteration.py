"""Value iteration against the known optima of the toy-text tasks."""

import gymnasium as gym
import numpy as np
import pytest

from rung.algos.value_iteration import (bellman_optimality, finite_horizon_optimum, policy_return, tabular_model,
                                        value_iteration)


def model_of(env_id, **kwargs):
    env = gym.make(env_id, **kwargs)
    return tabular_model(env), env.spec.max_episode_steps


def test_frozenlake_stationary_and_non_stationary_optima():
    model, horizon = model_of("FrozenLake-v1")
    q, _ = value_iteration(model, gamma=0.999)
    assert policy_return(model, q.argmax(1), horizon) == pytest.approx(0.740, abs=5e-4)
    assert finite_horizon_optimum(model, horizon) == pytest.approx(0.744, abs=5e-4)


@pytest.mark.parametrize("gamma, expected", [(0.99, 0.863), (0.999, 0.886)])
def test_frozenlake8x8_optimum_depends_on_gamma(gamma, expected):
    model, horizon = model_of("FrozenLake8x8-v1")
    q, _ = value_iteration(model, gamma=gamma)
    assert policy_return(model, q.argmax(1), horizon) == pytest.approx(expected, abs=5e-4)


def test_taxi_optimum_over_the_300_start_states():
    model, horizon = model_of("Taxi-v4")
    assert np.count_nonzero(model.start) == 300
    q, _ = value_iteration(model, gamma=0.99)
    assert policy_return(model, q.argmax(1), horizon) == pytest.approx(7.93, abs=5e-3)
    assert finite_horizon_optimum(model, horizon) == pytest.approx(7.93, abs=5e-3)


def test_fixed_point_and_contraction():
    model, _ = model_of("FrozenLake-v1")
    gamma = 0.9
    q, residuals = value_iteration(model, gamma=gamma, tol=1e-12)
    # Q* is a fixed point of the Bellman optimality operator
    np.testing.assert_allclose(bellman_optimality(model, q, gamma), q, atol=1e-10)
    # and the operator is a γ-contraction: each sweep shrinks the change by at least γ
    ratios = np.array(residuals[1:50]) / np.array(residuals[:49])
    assert np.all(ratios <= gamma + 1e-9)


def test_policy_return_matches_monte_carlo():
    """The exact return of an arbitrary policy agrees with a sampled estimate."""
    env = gym.make("FrozenLake-v1")
    model = tabular_model(env)
    policy = np.array([1, 2, 1, 0, 1, 0, 1, 0, 2, 1, 1, 0, 0, 2, 2, 0])
    exact = policy_return(model, policy, env.spec.max_episode_steps)
    rng_returns = []
    obs, _ = env.reset(seed=1)
    for _ in range(4000):
        done, total = False, 0.0
        while not done:
            obs, r, term, trunc, _ = env.step(int(policy[obs]))
            total += r
            done = term or trunc
        rng_returns.append(total)
        obs, _ = env.reset()
    stderr = np.std(rng_returns) / np.sqrt(len(rng_returns))
    assert abs(np.mean(rng_returns) - exact) < 4 * stderr
