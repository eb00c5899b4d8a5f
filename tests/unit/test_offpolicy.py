"""DDPG, TD3 and SAC pieces against hand values: the three TD targets with terminated vs truncated
transitions, the squashed Gaussian's log-probability against a numerical change of variables, target
smoothing's clip, TD3's delay, the temperature loss, the twin critics; and the runs' contracts:
a Discrete env refused, same seed same numbers, bit-exact resume with the replay buffer."""


import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import rung
from rung.algos import ddpg, sac, td3
from rung.buffers import ReplayBuffer
from rung.errors import RungError
from rung.nets import QCritics, SquashedGaussianActor, tanh_gaussian_log_prob

from tests.unit.test_determinism import learning_metrics
from tests.unit.test_resume import assert_bit_exact, crash_at_second_checkpoint


def replay_of_three_endings():
    """One env, three transitions with reward 1: an ordinary step, a terminal step and a time-limit
    truncation. Returns the buffer's 1-step (returns, discounts) for them, γ = 0.9."""
    buffer = ReplayBuffer(8, 1, (1,), np.float32, (1,), np.float32)
    for terminated, truncated in ((False, False), (True, False), (False, True)):
        buffer.add(np.zeros((1, 1)), np.zeros((1, 1)), np.ones(1), np.ones((1, 1)), np.array([terminated]),
                   np.array([truncated]), np.array([True]))
    batch = buffer.gather(np.arange(3), np.zeros(3, dtype=int), 1, 0.9)
    return torch.from_numpy(batch.returns), torch.from_numpy(batch.discounts)


def test_ddpg_target_bootstraps_through_truncation_not_termination():
    returns, discounts = replay_of_three_endings()
    y = ddpg.bootstrap_targets(returns, discounts, torch.tensor([10.0, 10.0, 10.0]))
    torch.testing.assert_close(y, torch.tensor([1 + 0.9 * 10, 1.0, 1 + 0.9 * 10]))


def test_td3_target_takes_the_smaller_critic():
    returns, discounts = replay_of_three_endings()
    next_q = torch.tensor([[10.0, 10.0, 4.0], [6.0, 20.0, 8.0]])                # [K=2, B=3]
    y = td3.clipped_double_q_targets(returns, discounts, next_q)
    torch.testing.assert_close(y, torch.tensor([1 + 0.9 * 6, 1.0, 1 + 0.9 * 4]))


def test_sac_soft_target_subtracts_alpha_log_pi():
    returns, discounts = replay_of_three_endings()
    next_q = torch.tensor([[10.0, 10.0, 4.0], [6.0, 20.0, 8.0]])
    next_logp = torch.tensor([-1.0, 3.0, 2.0])
    y = sac.soft_targets(returns, discounts, next_q, next_logp, 0.5)
    # min_k (Q_k − α log π): 6 + 0.5 = 6.5; terminal: r only; 4 − 1 = 3
    torch.testing.assert_close(y, torch.tensor([1 + 0.9 * 6.5, 1.0, 1 + 0.9 * 3.0]))


def test_critic_loss_sums_the_critics_mean_squared_errors():
    q = torch.tensor([[1.0, 2.0], [0.0, 4.0]])
    loss, stats = ddpg.critic_loss(q, torch.tensor([1.0, 1.0]))
    assert float(loss) == pytest.approx((0 + 1) / 2 + (1 + 9) / 2)
    assert float(stats["qf2_loss"]) == pytest.approx(5.0) and float(stats["qf1_values"]) == pytest.approx(1.5)


def test_squashed_gaussian_log_prob_matches_a_numerical_change_of_variables():
    """log π(a) = log p_u(u) − log |da/du|, with da/du of tanh taken by finite differences, per component."""
    torch.manual_seed(0)
    mean, log_std = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64) * 0.5
    u = mean + log_std.exp() * torch.randn(5, 3, dtype=torch.float64) * 3   # far tails too
    h = 1e-6
    slope = (torch.tanh(u + h) - torch.tanh(u - h)) / (2 * h)
    density = torch.distributions.Normal(mean, log_std.exp()).log_prob(u)
    expected = (density - slope.log()).sum(-1)
    torch.testing.assert_close(tanh_gaussian_log_prob(u, mean, log_std), expected, rtol=1e-6, atol=1e-6)


def test_squashed_actor_samples_stay_in_the_box_and_match_their_log_prob():
    torch.manual_seed(1)
    actor = SquashedGaussianActor(spaces.Box(-1, 1, (4,)), 2, (16,))
    obs = torch.randn(64, 4)
    torch.manual_seed(2)
    actions, logp = actor.sample(obs)
    assert actions.abs().max() <= 1.0
    torch.manual_seed(2)                                    # the same ε again, by hand
    mean, log_std = actor.mean_log_std(obs)
    u = mean + log_std.exp() * torch.randn_like(mean)
    torch.testing.assert_close(actions, torch.tanh(u))
    torch.testing.assert_close(logp, tanh_gaussian_log_prob(u, mean, log_std))


def test_target_smoothing_noise_is_clipped_and_the_action_stays_in_the_box():
    torch.manual_seed(0)
    actions = torch.tensor([[0.0, 0.9, -0.95]]).expand(10_000, 3)
    smoothed = td3.smoothed_target_actions(actions, noise_std=5.0, noise_clip=0.5)   # huge σ: clipping decides
    noise = smoothed - actions
    assert noise[:, 0].abs().max() == pytest.approx(0.5)                 # clipped to ±c
    assert smoothed.max() == 1.0 and smoothed.min() == -1.0              # then to the box
    assert td3.smoothed_target_actions(actions, 0.0, 0.5).equal(actions)


