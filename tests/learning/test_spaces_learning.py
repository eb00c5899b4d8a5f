"""The spaces of issue 15, each learned on a tiny env written for it (tests/cli/fixtures/space_envs.py):
small images through the CNN sized to them, Dict observations (vector + code, image + vector), and
MultiBinary actions."""

import numpy as np
import pytest

import rung
from tests.cli.fixtures.space_envs import DictGoal, PixelChase, PixelChaseDict, Switchboard
from tests.conftest import TEST_THREADS, learning_seeds

DQN_SMALL = {"learning_starts": 500, "target_update_interval": 200, "lr": 1e-3, "exploration_fraction": 0.25,
             "buffer_size": 10_000, "batch_size": 64, "n_step": 3, "epsilon_final": 0.02, "gamma": 0.9}
PIXEL_CONFIGS = {"ppo": ({"n_envs": 8, "n_steps": 32, "batch_size": 128, "n_epochs": 4}, 15_360), "dqn": (DQN_SMALL, 8000)}
DICT_CONFIGS = {"ppo": ({"n_envs": 8, "n_steps": 64}, 20_480), "dqn": (DQN_SMALL, 15_000)}


@pytest.mark.learning
@pytest.mark.parametrize("seed", learning_seeds(0))
@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_a_small_image_task_is_learned_through_the_small_cnn(algo, seed, expect, tmp_path):
    """8 × 8 pixels, below the Nature CNN's 36 px reach. A random walk reaches the goal about half the
    time; the optimum does always, in ≈ 3.1 steps. Measured, seeds 0–4 × 1 and 2 threads
    (benchmarks/learning_sweep.py): PPO 0.97–1.0, DQN 1.0 everywhere (100 greedy episodes)."""
    config, steps = PIXEL_CONFIGS[algo]
    agent = rung.train(algo, PixelChase, steps=steps, seed=seed, config=config, eval_episodes=100,
                       threads=TEST_THREADS, run_dir=tmp_path / "run")
    expect("eval return", agent.eval["mean_return"], ">=", 0.9)
    frames = np.stack([PixelChase().reset(seed=s)[0] for s in range(8)])
    assert np.array_equal(rung.load(tmp_path / "run").act_batch(frames), agent.act_batch(frames))


@pytest.mark.learning
@pytest.mark.parametrize("seed", learning_seeds(0))
def test_ppo_sets_independent_switches_with_multibinary_actions(seed, expect, tmp_path):
    """Six Bernoulli bits, each to copy from the observation: random scores 0.5, the optimum 1.
    Measured, seeds 0–4 × 1 and 2 threads (benchmarks/learning_sweep.py): 0.998–1.0 (100 greedy episodes)."""
    agent = rung.train("ppo", Switchboard, steps=16_000, seed=seed, config={"n_envs": 8, "n_steps": 16},
                       eval_episodes=100, threads=TEST_THREADS, run_dir=tmp_path / "run")
    expect("eval return", agent.eval["mean_return"], ">=", 0.95)
    action = rung.load(tmp_path / "run").act(np.array([1, 0, 1, 1, 0, 0], np.float32))
    assert action.dtype == np.int8 and action.tolist() == [1, 0, 1, 1, 0, 0]


@pytest.mark.learning
@pytest.mark.parametrize("seed", learning_seeds(0))
@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_a_dict_observed_goal_reaching_task_is_learned(algo, seed, expect):
    """{"position": Box(2), "goal": Discrete(16)}: a vector leaf and a one-hot leaf. Random ≈ 0.4;
    optimal 1 in ≈ 2.9 steps. Measured, seeds 0–4 × 1 and 2 threads (benchmarks/learning_sweep.py): PPO
    1.0 everywhere; DQN 1.0 everywhere at 15,000 steps (0.92–1.0 at 10,000, too close to the threshold)."""
    config, steps = DICT_CONFIGS[algo]
    agent = rung.train(algo, DictGoal, steps=steps, seed=seed, config=config, eval_episodes=100, threads=TEST_THREADS)
    expect("eval return", agent.eval["mean_return"], ">=", 0.9)


@pytest.mark.learning
@pytest.mark.parametrize("seed", learning_seeds(0))
def test_an_image_plus_vector_dict_task_is_learned(seed, expect):
    """{"frame": 8 × 8 pixels showing the goal, "agent": the agent's column}: the CNN's features and the
    vector leaf concatenated. Measured, seeds 0–4 × 1 and 2 threads (benchmarks/learning_sweep.py): DQN
    1.0 everywhere (100 greedy episodes)."""
    agent = rung.train("dqn", PixelChaseDict, steps=8000, seed=seed, config=DQN_SMALL, eval_episodes=100,
                       threads=TEST_THREADS)
    expect("eval return", agent.eval["mean_return"], ">=", 0.9)
