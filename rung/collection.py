"""Collecting experience for the on-policy learners, and the seam where distributed workers plug in.

`Rollouts` (A2C, PPO) fills a [T, N] RolloutBuffer; `Episodes` (REINFORCE) plays whole episodes. Both
step a vector env in this process. rung.distributed's `RemoteRollouts` and `RemoteEpisodes` have the
same interface and let Ray actors step the envs instead (`--workers N`); an algorithm gets one or the
other from `EnvMaker.rollouts` / `EnvMaker.episodes` and never knows which.

The split: stepping envs with a policy (`run_steps`, `run_episodes`) is what a worker does, with its
own copy of the policy and its own random numbers. Everything that depends on all N envs at once stays
with the learner: reward scaling (running statistics over every env), log π and V of the rollout (one
batched forward pass), the scale check, and the episode statistics that get logged.
"""

from __future__ import annotations

import numpy as np

from rung.buffers import RolloutBuffer, RewardScaler
from rung.observations import as_tensor

# what a worker sends back of a rollout: the RolloutBuffer fields filled while stepping (and `masks`,
# for envs with action masks)
STEP_FIELDS = ("obs", "actions", "rewards", "terminated", "truncated", "valid")


def make_sampler(policy, rng: np.random.Generator):
    """a ~ π(·|s): `rung.nets.fast_sampler` where it applies (MLP bodies), else the torch network."""
    from rung.nets import fast_sampler

    return fast_sampler(policy, rng) or torch_sampler(policy)


def torch_sampler(policy):
    """a ~ π(·|s) through the torch network (any body, e.g. the CNN)."""
    import torch

    from rung.devices import device_of

    device = device_of(policy)

    @torch.inference_mode()
    def sample(obs: np.ndarray, action_masks: np.ndarray | None = None) -> np.ndarray:
        masks = None if action_masks is None else as_tensor(action_masks, device)
        return policy(as_tensor(obs, device), masks)[0].sample().cpu().numpy()
    return sample


def rollout_buffer(env, n_steps: int) -> RolloutBuffer:
    """A RolloutBuffer for T = `n_steps` steps of the N envs of `env` (anything with num_envs and single spaces)."""
    from gymnasium import spaces

    from rung.observations import layout

    action_space = env.single_action_space
    action_shape = () if isinstance(action_space, spaces.Discrete) else action_space.shape
    action_dtype = np.float32 if isinstance(action_space, spaces.Box) else np.int64
    return RolloutBuffer(n_steps, env.num_envs, *layout(env.single_observation_space), action_shape, action_dtype)


def run_steps(env, sample, scaler, obs: np.ndarray, buffer: RolloutBuffer) -> np.ndarray:
    """T steps of every env, acting with `sample(obs, action_masks) -> actions`, stored in `buffer` with
    the env's own (unscaled) rewards and its action masks, if any. Returns the obs after the last step."""
    for t in range(len(buffer.rewards)):
        masks = env.action_masks
        actions = sample(obs, masks)
        next_obs, rewards, terminated, truncated, valid = env.step(scaler(actions))
        buffer.store(t, obs, actions, rewards, terminated, truncated, valid, masks)
        obs = next_obs
    return obs


def run_episodes(env, policy, scaler, episodes_per_env: int, seed: int | None) -> dict[str, np.ndarray]:
    """Reset the envs (with `seed`, or continuing their RNG when None) and run every env for exactly
    `episodes_per_env` whole episodes. Arrays [T, N] ([T + 1, N] for obs: the last row is the obs
    after the last step, for bootstrapping), `used`, the mask of steps inside those episodes, and
    `steps`, the env steps taken; `action_masks` [T, N, K] too for an env with action masks."""
    import torch

    from rung.devices import device_of

    device = device_of(policy)
    obs = env.reset(seed=seed)
    n = env.num_envs
    rows = {key: [] for key in ("obs", "actions", "rewards", "terminated", "truncated", "used", "action_masks")}
    finished = np.zeros(n, dtype=np.int64)
    with torch.inference_mode():
        while (finished < episodes_per_env).any():
            masks = env.action_masks
            dist, _ = policy(as_tensor(obs, device), None if masks is None else as_tensor(masks, device))
            actions = dist.sample().cpu().numpy()
            next_obs, rewards, terminated, truncated, valid = env.step(scaler(actions))
            used = valid & (finished < episodes_per_env)
            for key, value in zip(rows, (obs, actions, rewards, terminated, truncated, used, masks)):
                rows[key].append(value)
            finished += used & (terminated | truncated)
            obs = next_obs
        rows["obs"].append(obs)
    batch = {key: np.stack(value) for key, value in rows.items() if value[0] is not None}
    batch["steps"] = np.array(batch["rewards"].size)
    return batch


