"""Discrete and MultiDiscrete observations enter the deep algorithms one-hot (issue 15, item 1)."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

import rung
from rung.nets import OneHot, make_body
from tests.cli.fixtures.gridworld import Chain


def test_one_hot_by_hand_with_starts_and_several_components():
    discrete = OneHot(spaces.Discrete(3, start=-1))
    assert discrete(torch.tensor([-1, 1])).tolist() == [[1, 0, 0], [0, 0, 1]]
    multi = OneHot(spaces.MultiDiscrete([2, 3], start=[0, 1]))
    assert multi(torch.tensor([[1, 1], [0, 3]])).tolist() == [[0, 1, 1, 0, 0], [1, 0, 0, 0, 1]]


def test_a_code_body_sees_states_as_categories_not_numbers():
    body = make_body(spaces.Discrete(6), (8,))
    torch.manual_seed(0)
    features = body(torch.arange(6))
    assert features.shape == (6, 8)
    # with one-hot inputs, state 2 is no "average" of states 1 and 3 (it would be, on the raw number, for a linear layer)
    pre = body.net[1](body.encoder(torch.arange(6)))
    assert not torch.allclose(pre[2], (pre[1] + pre[3]) / 2)


@pytest.mark.parametrize("algo, config", [("dqn", {"learning_starts": 200, "target_update_interval": 200, "lr": 1e-3,
                                                   "exploration_fraction": 0.5}),
                                          ("ppo", {"n_envs": 4, "n_steps": 64})])
def test_deep_algorithms_train_on_a_discrete_observation_env(tmp_path, algo, config):
    """A plumbing check that learns: the optimal walk at seeds 0–4 (checked), 4,000 steps, one thread."""
    agent = rung.train(algo, Chain, steps=4000, seed=0, config=config, eval_episodes=5, run_dir=tmp_path / algo,
                       threads=1)
    assert agent.eval["mean_length"] == 5 and agent.eval["mean_return"] == 1.0   # straight along the chain
    loaded = rung.load(tmp_path / algo)
    observations = np.arange(6)
    assert np.array_equal(loaded.act_batch(observations), agent.act_batch(observations))
