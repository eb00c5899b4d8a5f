"""DQN: a seeded learning check on CartPole, and the CNN path on an Atari env."""

import numpy as np
import pytest

import rung
from rung.nets import ImageEncoder
from tests.conftest import TEST_THREADS, learning_seeds


def test_cnn_path_on_atari_frames(tmp_path):
    # episodes cut at 400 frames (100 steps): the final evaluation is not a whole game of Pong
    agent = rung.train("dqn", "ALE/Pong-v5", steps=300, seed=0, eval_episodes=1, run_dir=tmp_path / "pong", eval_every=0,
                       env_kwargs={"max_num_frames_per_episode": 400},
                       config={"learning_starts": 100, "buffer_size": 1000, "batch_size": 8, "train_freq": 4,
                               "target_update_interval": 50})
    assert isinstance(agent.q_net.body, ImageEncoder) and agent.q_net.body.out_dim == 512   # the Nature CNN
    losses = [row["td_loss"] for row in agent.metrics if "td_loss" in row]
    assert losses and np.isfinite(losses).all()
    loaded = rung.load(tmp_path / "pong")
    obs = np.random.default_rng(0).integers(0, 255, size=(4, 84, 84), dtype=np.uint8)
    assert loaded.act(obs) == agent.act(obs)


@pytest.mark.learning
@pytest.mark.parametrize("seed", learning_seeds(0))
def test_cartpole_learns_within_20k_steps(seed, expect):
    """The default preset (rl-zoo3's settings with 3-step returns and lr annealed to 0) on 40 % of its
    budget: the greedy policy must balance for ≥ 195 steps on average (CartPole-v0's old threshold).
    Measured by benchmarks/learning_sweep.py, seeds 0–4 × 1 and 2 threads: eval 291–500; first logged
    episode 24–36. (The early check used to average the first ten log rows, which reach into learning:
    77 at seed 4; the first row is the random policy's.)"""
    agent = rung.train("dqn", "CartPole-v1", steps=20_000, seed=seed, eval_episodes=10, threads=TEST_THREADS)
    expect("eval return", agent.eval["mean_return"], ">=", 195)
    first = next(row for row in agent.metrics if "episodic_return" in row)
    expect("first episodes' return", first["episodic_return"], "<", 60)  # it started from a random policy
