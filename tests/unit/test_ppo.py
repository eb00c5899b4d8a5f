"""PPO's pieces against hand values; policy distributions and action rescaling."""

import math

import numpy as np
import pytest
import torch
from gymnasium import spaces

import rung
from rung.algos import ppo
from rung.algos.ppo import clipped_surrogate_loss, explained_variance, value_loss
from rung.envs import ActionScaler
from rung.nets import ActorCritic


def test_clipped_surrogate_by_hand():
    # ratios e^{log r}: 1.5 (A = +1: capped at 1.2), 0.5 (A = −1: floored at 0.8), 1.1 (A = +2: inside)
    logp_old = torch.zeros(3)
    logp = torch.log(torch.tensor([1.5, 0.5, 1.1]))
    advantages = torch.tensor([1.0, -1.0, 2.0])
    loss, stats = clipped_surrogate_loss(logp, logp_old, advantages, 0.2)
    # min(1.5·1, 1.2·1) = 1.2 ; min(0.5·−1, 0.8·−1) = −0.8 ; min(2.2, 2.2) = 2.2 → −mean = −(2.6/3)
    assert loss.item() == pytest.approx(-2.6 / 3)
    assert stats["clipfrac"].item() == pytest.approx(2 / 3)
    # k3 = mean((r − 1) − log r); k1 = mean(−log r)
    r = torch.tensor([1.5, 0.5, 1.1])
    assert stats["approx_kl"].item() == pytest.approx(((r - 1) - r.log()).mean().item())
    assert stats["old_approx_kl"].item() == pytest.approx((-r.log()).mean().item())


def test_clipping_only_removes_the_incentive_to_move_further():
    """Past the clip the gradient wrt log π is zero; inside it is A·r."""
    logp = torch.log(torch.tensor([1.5, 1.1])).requires_grad_()
    loss, _ = clipped_surrogate_loss(logp, torch.zeros(2), torch.tensor([1.0, 1.0]), 0.2)
    loss.backward()
    np.testing.assert_allclose(logp.grad.numpy(), [0.0, -1.1 / 2], rtol=1e-6)


def test_value_loss_with_and_without_clipping():
    values, old, returns = torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([3.0])
    assert value_loss(values, old, returns, None).item() == pytest.approx(1.0)
    # clipped V = 0 + clip(2, ±0.5) = 0.5 → (0.5 − 3)² = 6.25 > (2 − 3)² = 1 → 6.25
    assert value_loss(values, old, returns, 0.5).item() == pytest.approx(6.25)


