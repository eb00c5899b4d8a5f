"""The TD targets and one full update, against numbers worked out by hand."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.wrappers import RecordEpisodeStatistics

from rung.algos import qlearning, sarsa
from rung.algos.qlearning import q_learning_target
from rung.algos.sarsa import sarsa_target
from rung.config import build
from rung.runs import Logger


def test_q_learning_target_bootstraps_from_the_max():
    # y = r + γ max_a' Q(s',a') = 1 + 0.9 · 3 = 3.7
    assert q_learning_target(1.0, np.array([0.5, 3.0, -2.0]), False, 0.9) == pytest.approx(3.7)


def test_q_learning_target_stops_at_a_terminal_state():
    assert q_learning_target(1.0, np.array([0.5, 3.0]), True, 0.9) == 1.0


def test_sarsa_target_uses_the_chosen_action():
    # y = r + γ Q(s',a') = −1 + 0.5 · (−2) = −2
    assert sarsa_target(-1.0, -2.0, False, 0.5) == pytest.approx(-2.0)
    assert sarsa_target(-1.0, -2.0, True, 0.5) == -1.0


class Corridor(gym.Env):
    """States 0 → 1 → 2, one action; reward 1 per step; state 2 ends the episode if `terminal_end`,
    otherwise the episode is cut by a time limit of 2 steps (truncation)."""

    observation_space = spaces.Discrete(3)
    action_space = spaces.Discrete(1)

    def __init__(self, terminal_end=True):
        self.terminal_end = terminal_end

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.state = 0
        return 0, {}

    def step(self, action):
        self.state += 1
        at_end = self.state == 2
        return self.state, 1.0, at_end and self.terminal_end, at_end and not self.terminal_end, {}


def one_episode_q(terminal_end, algo):
    """Q after exactly one episode (2 steps) with α = 0.5, γ = 0.9 and Q initialised to 10."""
    config = build(algo.Config, {"lr": 0.5, "lr_final": 0.5, "gamma": 0.9, "q_init": 10.0, "epsilon": 0.0,
                                 "epsilon_final": 0.0})
    return algo.train(CorridorMaker(terminal_end), config, steps=2, seed=0, logger=Logger(2)).q


class CorridorMaker:
    """Stands in for rung.envs.EnvMaker: the algorithm asks it for its env."""

    env_id = "Corridor"

    def __init__(self, terminal_end):
        self.terminal_end = terminal_end

    def single(self):
        return RecordEpisodeStatistics(Corridor(self.terminal_end))


@pytest.mark.parametrize("algo", [qlearning, sarsa])
def test_update_does_not_bootstrap_past_termination(algo):
    q = one_episode_q(terminal_end=True, algo=algo)
    # step 1: Q(0) ← 10 + 0.5·(1 + 0.9·10 − 10) = 10      (bootstraps from Q(1) = 10)
    # step 2: Q(1) ← 10 + 0.5·(1 − 10) = 5.5               (state 2 is terminal: target is r)
    np.testing.assert_allclose(q[:, 0], [10.0, 5.5, 10.0])


@pytest.mark.parametrize("algo", [qlearning, sarsa])
def test_update_bootstraps_past_truncation(algo):
    q = one_episode_q(terminal_end=False, algo=algo)
    # step 2 is cut by the time limit: Q(1) ← 10 + 0.5·(1 + 0.9·10 − 10) = 10
    np.testing.assert_allclose(q[:, 0], [10.0, 10.0, 10.0])


def test_sarsa_and_q_learning_targets_differ_off_the_greedy_action():
    """With ε = 1 the next action is random: SARSA's target follows it, Q-learning's takes the max."""
    rng = np.random.default_rng(0)
    next_q = np.array([0.0, 4.0])
    targets = {sarsa_target(0.0, next_q[rng.integers(2)], False, 1.0) for _ in range(50)}
    assert targets == {0.0, 4.0}
    assert q_learning_target(0.0, next_q, False, 1.0) == 4.0
