"""Distributed rollouts on Ray (`rung train … --workers N [--address HOST:PORT]`).

    learner (this process)                          worker k (a Ray actor, one CPU)
    ──────────────────────                          ───────────────────────────────
    θ ── with each iteration's call ─────────────▶  load θ into its copy of the policy
                                                    step its n_k envs T steps (or whole episodes)
    buffer[:, envs of k] ◀── obs, actions, rewards, done flags, last obs, finished episodes
    reward scaling, log π, V, advantages, the update …

The run's N envs are split over the workers (8 envs on 3 workers: 3 + 3 + 2), so hyper-parameters
mean the same with and without workers: only who steps the envs changes (rung.collection has the
seam). Worker k resets its envs with the seeds env by env that a run without workers would use, and
samples actions with its own generator seeded from them: a run with workers is reproducible, though
not identical to one without.

A worker that dies (process killed, machine lost) is replaced by a new actor on new episodes; the
rollout it was collecting is dropped and its replacement collects that share again, so every update
still sees N envs × T steps. That is logged (logger "rung": stderr and the run's log.txt). An
exception raised inside a worker (an env failing) is not a death: it stops the run, as without workers.
"""

from __future__ import annotations

import copy
import logging
import os

import numpy as np

from rung.collection import STEP_FIELDS, Episodes, Rollouts, make_sampler, rollout_buffer, run_episodes, run_steps
from rung.devices import device_of
from rung.envs import ActionScaler, EnvMaker, absolute_env_id, make_vec_env
from rung.errors import RungError
from rung.runs import EpisodeStats

log = logging.getLogger("rung.distributed")
INLINE_BYTES = 100 * 1024   # Ray's max_direct_call_object_size: larger arguments go through the object store


def import_ray():
    try:
        import ray
    except ImportError:
        raise RungError("--workers and rung sweep run on Ray: pip install 'rung[ray]'") from None
    return ray


