"""DQN pieces against hand-computed values, and the env plumbing it relies on."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from rung.algos.dqn import dqn_loss, polyak_update, td_targets
from rung.buffers import ReplayBuffer
from rung.envs import make_vec_env
from rung.nets import FlatParameters, QNetwork, make_body

RETURNS = torch.tensor([1.0, 0.5])
DISCOUNTS = torch.tensor([0.9, 0.0])          # the second transition ended in a terminal state
NEXT_Q_TARGET = torch.tensor([[1.0, 3.0], [5.0, 2.0]])
NEXT_Q_ONLINE = torch.tensor([[4.0, 1.0], [0.0, 9.0]])


def test_dqn_target_takes_the_target_nets_max():
    # y = G + γ·max_a' Q⁻(s',a') = 1 + 0.9·3 ; terminal: y = 0.5
    torch.testing.assert_close(td_targets(RETURNS, DISCOUNTS, NEXT_Q_TARGET), torch.tensor([3.7, 0.5]))


def test_double_dqn_target_lets_the_online_net_choose():
    # a* = argmax Q(s',·) = [0, 1]; y = 1 + 0.9·Q⁻(s',0) = 1.9 ; terminal: 0.5
    y = td_targets(RETURNS, DISCOUNTS, NEXT_Q_TARGET, NEXT_Q_ONLINE)
    torch.testing.assert_close(y, torch.tensor([1.9, 0.5]))


def test_huber_loss_is_quadratic_near_zero_and_linear_far():
    loss, stats = dqn_loss(torch.tensor([0.5, 4.0]), torch.tensor([0.0, 0.0]))
    # Huber: ½·0.5² = 0.125 and 4 − ½ = 3.5 ; mean = 1.8125
    assert loss.item() == pytest.approx(1.8125)
    assert stats["q_values"].item() == pytest.approx(2.25)


def test_dueling_head_is_value_plus_centred_advantage():
    net = QNetwork(make_body(spaces.Box(-1, 1, (3,)), (8,)), 4, dueling=True)
    obs = torch.randn(5, 3)
    features = net.body(obs)
    advantages = net.head(features)
    q = net(obs)
    torch.testing.assert_close(q.mean(dim=1, keepdim=True), net.value(features))
    torch.testing.assert_close(q - q.mean(dim=1, keepdim=True), advantages - advantages.mean(dim=1, keepdim=True))


def test_polyak_update():
    """θ⁻ ← τθ + (1 − τ)θ⁻ by hand, on the flat parameters of two networks."""
    online, target = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    online_flat, target_flat = FlatParameters(online), FlatParameters(target)
    before = [p.detach().clone() for p in target.parameters()]
    polyak_update(target_flat.param, online_flat.param, 0.25)
    for b, t, o in zip(before, target.parameters(), online.parameters()):
        torch.testing.assert_close(t, 0.75 * b + 0.25 * o)
    polyak_update(target_flat.param, online_flat.param, 1.0)
    for t, o in zip(target.parameters(), online.parameters()):
        assert torch.equal(t, o)


def test_flat_parameters_match_per_tensor_clipping_and_adam():
    torch.manual_seed(0)
    a = QNetwork(make_body(spaces.Box(-1, 1, (3,)), (16, 16)), 2)
    b = QNetwork(make_body(spaces.Box(-1, 1, (3,)), (16, 16)), 2)
    b.load_state_dict(a.state_dict())
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2)
    flat = FlatParameters(b)
    opt_b = torch.optim.Adam([flat.param], lr=1e-2)
    for _ in range(5):
        x = torch.randn(8, 3)
        opt_a.zero_grad()
        a(x).pow(2).sum().backward()
        torch.nn.utils.clip_grad_norm_(a.parameters(), 0.1)
        opt_a.step()
        flat.zero_grad()
        b(x).pow(2).sum().backward()
        flat.clip_grad_norm(0.1)
        opt_b.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, atol=1e-6, rtol=1e-5)


class Countdown(gym.Env):
    """obs = steps taken; ends after 3 steps by termination (`terminal=True`) or by truncation."""

    observation_space = spaces.Box(0, 10, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, terminal=True):
        self.terminal = terminal

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        end = self.t == 3
        return np.array([float(self.t)], np.float32), 1.0, end and self.terminal, end and not self.terminal, {}


@pytest.mark.parametrize("terminal", [True, False])
def test_vector_env_gives_the_true_final_obs_and_masks_the_reset_step(terminal):
    gym.register(f"rung-test/Countdown{terminal}-v0", entry_point=lambda: Countdown(terminal))
    env = make_vec_env(f"rung-test/Countdown{terminal}-v0", 1, backend="sync")
    buffer = ReplayBuffer(16, 1, (1,), np.float32)
    obs = env.reset(seed=0)
    for _ in range(5):
        next_obs, rewards, terminated, truncated, valid = env.step(np.zeros(1, dtype=np.int64))
        buffer.add(obs, np.zeros(1), rewards, next_obs, terminated, truncated, valid)
        obs = next_obs
    # step 3 ends the episode and returns the true final obs 3; step 4 is the reset step (not valid)
    assert buffer.next_obs[2, 0, 0] == 3.0
    assert buffer.terminated[2, 0] == terminal and buffer.truncated[2, 0] == (not terminal)
    assert list(buffer.valid[:5, 0]) == [True, True, True, False, True]
    batch = buffer.gather(np.array([2]), np.array([0]), 1, 0.9)
    assert batch.discounts[0] == (0.0 if terminal else pytest.approx(0.9))  # bootstrap only past truncation
    assert env.episodes.pop() == {"episodes": 1, "episodic_return": 3.0, "episodic_length": 3.0}


def test_sampled_rewards_are_divided_by_the_reward_scale():
    """One stored transition, r = 8, terminal; Q ≡ 0: the TD error is −r / scale, and Huber(x) = |x| − ½ for |x| > 1."""
    import copy

    from rung.algos.dqn import Config, update_burst
    from rung.optim import Adam

    q_net = QNetwork(make_body(spaces.Box(-1, 1, (2,)), (4,)), 2)
    torch.nn.init.zeros_(q_net.head.weight), torch.nn.init.zeros_(q_net.head.bias)
    target = copy.deepcopy(q_net)
    flat = FlatParameters(q_net)
    buffer = ReplayBuffer(8, 1, (2,), np.float32)
    buffer.add(np.zeros((1, 2), np.float32), np.array([1]), np.array([8.0]), np.zeros((1, 2), np.float32),
               np.array([True]), np.array([False]), np.array([True]))
    config = Config(batch_size=4, lr=1e-12)
    for scale, huber in ((1.0, 7.5), (4.0, 1.5)):
        stats = update_burst(q_net, target, flat, Adam(flat.param, lr=1e-12), buffer, config, 1,
                             np.random.default_rng(0), 1, reward_scale=scale)
        assert stats["td_loss"] == pytest.approx(huber)


def test_a_badly_scaled_env_is_normalised_and_the_saved_agent_keeps_the_statistics(tmp_path):
    import json

    import rung

    steps = 600
    agent = rung.train("dqn", "rung.testbed:ScaledObsCartPole", steps=steps, seed=0, run_dir=tmp_path / "run",
                       eval_episodes=2, config={"learning_starts": 100, "batch_size": 16})
    decided = json.loads((tmp_path / "run/config.json").read_text())["decided"]
    assert decided["normalize_obs"]["value"] and not decided["normalize_reward"]["value"]
    norm = agent.q_net.obs_norm
    assert norm.count.item() == pytest.approx(steps, abs=1e-3)      # every observation acted on, once
    assert 4000 < norm.mean[0].item() < 6000                        # cart position × 1,000 + 5,000
    loaded = rung.load(tmp_path / "run")
    assert torch.equal(loaded.q_net.obs_norm.mean, norm.mean) and torch.equal(loaded.q_net.obs_norm.var, norm.var)
    obs = np.random.default_rng(0).normal(5000, 300, (256, 4)).astype(np.float32)
    assert np.array_equal(loaded.act_batch(obs), agent.act_batch(obs))


def test_the_reward_scale_is_the_rms_of_the_random_steps_and_stays_fixed(tmp_path):
    import csv

    import rung

    buffer = ReplayBuffer(8, 2, (1,), np.float32)
    for rewards, valid in (([3.0, -4.0], [True, True]), ([100.0, 0.0], [False, True])):   # an invalid row is skipped
        buffer.add(np.zeros((2, 1)), np.zeros(2), np.array(rewards), np.zeros((2, 1)), np.zeros(2, bool),
                   np.zeros(2, bool), np.array(valid))
    assert buffer.reward_rms() == pytest.approx(np.sqrt((9 + 16 + 0) / 3))

    # CartPole paying 1,000 per step: rung decides to scale, by exactly 1,000, from the first update on
    rung.train("dqn", "rung.testbed:ScaledRewardCartPole", steps=600, seed=0, run_dir=tmp_path / "run", eval_episodes=1,
               config={"learning_starts": 100, "batch_size": 16})
    rows = [row for row in csv.DictReader(open(tmp_path / "run/metrics.csv")) if row["td_loss"]]
    assert rows and all(float(row["reward_scale"]) == 1000.0 for row in rows)