def test_explained_variance():
    target = np.array([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(target, target) == 1.0
    assert explained_variance(np.full(4, target.mean()), target) == pytest.approx(0.0)
    assert explained_variance(-target, target) < 0


def test_gaussian_log_prob_matches_the_formula():
    policy = ActorCritic(spaces.Box(-1, 1, (3,)), spaces.Box(-1, 1, (2,)), (8,), log_std_init=math.log(0.5))
    obs = torch.randn(4, 3)
    dist, _ = policy(obs)
    actions = torch.randn(4, 2)
    mean = policy.actor(policy.body(obs))
    sigma = 0.5
    # log N(a; μ, σ²) summed over the 2 action dimensions
    expected = (-(actions - mean) ** 2 / (2 * sigma**2) - math.log(sigma) - 0.5 * math.log(2 * math.pi)).sum(dim=1)
    torch.testing.assert_close(dist.log_prob(actions), expected)


def test_multidiscrete_log_prob_is_the_sum_over_components():
    policy = ActorCritic(spaces.Box(-1, 1, (3,)), spaces.MultiDiscrete([3, 2]), (8,))
    obs = torch.randn(5, 3)
    dist, _ = policy(obs)
    actions = dist.sample()
    logits = policy.actor(policy.body(obs))
    expected = (torch.log_softmax(logits[:, :3], -1).gather(1, actions[:, :1]).squeeze(1)
                + torch.log_softmax(logits[:, 3:], -1).gather(1, actions[:, 1:]).squeeze(1))
    torch.testing.assert_close(dist.log_prob(actions), expected)


def test_action_scaler_maps_the_unit_box_to_asymmetric_bounds_and_clips():
    scaler = ActionScaler(spaces.Box(np.array([0.0, -2.0]), np.array([10.0, 1.0])))
    out = scaler(np.array([[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0], [3.0, -5.0]], np.float32))
    np.testing.assert_allclose(out, [[0.0, -2.0], [5.0, -0.5], [10.0, 1.0], [10.0, -2.0]])
    unbounded = ActionScaler(spaces.Box(-np.inf, np.inf, (2,)))
    np.testing.assert_array_equal(unbounded(np.array([7.0, -9.0])), [7.0, -9.0])


def test_ratio_is_exactly_one_on_the_first_minibatch(monkeypatch):
    """Before any update π_θ = π_θold, so r = 1 to the last bit: collection and update must compute
    log π identically."""
    first_ratios = []
    original = ppo.clipped_surrogate_loss

    def spy(logp, logp_old, advantages, clip_eps):
        if not first_ratios:
            first_ratios.append((logp - logp_old).exp().detach())
        return original(logp, logp_old, advantages, clip_eps)

    monkeypatch.setattr(ppo, "clipped_surrogate_loss", spy)
    rung.train("ppo", "CartPole-v1", steps=512, seed=0, preset="zoo", eval_episodes=1)
    assert torch.equal(first_ratios[0], torch.ones_like(first_ratios[0]))


def test_running_norm_matches_numpy_over_batches():
    from rung.nets import RunningNorm

    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(1000, 3))
    norm = RunningNorm((3,))
    for chunk in np.array_split(data, 7):
        norm.update(torch.from_numpy(chunk))
    np.testing.assert_allclose(norm.mean.numpy(), data.mean(0), rtol=1e-6)
    np.testing.assert_allclose(norm.var.numpy(), data.var(0), rtol=1e-5)
    out = norm(torch.from_numpy(data).float())
    np.testing.assert_allclose(out.mean(0).numpy(), 0.0, atol=1e-4)


def test_obs_normalisation_is_saved_and_frozen_in_evaluation(tmp_path, monkeypatch):
    first_ratios = []
    original = ppo.clipped_surrogate_loss

    def spy(logp, logp_old, advantages, clip_eps):
        first_ratios.append((logp - logp_old).abs().max().item())
        return original(logp, logp_old, advantages, clip_eps)

    monkeypatch.setattr(ppo, "clipped_surrogate_loss", spy)
    agent = rung.train("ppo", "Pendulum-v1", steps=2048, seed=0, eval_episodes=2, run_dir=tmp_path / "run",
                       config={"n_envs": 2, "n_steps": 256, "n_epochs": 1, "batch_size": 512,
                               "normalize_obs": True, "normalize_reward": True})
    # one minibatch per rollout, each the first after a collection: the statistics used to normalise
    # must be the collection's, so r = 1 up to float rounding (Gaussian log π computed on a batch of 2
    # rows and on one of ~500 rows differ in the last bit, ≈ 5e-7)
    assert first_ratios and max(first_ratios) < 1e-5
    stats = agent.policy.obs_norm
    assert stats.count.item() > 2000 and not torch.allclose(stats.var, torch.ones(3, dtype=torch.float64))
    mean_before = stats.mean.clone()
    rung.evaluate(agent, episodes=2)
    assert torch.equal(stats.mean, mean_before)                      # evaluation never updates statistics
    loaded = rung.load(tmp_path / "run")
    torch.testing.assert_close(loaded.policy.obs_norm.mean, stats.mean)
    obs = np.array([0.5, -0.5, 1.0], np.float32)
    np.testing.assert_array_equal(loaded.act(obs), agent.act(obs))


@pytest.mark.parametrize("action_space, normalize_obs", [
    (spaces.Discrete(3), False), (spaces.Discrete(3), True), (spaces.MultiDiscrete([2, 3]), True),
    (spaces.Box(-1, 1, (2,)), True)])
def test_fast_sampler_draws_from_the_networks_policy(action_space, normalize_obs):
    """The NumPy sampler used for acting must sample the same π(·|s) as the torch network."""
    from rung.nets import ActorCritic, fast_sampler

    torch.manual_seed(0)
    obs_space = spaces.Box(-np.inf, np.inf, (4,), np.float32)
    policy = ActorCritic(obs_space, action_space, (16, 16), "tanh", normalize_obs=normalize_obs, ortho=False)
    if normalize_obs:
        policy.obs_norm.update(torch.randn(100, 4, dtype=torch.float64) * 3 + 1)
    with torch.no_grad():
        if policy.log_std is not None:
            policy.log_std.fill_(-0.5)
    obs = np.tile(np.array([[0.5, -1.0, 2.0, 0.1]], dtype=np.float32), (20_000, 1))
    samples = fast_sampler(policy, np.random.default_rng(0))(obs)
    dist, _ = policy(torch.from_numpy(obs[:1]))
    if isinstance(action_space, spaces.Box):
        np.testing.assert_allclose(samples.mean(0), dist.mean[0].detach().numpy(), atol=0.02)
        np.testing.assert_allclose(samples.std(0), dist.stddev[0].detach().numpy(), atol=0.02)
        return
    parts = dist.parts if isinstance(action_space, spaces.MultiDiscrete) else [dist]
    columns = samples.reshape(len(obs), -1)
    for k, part in enumerate(parts):
        frequencies = np.bincount(columns[:, k], minlength=part.probs.shape[-1]) / len(obs)
        np.testing.assert_allclose(frequencies, part.probs[0].detach().numpy(), atol=0.015)


def test_reward_scaler_divides_by_the_std_of_the_discounted_return():
    """R_t = γR_{t−1} + r_t per env (reset when an episode ends); rewards are divided by √Var[R] over
    every R seen so far (brute force here, against the scaler's running update)."""
    from rung.buffers import RewardScaler

    rng = np.random.default_rng(0)
    scaler, gamma = RewardScaler(3, 0.9), 0.9
    running, seen = np.zeros(3), []
    for t in range(300):
        rewards = rng.normal(5.0, 3.0, size=3)
        ended, valid = rng.random(3) < 0.05, rng.random(3) < 0.95
        scaled = scaler(rewards, ended & valid, valid)
        running = np.where(valid, running * gamma + rewards, running)
        seen += list(running[valid])
        running[ended & valid] = 0.0
        np.testing.assert_allclose(scaled, np.clip(rewards / np.sqrt(np.var(seen) + 1e-8), -10, 10), rtol=1e-3)


@pytest.mark.parametrize("target_kl", [0.05, None])
def test_the_epochs_stop_at_the_first_minibatch_past_target_kl(monkeypatch, target_kl):
    """An over-aggressive update (lr 0.05) drifts past the KL target within its epochs: the stop comes at
    the first minibatch whose approx_kl from π_θold exceeds target_kl, and only then; without a target
    all n_epochs × minibatches run."""
    kls = []
    original = ppo.clipped_surrogate_loss

    def spy(logp, logp_old, advantages, clip_eps):
        loss, stats = original(logp, logp_old, advantages, clip_eps)
        kls.append(float(stats["approx_kl"]))
        return loss, stats

    monkeypatch.setattr(ppo, "clipped_surrogate_loss", spy)
    config = {"n_envs": 2, "n_steps": 64, "batch_size": 32, "n_epochs": 10, "lr": 0.05, "target_kl": target_kl}
    agent = rung.train("ppo", "CartPole-v1", steps=128, seed=0, preset="zoo", config=config, eval_episodes=1)
    if target_kl is None:
        assert len(kls) == 10 * 4 and max(kls) > 0.05   # the drift the stop is for
        assert agent.metrics[-1]["epochs_stopped_early"] == 0
    else:
        assert 1 < len(kls) < 10 * 4
        assert max(kls[:-1]) <= target_kl < kls[-1]
        assert agent.metrics[-1]["epochs_stopped_early"] == 1