def test_temperature_loss_raises_alpha_when_the_entropy_is_below_target():
    log_alpha = torch.zeros(1, requires_grad=True)
    logp = torch.tensor([2.0, 2.0])                                      # entropy −2 < target −1
    loss, _ = sac.temperature_loss(log_alpha, logp, target_entropy=-1.0)
    loss.backward()
    assert float(log_alpha.grad) == pytest.approx(-(2.0 - 1.0))         # −(log π + H̄): descent raises log α
    log_alpha.grad = None
    sac.temperature_loss(log_alpha, torch.tensor([0.5]), -1.0)[0].backward()
    assert float(log_alpha.grad) > 0                                      # entropy −0.5 > −1: α goes down


def test_twin_critics_are_two_independent_networks_evaluated_together():
    torch.manual_seed(0)
    critics = QCritics(spaces.Box(-1, 1, (3,)), 2, (8, 8), k=2)
    obs, actions = torch.randn(5, 3), torch.randn(5, 2)
    q = critics(obs, actions)
    x = torch.cat([obs, actions], dim=1)
    for k in range(2):
        h = x
        for layer in critics.net[:-1:2]:
            h = torch.relu(h @ layer.weight[k] + layer.bias[k])
        last = critics.net[-1]
        torch.testing.assert_close(q[k], (h @ last.weight[k] + last.bias[k]).squeeze(-1))
    assert not torch.allclose(q[0], q[1])


def test_td3_updates_the_actor_once_per_policy_delay_critic_updates(monkeypatch):
    calls = {"actor": 0, "critic": 0}
    step = ddpg.Optimised.step

    def counting_step(self, loss, global_step):
        calls["actor" if isinstance(self.net, rung.nets.DeterministicActor) else "critic"] += 1
        step(self, loss, global_step)
    monkeypatch.setattr(ddpg.Optimised, "step", counting_step)
    rung.train("td3", "Pendulum-v1", steps=400, config={"learning_starts": 100, "policy_delay": 3, "net_arch": (16,),
                                                        "batch_size": 16}, eval_episodes=1)
    assert calls["critic"] == 300 and calls["actor"] == 100


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
def test_a_discrete_action_env_is_refused_naming_who_can(algo):
    with pytest.raises(RungError, match=r"is not a Box.*algorithms that can: .*dqn"):
        rung.train(algo, "CartPole-v1", steps=500)


def test_an_unbounded_action_box_is_refused():
    class Unbounded(gym.Env):
        observation_space = spaces.Box(-1, 1, (2,))
        action_space = spaces.Box(-np.inf, np.inf, (1,))
    with pytest.raises(RungError, match="infinite bounds"):
        rung.train("sac", Unbounded, steps=500)


SMALL = {"learning_starts": 200, "net_arch": (32, 32), "batch_size": 32, "train_freq": 2, "gradient_steps": 2,
         "n_envs": 2}


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
def test_same_seed_same_metrics(algo):
    a, b = (rung.train(algo, "Pendulum-v1", steps=1000, seed=4, config=SMALL, eval_episodes=2) for _ in range(2))
    assert learning_metrics(a) == learning_metrics(b)
    assert any("qf1_loss" in row for row in a.metrics)
    assert a.eval == b.eval


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
def test_resume_is_bit_exact_with_the_replay_buffer(algo, tmp_path, monkeypatch):
    kwargs = dict(steps=1600, seed=3, config={**SMALL, "n_step": 2}, checkpoint_every=400, eval_episodes=2,
                  exact_resume=True)
    straight = rung.train(algo, "Pendulum-v1", run_dir=tmp_path / "straight", **kwargs)
    crash_at_second_checkpoint(algo, "Pendulum-v1", tmp_path / "resumed", kwargs, monkeypatch)
    resumed = rung.resume(tmp_path / "resumed")
    assert_bit_exact(tmp_path, straight, resumed)


class DictReach(gym.Env):
    """Dict observation (a position and a Discrete goal index) and an asymmetric action box: move the
    position toward the goal's corner; 20 steps."""
    observation_space = spaces.Dict({"pos": spaces.Box(-2, 2, (2,), np.float32), "goal": spaces.Discrete(4)})
    action_space = spaces.Box(np.array([0.0, -3.0], np.float32), np.array([2.0, 1.0], np.float32))
    CORNERS = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.goal, self.t = np.zeros(2, np.float32), int(self.np_random.integers(4)), 0
        return {"pos": self.pos.copy(), "goal": self.goal}, {}

    def step(self, action):
        assert self.action_space.contains(np.asarray(action, np.float32)), action
        self.pos = np.clip(self.pos + 0.1 * (np.asarray(action) - [1.0, -1.0]), -2, 2).astype(np.float32)
        self.t += 1
        reward = -float(np.abs(self.pos - self.CORNERS[self.goal]).sum())
        return {"pos": self.pos.copy(), "goal": self.goal}, reward, False, self.t >= 20, {}


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
def test_dict_observations_and_asymmetric_bounds_and_the_saved_agent_acts_the_same(algo, tmp_path):
    agent = rung.train(algo, DictReach, steps=600, config=SMALL, run_dir=tmp_path / "run", eval_episodes=1)
    loaded = rung.load(tmp_path / "run")
    env = DictReach()
    obs = [env.reset(seed=s)[0] for s in range(6)]
    batch = np.stack([agent.act(o) for o in obs])
    np.testing.assert_array_equal(batch, np.stack([loaded.act(o) for o in obs]))
    assert np.all(batch >= env.action_space.low) and np.all(batch <= env.action_space.high)
    unit_corners = agent.scaler(np.array([[-1.0, -1.0], [1.0, 1.0]], np.float32))
    np.testing.assert_array_equal(unit_corners, [[0.0, -3.0], [2.0, 1.0]])
