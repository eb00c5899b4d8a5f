"""PPO: CartPole with the default preset; the Gaussian path on Pendulum (runs, saves, loads)."""

import numpy as np
import pytest

import rung
from tests.conftest import TEST_THREADS, learning_seeds


@pytest.mark.learning
@pytest.mark.parametrize("seed", learning_seeds(0))
def test_ppo_solves_cartpole_with_the_default_preset(seed, expect):
    """Measured by benchmarks/learning_sweep.py, seeds 0–4 × 1 and 2 threads: eval 497.4–500."""
    agent = rung.train("ppo", "CartPole-v1", seed=seed, eval_episodes=20, threads=TEST_THREADS)
    expect("eval return", agent.eval["mean_return"], ">=", 475)
    first = next(row for row in agent.metrics if "episodic_return" in row)
    expect("first episode's return", first["episodic_return"], "<", 60)  # from a near-uniform policy


def test_gaussian_policy_on_pendulum_round_trips(tmp_path):
    agent = rung.train("ppo", "Pendulum-v1", steps=4096, seed=0, eval_episodes=2, run_dir=tmp_path / "pendulum",
                       config={"n_envs": 4, "n_steps": 256})
    assert np.isfinite([row["policy_loss"] for row in agent.metrics]).all()
    loaded = rung.load(tmp_path / "pendulum")
    obs = np.array([1.0, 0.0, 0.5], np.float32)
    action = loaded.act(obs)
    assert action.shape == (1,) and -2.0 <= action[0] <= 2.0
    np.testing.assert_array_equal(action, agent.act(obs))
