"""Action masks for every discrete-action algorithm (issue 15, item 3), on LockedJumps: an illegal
action ends the episode with −1, so one taken while acting would show in the env's count, and the
optimum (return 1 in 3 steps) needs the jumps that are legal only on even squares."""

import pytest

import rung
from tests.cli.fixtures.space_envs import LockedJumps
from tests.conftest import TEST_THREADS, learning_seeds

CASES = {   # algo: (steps, config)
    "qlearning": (3000, {"gamma": 0.9}),
    "sarsa": (3000, {"gamma": 0.9}),
    "dqn": (3000, {"learning_starts": 200, "target_update_interval": 200, "lr": 1e-3, "exploration_fraction": 0.5,
                   "gamma": 0.9}),
    "reinforce": (6000, {"gamma": 0.9, "n_envs": 4}),
    "a2c": (6000, {"gamma": 0.9, "n_envs": 4}),
    "ppo": (6000, {"gamma": 0.9, "n_envs": 4}),
}


@pytest.mark.learning
@pytest.mark.parametrize("seed", learning_seeds(0))
@pytest.mark.parametrize("algo", list(CASES))
def test_no_illegal_action_while_training_or_evaluating_and_the_optimum_is_reached(algo, seed, expect, monkeypatch):
    """Measured, seeds 0–4 × 1 and 2 threads: every algorithm at return 1.0 and length 3.0, no
    illegal action (training and 1,000+ evaluation steps)."""
    monkeypatch.setattr(LockedJumps, "illegal", 0)
    steps, config = CASES[algo]
    agent = rung.train(algo, LockedJumps, steps=steps, seed=seed, config=config, threads=TEST_THREADS,
                       eval_episodes=400)                 # ≥ 3 steps each: ≥ 1,200 evaluation steps
    assert LockedJumps.illegal == 0                       # not while exploring, not while evaluating
    assert agent.eval["mean_length"] * agent.eval["episodes"] >= 1000
    expect("eval return", agent.eval["mean_return"], ">=", 1.0)
    expect("eval length", agent.eval["mean_length"], "<=", 3.0)
