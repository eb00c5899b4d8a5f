"""Action masks by hand (issue 15, item 3): the TD target over legal next actions, masked log π and
entropy, masked ε-greedy, and the one-line errors for a bad mask."""

import math

import numpy as np
import pytest
import torch
from gymnasium import spaces

import rung
from rung import masks
from rung.algos.dqn import td_targets
from rung.algos.tabular import epsilon_greedy
from rung.errors import RungError
from rung.nets import ActorCritic
from tests.cli.fixtures.space_envs import BadMask


def test_the_dqn_target_ignores_an_illegal_next_action_whose_q_is_largest():
    next_q = torch.tensor([[1.0, 5.0, 2.0], [4.0, 0.0, 3.0]])            # a' = 1 would win in row 0
    legal = torch.tensor([[True, False, True], [True, True, True]])
    returns, discounts = torch.tensor([0.5, 0.0]), torch.tensor([0.9, 0.9])
    y = td_targets(returns, discounts, next_q, next_masks=legal)
    assert y.tolist() == pytest.approx([0.5 + 0.9 * 2.0, 0.9 * 4.0])
    # Double DQN: the online net picks among legal actions, the target net scores the pick
    online = torch.tensor([[0.0, 9.0, 1.0], [0.0, 9.0, 1.0]])
    y = td_targets(returns, discounts, next_q, online, next_masks=legal)
    assert y.tolist() == pytest.approx([0.5 + 0.9 * 2.0, 0.9 * 0.0])


def test_masked_log_prob_and_entropy_by_hand_discrete_and_multidiscrete():
    torch.manual_seed(0)
    policy = ActorCritic(spaces.Box(-1, 1, (2,)), spaces.MultiDiscrete([3, 2]))
    obs = torch.zeros(1, 2)
    with torch.no_grad():
        policy.actor.bias.copy_(torch.tensor([1.0, 2.0, 3.0, 0.5, 0.5]))
        policy.actor.weight.zero_()
    legal = torch.tensor([[True, False, True, True, True]])               # component 0: actions 0 and 2
    dist, _ = policy(obs, legal)
    # softmax over the legal logits (1, 3): π = e/(e + e³), e³/(e + e³); component 1 uniform
    p0, p2 = math.e / (math.e + math.e ** 3), math.e ** 3 / (math.e + math.e ** 3)
    assert dist.log_prob(torch.tensor([[2, 1]])).item() == pytest.approx(math.log(p2) + math.log(0.5), rel=1e-5)
    assert dist.entropy().item() == pytest.approx(-(p0 * math.log(p0) + p2 * math.log(p2)) + math.log(2), rel=1e-5)
    assert dist.mode.tolist() == [[2, 0]]
    samples = torch.stack([dist.sample() for _ in range(200)])
    assert not (samples[..., 0] == 1).any()                               # the illegal action is never drawn


def test_masked_epsilon_greedy_never_leaves_the_legal_actions():
    rng = np.random.default_rng(0)
    q_row, legal = np.array([5.0, 1.0, 2.0, 9.0]), np.array([False, True, True, False])
    chosen = {epsilon_greedy(q_row, 0.5, rng, legal) for _ in range(200)}
    assert chosen == {1, 2}
    assert epsilon_greedy(q_row, 0.0, rng, legal) == 2
    assert set(masks.random_legal(np.tile(legal, (300, 1)), rng).tolist()) == {1, 2}


@pytest.mark.parametrize("algo", ["qlearning", "dqn", "ppo"])
def test_a_mask_of_the_wrong_length_is_a_one_line_error_naming_the_step(algo):
    with pytest.raises(RungError, match=r"action mask of shape \(3,\) at env step 0.*needs 4 entries"):
        rung.train(algo, BadMask, steps=4096)


def test_a_mask_without_a_legal_action_is_a_one_line_error_naming_the_step():
    with pytest.raises(RungError, match="no legal action at env step 3"):
        rung.train("qlearning", lambda: BadMask(empty_at=3), steps=2000)
    with pytest.raises(RungError, match=r"no legal action at env step \d+ \(env 0\)"):
        rung.train("ppo", lambda: BadMask(empty_at=3), steps=2000, config={"n_envs": 1, "n_steps": 64})


def test_a_mask_for_actions_that_cannot_be_masked_is_refused():
    with pytest.raises(RungError, match="no actions to mask"):
        masks.read({"action_mask": np.ones(2)}, spaces.Box(-1, 1, (2,)), "env", 0)
