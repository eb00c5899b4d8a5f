"""One seed, same numbers: every metric but the wall-clock ones, and the learned table."""

import numpy as np
import pytest

import rung

WALL_CLOCK = {"time", "SPS"}


def learning_metrics(agent):
    return [{k: v for k, v in row.items() if k not in WALL_CLOCK} for row in agent.metrics]


@pytest.mark.parametrize("algo, env_id", [("qlearning", "FrozenLake-v1"), ("sarsa", "Taxi-v4"),
                                          ("qlearning", "Blackjack-v1")])
def test_same_seed_same_metrics_and_table(algo, env_id):
    a, b = (rung.train(algo, env_id, steps=20_000, seed=7, eval_episodes=20) for _ in range(2))
    assert learning_metrics(a) == learning_metrics(b)
    np.testing.assert_array_equal(a.q, b.q)
    assert a.eval == b.eval
    c = rung.train(algo, env_id, steps=20_000, seed=8, eval_episodes=20)
    assert not np.array_equal(a.q, c.q)


def test_dqn_same_seed_same_metrics():
    config = {"learning_starts": 200, "train_freq": 4, "gradient_steps": 2, "target_update_interval": 100,
              "double_q": True, "n_step": 3, "batch_size": 16}
    a, b = (rung.train("dqn", "CartPole-v1", steps=1500, seed=3, config=config, eval_episodes=3) for _ in range(2))
    assert learning_metrics(a) == learning_metrics(b)
    assert any("td_loss" in row for row in a.metrics)
    assert a.eval == b.eval


@pytest.mark.parametrize("algo, env_id, config", [
    ("dqn", "CartPole-v1", {"learning_starts": 200, "train_freq": 4, "gradient_steps": 1, "batch_size": 16}),
    ("ppo", "Pendulum-v1", {"n_envs": 2, "n_steps": 256}),
])
def test_stochastic_evaluation_is_reproducible_with_its_seed(algo, env_id, config):
    agent = rung.train(algo, env_id, steps=1024, seed=0, config=config, eval_episodes=1)
    if algo == "dqn":
        agent.epsilon = 0.5  # make the stochastic branch matter
    a, b, c = (rung.evaluate(agent, episodes=3, seed=s, deterministic=False) for s in (5, 5, 6))
    assert a == b and a != c


@pytest.mark.parametrize("algo, env_id, steps, config", [
    ("value_iteration", "FrozenLake-v1", 1000, {}),
    ("reinforce", "CartPole-v1", 4000, {"baseline": True, "max_grad_norm": 0.5, "normalize_obs": True}),
    ("a2c", "Pendulum-v1", 2000, {"normalize_obs": True, "normalize_reward": True}),
    ("ppo", "CartPole-v1", 4096, {"n_envs": 4, "n_steps": 128, "normalize_obs": True, "normalize_reward": True,
                                  "target_kl": 0.01, "clip_value": 0.2}),
    ("ppo", "MountainCarContinuous-v0", 2048, {"n_envs": 2, "n_steps": 256}),
])
def test_every_other_algorithm_same_seed_same_metrics(algo, env_id, steps, config):
    """Every column of the metrics but the wall-clock ones, and the evaluation, repeat exactly."""
    a, b = (rung.train(algo, env_id, steps=steps, seed=11, config=config, eval_episodes=3) for _ in range(2))
    assert learning_metrics(a) and learning_metrics(a) == learning_metrics(b)
    assert a.eval == b.eval
    c = rung.train(algo, env_id, steps=steps, seed=12, config=config, eval_episodes=3)
    if algo != "value_iteration":  # the one algorithm that draws no random numbers
        assert learning_metrics(c) != learning_metrics(a)