def start_ray(address: str | None) -> bool:
    """Connect to the Ray cluster at `address` (its callers have checked with `require_listener` that
    something answers there), or start a local instance when None. True when this call
    started or joined Ray (so the caller shuts it down), False when this process was connected already."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    except ConnectionError as exc:
        # Ray turns token authentication on for a cluster started where a token exists, but a driver that
        # names an address only sends one with RAY_AUTH_MODE=token, and then fails just as if nobody answered
        if os.environ.get("RAY_AUTH_MODE", "").lower() == "token":
            hint = "is the token right (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)?"
        else:
            hint = ("if it uses token authentication, set RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN, or "
                    "~/.ray/auth_token as on the head; `ray get-auth-token` there prints it)")
        raise RungError(f"cannot reach a Ray cluster at {address!r}: {exc}; is it running (`ray status --address "
                        f"{address}`)? {hint}") from None
    return True


def require_listener(address: str) -> None:
    """A HOST:PORT that nothing listens on is an error now: Ray itself would retry for minutes."""
    import re
    import socket

    match = re.fullmatch(r"\[?([^\]/]+?)\]?:(\d+)", address)   # not `auto` or a ray:// client address
    if match is None:
        return
    try:
        socket.create_connection((match[1], int(match[2])), timeout=5).close()
    except OSError as exc:
        raise RungError(f"nothing answers at {address} ({exc.strerror or exc}): is a Ray head running there "
                        f"(`ray start --head --port {match[2]}`)?") from None


class Worker:
    """A rollout worker, run as a Ray actor: a vector env of its own with n of the run's envs, and a
    copy of the policy whose weights the learner replaces before every rollout."""

    def __init__(self, env_id: str, env_kwargs: dict, wrappers: list[str], backend: str, n_envs: int):
        import torch

        torch.set_num_threads(1)   # one CPU per worker
        self.env = make_vec_env(env_id, n_envs, env_kwargs, backend, wrappers=wrappers)
        self.scaler = ActionScaler(self.env.single_action_space)
        self.policy = self.obs = self.rng = self.buffer = None

    def describe(self) -> tuple:
        """(observation space, action space), (node address, process id)."""
        import ray

        return ((self.env.single_observation_space, self.env.single_action_space),
                (ray.util.get_node_ip_address(), os.getpid()))

    def set_policy(self, policy) -> None:
        self.policy = policy

    def load_weights(self, weights: dict[str, np.ndarray]) -> None:
        import torch

        self.policy.load_state_dict({name: torch.tensor(array) for name, array in weights.items()})

    def reset(self, seed: int) -> None:
        """New episodes in every env (env i gets seed + i) and a new action generator."""
        import torch

        self.obs = self.env.reset(seed=seed)
        self.rng = np.random.default_rng(seed)
        torch.manual_seed(seed)

    def rollout(self, weights: dict, n_steps: int) -> dict:
        """T steps of every env with π_θ: the RolloutBuffer's step fields, the obs after the last step,
        and the returns and lengths of the episodes that ended."""
        self.load_weights(weights)
        if self.buffer is None or len(self.buffer.rewards) != n_steps:
            self.buffer = rollout_buffer(self.env, n_steps)
        self.obs = run_steps(self.env, make_sampler(self.policy, self.rng), self.scaler, self.obs, self.buffer)
        return {**{name: getattr(self.buffer, name) for name in STEP_FIELDS}, "masks": self.buffer.masks,
                "last_obs": self.obs, "episodes": self.env.episodes.take()}

    def episodes(self, weights: dict, episodes_per_env: int, seed: int | None) -> dict:
        """rung.collection.run_episodes with π_θ, and the returns and lengths of those episodes."""
        import torch

        self.load_weights(weights)
        if seed is not None:
            torch.manual_seed(seed)
        batch = run_episodes(self.env, self.policy, self.scaler, episodes_per_env, seed)
        return {**batch, "episodes": self.env.episodes.take()}


class WorkerPool:
    """`envs.workers` Worker actors holding the run's `n_envs` envs between them (worker k: the envs
    in `slices[k]`). It stands where a VecEnv would: num_envs, single spaces, `episodes` (the
    statistics of every worker's finished episodes), `reset(seed)`, `close()`."""

    MAX_DEATHS = 3   # per worker in one call: a worker that keeps dying is a fault to report, not to retry

    def __init__(self, envs: EnvMaker, n_envs: int, backend: str):
        ray = import_ray()
        count = envs.workers
        if count > n_envs:
            raise RungError(f"--workers {count} is more than the run's {n_envs} envs (n_envs): "
                            "every worker needs at least one env")
        self.owns_ray = start_ray(envs.address)
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < count:
            self.close()
            raise RungError(f"--workers {count} needs {count} CPUs for its actors; the Ray cluster has {cpus:g}")
        sizes = [n_envs // count + (k < n_envs % count) for k in range(count)]
        starts = np.cumsum([0] + sizes)
        self.slices = [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]
        self.actor = ray.remote(num_cpus=1)(Worker)
        self.make_args = (absolute_env_id(envs.env_id), envs.env_kwargs, envs.wrappers, backend)
        self.workers = [self.actor.remote(*self.make_args, size) for size in sizes]
        try:
            described = ray.get([worker.describe.remote() for worker in self.workers])  # every env exists
        except ray.exceptions.RayError as exc:
            self.close()
            raise RungError(f"starting the rollout workers failed: {first_line(exc)}") from None
        self.single_observation_space, self.single_action_space = described[0][0]
        self.places = [place for _, place in described]
        self.num_envs = n_envs
        self.episodes = EpisodeStats()
        self.policy, self.seed, self.deaths = None, 0, 0
        self.replaced: list[int] = []     # workers replaced during the last call
        self.traffic_logged = False
        for k, (node, pid) in enumerate(self.places):
            log.info(f"rollout worker {k}: envs {self.describe_envs(k)}, pid {pid} on {node}")

    def describe_envs(self, k: int) -> str:
        first, last = self.slices[k].start, self.slices[k].stop - 1
        return f"{first}" if first == last else f"{first}–{last}"

    def reset(self, seed: int) -> None:
        """New episodes in every env, seeded as a VecEnv's: env i gets seed + i."""
        self.seed = seed
        self.call("reset", lambda k: (seed + self.slices[k].start,))

    def rollout(self, policy, n_steps: int) -> list[dict]:
        """Every worker's T-step rollout with the policy's current weights, in worker order."""
        weights = self.broadcast(policy)
        return self.collect_from_all("rollout", lambda k: (weights, n_steps))

    def run_episodes(self, policy, episodes_per_env: int, seed: int | None) -> list[dict]:
        """Every worker's whole episodes (rung.collection.run_episodes), in worker order."""
        weights = self.broadcast(policy)
        return self.collect_from_all("episodes", lambda k: (weights, episodes_per_env,
                                                            None if seed is None else seed + self.slices[k].start))

    def broadcast(self, policy):
        """θ for every worker's next call (the first time, the policy itself goes first)."""
        ray = import_ray()
        if self.policy is None:   # workers act on the CPU, wherever the learner's policy is
            on_cpu = policy if device_of(policy).type == "cpu" else copy.deepcopy(policy).cpu()
            for worker in self.workers:
                worker.set_policy.remote(on_cpu)
        self.policy = policy
        # NumPy arrays: Ray sends them as raw buffers (a torch view would carry its whole flat storage)
        weights = {name: tensor.cpu().numpy() for name, tensor in policy.state_dict().items()}
        # Ray copies a small argument into each call, ≈ 2 ms faster per iteration here than a trip through
        # its object store; a large one it would put there once per call, so that is done once for all
        return ray.put(weights) if sum(a.nbytes for a in weights.values()) > INLINE_BYTES else weights

    def collect_from_all(self, method: str, args_for) -> list[dict]:
        results = self.call(method, args_for)
        for result in results:
            for episode_return, length in zip(*result.pop("episodes")):
                self.episodes.add(episode_return, length)
        if not self.traffic_logged:
            self.traffic_logged = True
            weights = sum(tensor.numel() * tensor.element_size() for tensor in self.policy.state_dict().values())
            sent = [sum(a.nbytes for a in result.values() if a is not None) for result in results]
            log.info(f"per iteration: {weights:,} bytes of weights to each worker; rollouts of "
                     f"{', '.join(f'{b:,}' for b in sent)} bytes back (worker 0, 1, …)")
        return results

    def call(self, method: str, args_for) -> list:
        """`method(*args_for(k))` on every worker k; results in worker order. A worker that died is
        replaced (see `replace`) and the call made again on its replacement."""
        ray = import_ray()
        pending = {k: getattr(worker, method).remote(*args_for(k)) for k, worker in enumerate(self.workers)}
        results, deaths = [None] * len(self.workers), [0] * len(self.workers)
        self.replaced = []
        while pending:
            k = min(pending)
            try:
                results[k] = ray.get(pending.pop(k))
            except ray.exceptions.RayTaskError as exc:  # the worker's own code raised: a real error
                cause = exc.cause
                if isinstance(cause, RungError):
                    raise cause from None
                raise RungError(f"rollout worker {k} raised {type(cause).__name__}: {cause}") from None
            except ray.exceptions.RayActorError as exc:
                deaths[k] += 1
                if deaths[k] > self.MAX_DEATHS:
                    raise RungError(f"rollout worker {k} died {deaths[k]} times in one {method}; giving up "
                                    f"(last: {first_line(exc)})") from None
                self.replace(k, method, exc)
                pending[k] = getattr(self.workers[k], method).remote(*args_for(k))
        return results

    def replace(self, k: int, method: str, exc: Exception) -> None:
        """A new actor for worker k, on new episodes (a seed no other reset uses), with the policy."""
        ray = import_ray()
        node, pid = self.places[k]
        self.deaths += 1
        ray.kill(self.workers[k])   # it may be half alive (a lost node coming back)
        self.workers[k] = self.actor.remote(*self.make_args, self.slices[k].stop - self.slices[k].start)
        if self.policy is not None:
            self.workers[k].set_policy.remote(self.policy)
        fresh_seed = int(np.random.SeedSequence((self.seed, k, self.deaths)).generate_state(1)[0])
        self.workers[k].reset.remote(fresh_seed)
        self.places[k] = ray.get(self.workers[k].describe.remote())[1]
        self.replaced.append(k)
        what = {"rollout": "its partial rollout is dropped (its envs' unfinished episodes with it)",
                "episodes": "its partial episodes are dropped",
                "reset": "it had not started collecting"}[method]
        log.warning(f"rollout worker {k} (envs {self.describe_envs(k)}, pid {pid} on {node}) died during "
                    f"{method} ({first_line(exc).rstrip('.')}); {what}; replaced by pid {self.places[k][1]} on "
                    f"{self.places[k][0]}, which starts new episodes and collects that share again "
                    f"({self.deaths} worker deaths in this run)")

    def close(self) -> None:
        """Stop the actors (and Ray, if this pool started it). Closing twice does nothing."""
        ray = import_ray()
        for worker in getattr(self, "workers", []):
            ray.kill(worker)
        self.workers = []
        if self.owns_ray:
            ray.shutdown()
            self.owns_ray = False


def first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class RemoteRollouts(Rollouts):
    """rung.collection.Rollouts whose envs a WorkerPool steps: worker k fills the buffer's columns
    slices[k]; the learner then does what it does without workers."""

    def step(self, policy, rng: np.random.Generator) -> np.ndarray:
        parts = self.env.rollout(policy, len(self.buffer.rewards))
        for part, columns in zip(parts, self.env.slices):
            for name in STEP_FIELDS:
                getattr(self.buffer, name)[:, columns] = part[name]
            if part["masks"] is not None:
                self.buffer.store_masks(slice(None), columns, part["masks"])
        if self.reward_scaler is not None:  # a replaced worker's envs start new episodes: R_t from 0
            for k in self.env.replaced:
                self.reward_scaler.running_return[self.env.slices[k]] = 0.0
        return np.concatenate([part["last_obs"] for part in parts])


class RemoteEpisodes(Episodes):
    """rung.collection.Episodes played by a WorkerPool's workers: their [T_k, n_k] batches padded to the
    longest T with unused steps and put side by side."""

    def collect(self, policy, seed: int | None) -> dict[str, np.ndarray]:
        parts = self.env.run_episodes(policy, self.episodes_per_env, seed)
        longest = max(len(part["rewards"]) for part in parts)
        batch = {key: np.concatenate([pad_rows(part[key], longest + (key == "obs")) for part in parts], axis=1)
                 for key in ("obs", "actions", "rewards", "terminated", "truncated", "used", "action_masks")
                 if key in parts[0]}
        batch["steps"] = np.array(sum(int(part["steps"]) for part in parts))
        return batch


def pad_rows(array: np.ndarray, rows: int) -> np.ndarray:
    """`array` [T, …] extended with zero rows to [rows, …] (zero `used` / flags: steps no loss sees)."""
    return np.concatenate([array, np.zeros((rows - len(array), *array.shape[1:]), dtype=array.dtype)])