class Rollouts:
    """What A2C and PPO need from their envs: N envs stepped T at a time into a [T, N] RolloutBuffer,
    actions mapped to the env's bounds, optional reward scaling, episodes (re)started at the beginning
    and at checkpoints, and a scale check on the first rollout. `env` is a rung.envs.VecEnv (or, in
    RemoteRollouts, a rung.distributed.WorkerPool); its `episodes` are the statistics to log."""

    def __init__(self, env, n_steps: int, gamma: float, normalize_obs: bool, normalize_reward: bool, seed: int):
        from rung.envs import ActionScaler

        self.env, self.seed, self.normalize_obs = env, seed, normalize_obs
        self.buffer = rollout_buffer(env, n_steps)
        self.scaler = ActionScaler(env.single_action_space)
        self.reward_scaler = RewardScaler(env.num_envs, gamma) if normalize_reward else None
        self.obs, self.scale_checked = None, False
        self.memory = None   # a recurrent policy's (h, c) entering the next step, None: episodes just began

    def restart(self, step: int) -> None:
        """New episodes in every env, reset with the seed for env step `step` (rung.checkpoint)."""
        from rung.checkpoint import restart_seed

        if self.reward_scaler is not None:
            self.reward_scaler.restart()
        self.obs = self.env.reset(seed=restart_seed(self.seed, step))
        self.memory = None

    def step(self, policy, rng: np.random.Generator) -> np.ndarray:
        """Fill the buffer's STEP_FIELDS with T steps of every env; returns the obs after them."""
        if policy.lstm is not None:
            return self.recurrent_steps(policy)
        return run_steps(self.env, make_sampler(policy, rng), self.scaler, self.obs, self.buffer)

    def recurrent_steps(self, policy) -> np.ndarray:
        """run_steps for a recurrent policy: the LSTM state is carried from step to step (and from rollout
        to rollout), zeroed where an episode begins; the buffer keeps the state entering its first row
        (`first_memory`) and where episodes begin (`starts`), so that the update can replay each env's
        rollout from there."""
        import torch

        from rung.devices import device_of

        device = device_of(policy)
        buffer, env, n = self.buffer, self.env, self.env.num_envs
        if buffer.starts is None:
            buffer.starts = np.zeros(buffer.valid.shape, dtype=bool)
        if self.memory is None:
            self.memory, starts = policy.initial_state(n), np.ones(n, dtype=bool)
        else:
            starts = self.next_starts
        buffer.first_memory = tuple(x.clone() for x in self.memory)
        obs = self.obs
        with torch.inference_mode():
            for t in range(len(buffer.rewards)):
                masks = env.action_masks
                dist, _, self.memory = policy.sequence(as_tensor(obs, device), self.memory,
                                                       as_tensor(starts, device)[None],
                                                       None if masks is None else as_tensor(masks, device))
                actions = dist.sample().cpu().numpy()
                next_obs, rewards, terminated, truncated, valid = env.step(self.scaler(actions))
                buffer.store(t, obs, actions, rewards, terminated, truncated, valid, masks)
                buffer.starts[t] = starts
                starts = ~valid   # after next-step autoreset's reset step comes a new episode's first obs
                obs = next_obs
        self.next_starts = starts
        return obs

    def collect(self, policy, rng: np.random.Generator) -> np.ndarray:
        """Fill the buffer with T steps of every env acting with a ~ π(·|s) (`policy`, an ActorCritic),
        then scale the rewards and compute log π(a|s) and V(s) for the whole rollout in one batched
        forward pass. Returns V(obs after the rollout), for bootstrapping."""
        import torch

        from rung.devices import device_of

        device = device_of(policy)
        buffer = self.buffer
        self.obs = self.step(policy, rng)
        if self.reward_scaler is not None:  # in step order, as if scaled while stepping
            for t in range(len(buffer.rewards)):
                buffer.rewards[t] = self.reward_scaler(buffer.rewards[t], buffer.terminated[t] | buffer.truncated[t],
                                                       buffer.valid[t])
        T, n = buffer.rewards.shape
        with torch.inference_mode():  # π_θold and V for every stored step at once
            masks = None if buffer.masks is None else as_tensor(buffer.masks.reshape(T * n, -1), device)
            obs = as_tensor(buffer.obs.reshape(T * n, *buffer.obs.shape[2:]), device)
            if policy.lstm is None:
                dist, values = policy(obs, masks)
                last_values = policy(as_tensor(self.obs, device))[1]
            else:   # the rollout replayed from its first state, then one step more for V(obs after it)
                dist, values, memory = policy.sequence(obs, buffer.first_memory, as_tensor(buffer.starts, device), masks)
                last_values = policy.sequence(as_tensor(self.obs, device), memory,
                                              as_tensor(self.next_starts, device)[None])[1]
            actions = as_tensor(buffer.actions.reshape(T * n, *buffer.actions.shape[2:]), device)
            buffer.logp[:] = dist.log_prob(actions).reshape(T, n).cpu().numpy()
            buffer.values[:] = values.reshape(T, n).cpu().numpy()
            last_values = last_values.cpu().numpy()
        if not self.scale_checked:
            self.warn_about_scale()
        return last_values

    def warn_about_scale(self) -> None:
        import warnings

        from rung.diagnostics import scale_warnings
        from rung.errors import RungWarning

        self.scale_checked = True
        for message in scale_warnings(self.buffer.obs, self.buffer.rewards, self.normalize_obs,
                                      self.reward_scaler is not None):
            warnings.warn(message, RungWarning)

    def close(self) -> None:
        self.env.close()


class Episodes:
    """What REINFORCE needs from its envs: every one of N envs plays exactly `episodes_per_env` whole
    episodes per `collect` (see run_episodes); `env` as in Rollouts."""

    def __init__(self, env, episodes_per_env: int):
        from rung.envs import ActionScaler

        self.env, self.episodes_per_env = env, episodes_per_env
        self.scaler = ActionScaler(env.single_action_space)

    def collect(self, policy, seed: int | None) -> dict[str, np.ndarray]:
        return run_episodes(self.env, policy, self.scaler, self.episodes_per_env, seed)

    def close(self) -> None:
        self.env.close()
