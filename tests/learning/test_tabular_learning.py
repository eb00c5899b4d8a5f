"""Seeded `rung train` runs that must reach the dynamic-programming optimum (issue #2's acceptance).

Each run evaluates the greedy policy over 5,000 episodes; the exact expected return of that policy,
computed from the env's transition table, is checked as well where the env exposes one.

Measured by benchmarks/learning_sweep.py at seeds 0–4 (NumPy only: thread counts do not apply):
FrozenLake 0.738–0.741 (exact return = value iteration's), 8×8 0.888–0.890, not slippery 1.0, Taxi
7.97, CliffWalking Q-learning −13 and SARSA −17 in 17 steps, Blackjack −0.057 to −0.047. The suite runs
seed 0 of each (the other seeds cost ≈ 110 s of test time and are the sweep's job)."""

import json

import gymnasium as gym
import pytest

from rung.algos.value_iteration import policy_return, tabular_model, value_iteration
from tests.conftest import learning_seeds

pytestmark = pytest.mark.learning


def train_eval(cli, tmp_path, algo, env_id, seed, *extra):
    run_dir = tmp_path / f"{algo}-{seed}"
    cli("train", algo, env_id, "--seed", seed, "--eval-episodes", 5000, "--run-dir", run_dir, "--quiet", *extra,
        check=True)
    return json.loads((run_dir / "eval.json").read_text())


@pytest.mark.parametrize("seed", learning_seeds(0))
def test_frozenlake_slippery_reaches_the_optimum(cli, tmp_path, seed, expect):
    result = train_eval(cli, tmp_path, "qlearning", "FrozenLake-v1", seed)
    expect("eval return", result["mean_return"], ">=", 0.72)
    env = gym.make("FrozenLake-v1")
    model = tabular_model(env)
    q_star, _ = value_iteration(model, gamma=0.999)
    optimum = policy_return(model, q_star.argmax(1), env.spec.max_episode_steps)
    assert optimum == pytest.approx(0.740, abs=5e-4)
    # within 2 % of value iteration's policy
    expect("exact return / optimum", result["exact_return"] / optimum, ">=", 0.98)


@pytest.mark.parametrize("seed", learning_seeds(0))
def test_frozenlake_8x8_slippery(cli, tmp_path, seed, expect):
    result = train_eval(cli, tmp_path, "qlearning", "FrozenLake8x8-v1", seed)
    expect("eval return", result["mean_return"], ">=", 0.82)


@pytest.mark.parametrize("seed", learning_seeds(0))
def test_frozenlake_not_slippery_is_solved(cli, tmp_path, seed, expect):
    result = train_eval(cli, tmp_path, "qlearning", "FrozenLake-v1", seed, "--env-kwargs", "is_slippery=False")
    expect("eval return", result["mean_return"], "==", 1.0)


@pytest.mark.parametrize("seed", learning_seeds(0))
def test_taxi(cli, tmp_path, seed, expect):
    result = train_eval(cli, tmp_path, "qlearning", "Taxi-v4", seed)
    expect("eval return", result["mean_return"], ">=", 7.8)


@pytest.mark.parametrize("seed", learning_seeds(0))
def test_cliff_q_learning_walks_the_edge_and_sarsa_keeps_away(cli, tmp_path, seed, expect):
    q_result = train_eval(cli, tmp_path, "qlearning", "CliffWalking-v1", seed)
    expect("Q-learning's return", q_result["mean_return"], "==", -13.0)  # the 13-step path along the cliff edge
    sarsa_result = train_eval(cli, tmp_path, "sarsa", "CliffWalking-v1", seed, "--set", "epsilon=0.1",
                              "epsilon_final=0.1")
    expect("SARSA's return", sarsa_result["mean_return"], "<=", -15.0)
    # a longer path that still reaches the goal, not a loop
    expect("SARSA's episode length", sarsa_result["mean_length"], "<", 30)


@pytest.mark.parametrize("seed", learning_seeds(0))
def test_blackjack_tuple_observations(cli, tmp_path, seed, expect):
    result = train_eval(cli, tmp_path, "qlearning", "Blackjack-v1", seed, "--steps", 300000)
    # a uniformly random policy loses about 0.4 per hand; basic strategy loses about 0.05
    expect("eval return", result["mean_return"], ">=", -0.10)
