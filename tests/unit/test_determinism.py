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
