"""Experience storage. ReplayBuffer keeps terminated and truncated apart and can return n-step targets.

Layout [T, N]: row t holds the N envs' transitions of vector step t, so each env's steps are
consecutive in its column, which is what n-step returns need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ReplayBatch:
    obs: np.ndarray        # [B, *obs_shape]
    actions: np.ndarray    # [B, *action_shape]
    returns: np.ndarray    # [B] Σ_{k<m} γ^k r_{t+k}: the n-step reward sum (m ≤ n steps)
    next_obs: np.ndarray   # [B, *obs_shape] the obs to bootstrap from, s_{t+m}
    discounts: np.ndarray  # [B] γ^m, or 0 when the episode terminated within the m steps
    next_masks: np.ndarray | None = None  # [B, A] the legal actions in s_{t+m} (rung.masks); None: all


class ReplayBuffer:
    """A preallocated ring buffer of transitions (s, a, r, s', terminated, truncated).

    Rows marked invalid (the reset step of Gymnasium's next-step autoreset, whose "transition" from
    the final obs to the first obs of a new episode is not real) are stored but never sampled. For an
    env with action masks, the legal actions of s' are kept too (`next_masks`, made at the first add
    that has them), for targets that maximise over legal actions only."""

    def __init__(self, capacity: int, n_envs: int, obs_shape: tuple, obs_dtype, action_shape: tuple = (),
                 action_dtype=np.int64):
        self.rows = max(capacity // n_envs, 1)
        self.n_envs = n_envs
        self.obs = np.zeros((self.rows, n_envs, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((self.rows, n_envs, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((self.rows, n_envs, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros((self.rows, n_envs), dtype=np.float32)
        self.terminated = np.zeros((self.rows, n_envs), dtype=bool)
        self.truncated = np.zeros((self.rows, n_envs), dtype=bool)
        self.valid = np.zeros((self.rows, n_envs), dtype=bool)
        self.next_masks = None
        self.pos, self.full = 0, False

    ARRAYS = ("obs", "next_obs", "actions", "rewards", "terminated", "truncated", "valid")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Plain arrays (safetensors holds no records): Dict observations field by field, as `obs.FIELD`."""
        arrays = {}
        for name in self.ARRAYS:
            array = getattr(self, name)
            fields = array.dtype.names or ()
            arrays.update({f"{name}.{field}": np.ascontiguousarray(array[field]) for field in fields} or {name: array})
        masks = {} if self.next_masks is None else {"next_masks": self.next_masks}
        return {**arrays, **masks, "position": np.array([self.pos, self.full])}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for name in self.ARRAYS:
            array = getattr(self, name)
            for field in array.dtype.names or ():
                array[field] = state[f"{name}.{field}"]
            if array.dtype.names is None:
                array[...] = state[name]
        self.next_masks = np.array(state["next_masks"]) if "next_masks" in state else None
        self.pos, self.full = int(state["position"][0]), bool(state["position"][1])

    def __len__(self) -> int:
        """Number of stored rows × envs (valid or not)."""
        return (self.rows if self.full else self.pos) * self.n_envs

    def add(self, obs, actions, rewards, next_obs, terminated, truncated, valid, next_masks=None) -> None:
        """Store one vector step: every argument has a leading [N] axis."""
        t = self.pos
        self.obs[t], self.actions[t], self.rewards[t], self.next_obs[t] = obs, actions, rewards, next_obs
        self.terminated[t], self.truncated[t], self.valid[t] = terminated, truncated, valid
        if next_masks is not None:
            if self.next_masks is None:
                self.next_masks = np.ones((self.rows, self.n_envs, next_masks.shape[-1]), dtype=bool)
            self.next_masks[t] = next_masks
        self.pos = (t + 1) % self.rows
        self.full = self.full or self.pos == 0

    def reward_rms(self) -> float:
        """√(mean r²) over the valid stored transitions (1 when they are all 0): a typical reward's size."""
        filled = self.rows if self.full else self.pos
        rewards = self.rewards[:filled][self.valid[:filled]].astype(np.float64)
        rms = float(np.sqrt(np.mean(rewards ** 2))) if rewards.size else 0.0
        return rms if rms > 0 else 1.0

    def sample_indices(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Uniform (row, env) pairs among valid stored transitions."""
        filled = self.rows if self.full else self.pos
        if not self.valid[:filled].any():
            raise ValueError("the replay buffer holds no valid transition yet")
        rows = rng.integers(filled, size=batch_size)
        envs = rng.integers(self.n_envs, size=batch_size)
        bad = ~self.valid[rows, envs]
        while bad.any():  # resample the rare autoreset rows
            rows[bad] = rng.integers(filled, size=int(bad.sum()))
            envs[bad] = rng.integers(self.n_envs, size=int(bad.sum()))
            bad = ~self.valid[rows, envs]
        return rows, envs

    def sample(self, batch_size: int, rng: np.random.Generator, n_step: int = 1, gamma: float = 0.99) -> ReplayBatch:
        rows, envs = self.sample_indices(batch_size, rng)
        return self.gather(rows, envs, n_step, gamma)

    def gather(self, rows: np.ndarray, envs: np.ndarray, n_step: int, gamma: float) -> ReplayBatch:
        """n-step targets for the transitions at (rows, envs):
        G = Σ_{k<m} γ^k r_{t+k}, bootstrapped from s_{t+m} with weight γ^m (0 if terminated),
        where m ≤ n stops early at the episode's end or at the newest stored step."""
        returns = np.zeros(len(rows), dtype=np.float32)
        discounts = np.ones(len(rows), dtype=np.float32)
        last = rows.copy()                      # row of the last step taken into the sum
        active = np.ones(len(rows), dtype=bool)  # still summing
        terminated = np.zeros(len(rows), dtype=bool)
        newest = (self.pos - 1) % self.rows
        for k in range(n_step):
            r = (rows + k) % self.rows
            returns += np.where(active, discounts * self.rewards[r, envs], 0.0)
            discounts = np.where(active, discounts * gamma, discounts)
            last = np.where(active, r, last)
            ended = self.terminated[r, envs] | self.truncated[r, envs]
            terminated |= active & self.terminated[r, envs]
            active &= ~ended & (r != newest)
        discounts = np.where(terminated, 0.0, discounts).astype(np.float32)
        return ReplayBatch(self.obs[rows, envs], self.actions[rows, envs], returns, self.next_obs[last, envs],
                           discounts, None if self.next_masks is None else self.next_masks[last, envs])


class RolloutBuffer:
    """One on-policy rollout: T steps of N envs, [T, N, ...] arrays, overwritten every iteration.

    `valid[t, n]` is False for the reset step that next-step autoreset inserts after an episode ends;
    those rows carry no real transition and are left out of every loss. `masks` [T, N, K], the legal
    actions at each step (rung.masks), exists once a step with masks has been stored."""

    def __init__(self, steps: int, n_envs: int, obs_shape: tuple, obs_dtype, action_shape: tuple, action_dtype):
        shape = (steps, n_envs)
        self.obs = np.zeros((*shape, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((*shape, *action_shape), dtype=action_dtype)
        self.logp = np.zeros(shape, dtype=np.float32)      # log π_θold(a|s), filled after collection
        self.values = np.zeros(shape, dtype=np.float32)    # V(s), filled after collection
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.truncated = np.zeros(shape, dtype=bool)
        self.valid = np.zeros(shape, dtype=bool)
        self.masks = None
        self.starts = None         # [T, N] True where an episode begins (recurrent policies)
        self.first_memory = None   # a recurrent policy's (h, c) [1, N, H] entering row 0

    def store(self, t: int, obs, actions, rewards, terminated, truncated, valid, masks=None) -> None:
        self.obs[t], self.actions[t], self.rewards[t] = obs, actions, rewards
        self.terminated[t], self.truncated[t], self.valid[t] = terminated, truncated, valid
        if masks is not None:
            self.store_masks(t, slice(None), masks)

    def store_masks(self, rows, columns, masks: np.ndarray) -> None:
        if self.masks is None:
            self.masks = np.ones((*self.valid.shape, masks.shape[-1]), dtype=bool)
        self.masks[rows, columns] = masks

    def next_values(self, last_values: np.ndarray) -> np.ndarray:
        """V(s_{t+1}) for every step: the next row's V (with next-step autoreset that row's obs is the
        true next obs, the final one after an episode ends) and V(obs after the rollout) for the last."""
        return np.concatenate([self.values[1:], last_values[None]], axis=0)


def check_rollout_budget(n_envs: int, n_steps: int, steps: int) -> None:
    """An on-policy learner updates once per rollout of n_envs × n_steps: a smaller budget never trains."""
    if steps < n_envs * n_steps:
        from rung.errors import RungError

        raise RungError(f"the budget of {steps:,} steps is smaller than one rollout "
                        f"(n_envs × n_steps = {n_envs * n_steps:,}): nothing would ever train")


class RewardScaler:
    """Divides rewards by the running standard deviation of the discounted return (as SB3's
    VecNormalize): R_t = γ·R_{t−1} + r_t per env, reset at episode ends; r ← clip(r / √(Var[R] + 1e-8)).
    Var[R] is kept by Chan et al.'s parallel update, as rung.nets.RunningNorm, here in NumPy scalars:
    it runs every env step, where torch's per-call overhead cost ≈ 100 µs."""

    def __init__(self, n_envs: int, gamma: float, clip: float = 10.0):
        self.gamma, self.clip = gamma, clip
        self.running_return = np.zeros(n_envs)
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def restart(self) -> None:
        """The envs start new episodes: their discounted returns start again from 0."""
        self.running_return[:] = 0.0

    def state_dict(self) -> dict:
        return {"running_return": self.running_return, "moments": np.array([self.mean, self.var, self.count])}

    def load_state_dict(self, state: dict) -> None:
        self.running_return[:] = state["running_return"]
        self.mean, self.var, self.count = (float(x) for x in state["moments"])

    def __call__(self, rewards: np.ndarray, ended: np.ndarray, valid: np.ndarray) -> np.ndarray:
        self.running_return = np.where(valid, self.running_return * self.gamma + rewards, self.running_return)
        if valid.any():
            batch = self.running_return[valid]
            delta, total = batch.mean() - self.mean, self.count + len(batch)
            self.mean += delta * len(batch) / total
            # M2 = M2_a + M2_b + δ²·n_a·n_b / n
            n = len(batch)
            self.var = (self.var * self.count + batch.var() * n + delta ** 2 * self.count * n / total) / total
            self.count = total
        self.running_return[ended] = 0.0
        return np.clip(rewards / np.sqrt(self.var + 1e-8), -self.clip, self.clip).astype(np.float32)
