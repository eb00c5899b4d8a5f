"""ReplayBuffer: storage properties under hypothesis, n-step targets against a brute-force loop."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rung.buffers import ReplayBuffer


def fill(buffer, rewards, terminated, truncated, valid):
    """Add T vector steps; obs of step t is 10·t + env index, next_obs is obs + 0.5."""
    steps, n_envs = rewards.shape
    for t in range(steps):
        obs = (10.0 * t + np.arange(n_envs))[:, None].astype(np.float32)
        buffer.add(obs, np.full(n_envs, t % 3), rewards[t], obs + 0.5, terminated[t], truncated[t], valid[t])


episodes = st.integers(1, 40).flatmap(lambda steps: st.tuples(
    st.just(steps), st.integers(1, 3), st.integers(1, 50), st.integers(1, 4), st.integers(0, 2**31 - 1)))


def random_stream(steps, n_envs, seed):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(steps, n_envs)).astype(np.float32)
    ends = rng.random((steps, n_envs)) < 0.2
    terminated = ends & (rng.random((steps, n_envs)) < 0.5)
    truncated = ends & ~terminated
    valid = np.ones((steps, n_envs), dtype=bool)
    valid[1:] = ~ends[:-1]                 # next-step autoreset: the step after an end is a reset step
    terminated &= valid
    truncated &= valid
    return rewards, terminated, truncated, valid


@settings(max_examples=60, deadline=None)
@given(episodes)
def test_ring_keeps_the_newest_rows_and_samples_only_valid_ones(case):
    steps, n_envs, capacity, _, seed = case
    rewards, terminated, truncated, valid = random_stream(steps, n_envs, seed)
    buffer = ReplayBuffer(capacity * n_envs, n_envs, (1,), np.float32)
    fill(buffer, rewards, terminated, truncated, valid)
    kept = min(steps, capacity)
    assert len(buffer) == kept * n_envs
    stored_steps = sorted(set((buffer.obs[:kept, 0, 0] // 10).astype(int)))
    assert stored_steps == list(range(steps - kept, steps))
    if not valid[steps - kept:].any():
        return
    rows, envs = buffer.sample_indices(200, np.random.default_rng(seed))
    assert buffer.valid[rows, envs].all()
    assert (rows < kept).all() and (envs < n_envs).all()


def brute_force_n_step(rewards, terminated, truncated, t, env, n, gamma, last_step):
    """G = Σ_{k<m} γ^k r_{t+k}; stop after a terminal (discount 0), a truncation or the newest step."""
    g, discount = 0.0, 1.0
    for k in range(n):
        step = t + k
        g += discount * rewards[step, env]
        discount *= gamma
        if terminated[step, env]:
            return g, 0.0, step
        if truncated[step, env] or step == last_step:
            return g, discount, step
    return g, discount, t + n - 1


@settings(max_examples=60, deadline=None)
@given(episodes)
def test_n_step_targets_match_brute_force(case):
    steps, n_envs, _, n, seed = case
    gamma = 0.9
    rewards, terminated, truncated, valid = random_stream(steps, n_envs, seed)
    buffer = ReplayBuffer(steps * n_envs, n_envs, (1,), np.float32)  # no wrap-around here
    fill(buffer, rewards, terminated, truncated, valid)
    rows, envs = np.nonzero(valid)
    batch = buffer.gather(rows, envs, n, gamma)
    for i, (t, env) in enumerate(zip(rows, envs)):
        g, discount, last = brute_force_n_step(rewards, terminated, truncated, t, env, n, gamma, steps - 1)
        assert batch.returns[i] == pytest.approx(g, abs=1e-5)
        assert batch.discounts[i] == pytest.approx(discount, abs=1e-6)
        assert batch.next_obs[i, 0] == 10.0 * last + env + 0.5   # bootstraps from s_{t+m}
        assert batch.obs[i, 0] == 10.0 * t + env


def test_one_step_targets_keep_terminated_and_truncated_apart():
    buffer = ReplayBuffer(8, 1, (1,), np.float32)
    rewards = np.array([[1.0], [2.0], [0.0], [3.0]], dtype=np.float32)
    terminated = np.array([[False], [True], [False], [False]])
    truncated = np.array([[False], [False], [False], [True]])
    valid = np.array([[True], [True], [False], [True]])
    fill(buffer, rewards, terminated, truncated, valid)
    batch = buffer.gather(np.array([0, 1, 3]), np.array([0, 0, 0]), 1, 0.5)
    np.testing.assert_allclose(batch.returns, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(batch.discounts, [0.5, 0.0, 0.5])  # terminal: no bootstrap; truncated: γ
