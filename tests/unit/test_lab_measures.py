"""The critic-bias experiment's Monte Carlo truth, by hand."""

import numpy as np

from rung.lab.critic_bias import MaxBias, soft_q_returns


def test_soft_q_returns_by_hand():
    rewards = np.array([[1.0, 2.0, 3.0]])
    logp = np.array([[-0.5, -1.0, 0.5]])
    gamma, alpha = 0.9, 0.2
    # Q(s_t, a_t) = r_t + Σ_{k>t} γ^{k−t}(r_k − α log π_k): a_t's own log π is not counted
    expected = [1 + 0.9 * (2 + 0.2) + 0.81 * (3 - 0.1), 2 + 0.9 * (3 - 0.1), 3.0]
    np.testing.assert_allclose(soft_q_returns(rewards, logp, gamma, alpha)[0], expected)
    # α = 0: the plain discounted return-to-go
    np.testing.assert_allclose(soft_q_returns(rewards, logp, gamma, 0.0)[0], [1 + 1.8 + 2.43, 2 + 2.7, 3.0])


def test_max_bias_mdp():
    env = MaxBias(actions=4, noise=1.0)
    assert env.reset(seed=0)[0] == MaxBias.A
    assert env.step(0)[1:3] == (0.0, True)                 # right ends at once with 0
    env.reset()
    assert env.step(3)[:3] == (MaxBias.B, 0.0, False)       # any other action goes left to B
    rewards = []
    for _ in range(4000):
        env.reset()
        env.step(1)
        rewards.append(env.step(2)[1])
    assert abs(np.mean(rewards) + 0.1) < 0.06 and 0.9 < np.std(rewards) < 1.1


def test_reuse_per_transition_by_hand():
    from types import SimpleNamespace

    from rung.lab.sample_reuse import reuse

    # one update of 256 per env step
    assert reuse("sac", SimpleNamespace(batch_size=256, gradient_steps=1, train_freq=1, n_envs=1)) == 256
    # a burst of one update per transition collected (gradient_steps −1) every 200 steps: still 256 per step
    assert reuse("td3", SimpleNamespace(batch_size=256, gradient_steps=-1, train_freq=200, n_envs=1)) == 256
    # 2 updates of 64 every 4 vector steps of 2 envs: 128 sampled per 8 transitions
    assert reuse("sac", SimpleNamespace(batch_size=64, gradient_steps=2, train_freq=4, n_envs=2)) == 16
    assert reuse("ppo", SimpleNamespace(n_epochs=10)) == 10


def test_iqm_interval_of_one_run_is_rliables_and_of_several_brackets_the_iqm():
    from rliable import library, metrics

    from rung.lab.common import iqm_ci

    # one run: the shortcut must give what rliable's bootstrap gives (every resample is that run)
    point, interval = library.get_interval_estimates({"x": np.array([[-3.25]])},
                                                     lambda x: np.array([metrics.aggregate_iqm(x)]), reps=50)
    assert iqm_ci([-3.25]) == {"iqm": point["x"][0], "low": interval["x"][0, 0], "high": interval["x"][1, 0], "n": 1}
    # several: the IQM of 1..8 is the mean of the middle half, 3..6
    several = iqm_ci(list(range(1, 9)), reps=200)
    assert several["iqm"] == 4.5 and several["low"] < 4.5 < several["high"] and several["n"] == 8
