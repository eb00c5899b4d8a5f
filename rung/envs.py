"""Making environments from a Gymnasium id, `module:Class` or `path/to/file.py:Class`, or, in Python,
from a gymnasium.Env subclass or a function that returns an env (`env_id_of`).

Errors a user can cause (an unknown id, a missing module) become one-line `RungError`s with a suggestion.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import math
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rung.errors import RungError


def is_custom_id(env_id: str) -> bool:
    """`module:Class` and `file.py:Class` ids name a class rather than a registry entry."""
    return ":" in env_id and "/" not in env_id.split(":", 1)[1]


def load_class(spec: str, base: type = gym.Env, base_name: str = "gymnasium.Env") -> type:
    """Import the `base` subclass named by `module.path:Class` or `path/to/file.py:Class`."""
    target, _, class_name = spec.rpartition(":")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise RungError(f"custom env file {target!r} does not exist")
        module_name = f"rung_custom_env_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise RungError(f"importing {target!r} failed: {type(exc).__name__}: {exc}") from None
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))  # `rung` as a console script does not see the cwd otherwise
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise RungError(f"cannot import module {target!r} for {spec!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise RungError(f"{target!r} has no class {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise RungError(f"{spec!r} is not a {base_name} subclass")
    return cls


PYTHON_NAMESPACE = "python"   # ids of envs given as Python objects: python/NAME-vK


def env_id_of(env) -> str:
    """The id rung makes `env` by. A string is one already (a registered id, `module:Class`,
    `file.py:Class`). A gymnasium.Env subclass, or a function of no arguments that returns an env, is
    registered with Gymnasium for this process as `python/NAME-vK` (K counts different objects of one
    name), so that every part of rung makes it like any registered env. config.json records that id;
    another process cannot make it, so such a run is evaluated or resumed by passing the env again."""
    if isinstance(env, str):
        return env
    if isinstance(env, gym.Env):
        raise RungError(f"got an env instance ({type(env).__name__}); rung makes its own copies: pass the class, "
                        f"or a function that returns a new env")
    if isinstance(env, type) and not issubclass(env, gym.Env) or not callable(env):
        raise RungError(f"env must be a Gymnasium id, 'module:Class', 'file.py:Class', a gymnasium.Env subclass or a "
                        f"function returning an env; got {type(env).__name__}")
    name = re.sub(r"[^A-Za-z0-9_]", "_", getattr(env, "__name__", type(env).__name__))
    version = 0
    while f"{PYTHON_NAMESPACE}/{name}-v{version}" in gym.registry:
        if gym.spec(f"{PYTHON_NAMESPACE}/{name}-v{version}").entry_point is env:
            return f"{PYTHON_NAMESPACE}/{name}-v{version}"
        version += 1
    env_id = f"{PYTHON_NAMESPACE}/{name}-v{version}"
    gym.register(env_id, entry_point=env)
    return env_id


def is_python_object_id(env_id: str) -> bool:
    return env_id.startswith(f"{PYTHON_NAMESPACE}/")


def absolute_env_id(env_id: str) -> str:
    """`file.py:Class` with an absolute path, for processes that run elsewhere (Ray trials and workers)."""
    if ".py:" not in env_id:
        return env_id
    path, _, cls = env_id.rpartition(":")
    return f"{Path(path).resolve()}:{cls}"


def suggest_ids(env_id: str, n: int = 3) -> list[str]:
    """Registered ids closest to a mistyped one (e.g. 'Taxi-v3' -> ['Taxi-v4'])."""
    return difflib.get_close_matches(env_id, list(gym.registry), n=n, cutoff=0.6)


def make_env(env_id: str, env_kwargs: dict | None = None, render_mode: str | None = None,
             max_episode_steps: int | None = None, wrappers: list[str] = ()) -> gym.Env:
    """One Gymnasium env with the registry's wrappers (time limit, order enforcing, checker), then the
    run's own `wrappers` (rung.wrappers specs) in order."""
    from rung import wrappers as run_wrappers

    return run_wrappers.apply(make_base_env(env_id, env_kwargs, render_mode, max_episode_steps), wrappers)


def make_base_env(env_id: str, env_kwargs: dict | None, render_mode: str | None,
                   max_episode_steps: int | None) -> gym.Env:
    kwargs = dict(env_kwargs or {})
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    if is_custom_id(env_id):
        cls = load_class(env_id)
        spec = gym.envs.registration.EnvSpec(id=f"custom/{cls.__name__}-v0", entry_point=cls)
        return _make(spec, env_id, kwargs)
    if env_id.startswith("ALE/") and env_id not in gym.registry:
        register_atari()
    if is_python_object_id(env_id) and env_id not in gym.registry:
        raise RungError(f"{env_id!r} was made from a Python object in the process that trained it; pass the env "
                        f"again: agent = rung.load(RUN_DIR); rung.evaluate(agent, env=...) or "
                        f"rung.resume(RUN_DIR, env=...)")
    if env_id not in gym.registry:
        close = suggest_ids(env_id)
        hint = f"; did you mean {' or '.join(close)}?" if close else "; any id in gymnasium.registry works"
        raise RungError(f"unknown environment {env_id!r}{hint}")
    if gym.spec(env_id).entry_point == ATARI_ENTRY_POINT:
        return atari_preprocessing(_make(env_id, env_id, {"frameskip": 1, **kwargs}))
    return _make(env_id, env_id, kwargs)


ATARI_ENTRY_POINT = "ale_py.env:AtariEnv"


def register_atari() -> None:
    """ALE ids exist once ale-py (the `atari` extra, which ships the ROMs) registers them."""
    try:
        import ale_py
    except ImportError:
        raise RungError("Atari envs need the atari extra: pip install 'rung[atari]'") from None
    gym.register_envs(ale_py)


def atari_preprocessing(env: gym.Env) -> gym.Env:
    """The DQN paper's preprocessing: no-op starts, frame skip 4 with max-pooling, 84×84 grayscale,
    4 stacked frames. Observations are uint8 [4, 84, 84]; the env must be made with frameskip=1."""
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    env = AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84, grayscale_obs=True, scale_obs=False)
    return FrameStackObservation(env, 4)


def _make(spec_or_id, env_id: str, kwargs: dict) -> gym.Env:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return gym.make(spec_or_id, **kwargs)
    except gym.error.DependencyNotInstalled as exc:
        raise RungError(f"{env_id!r} needs an optional dependency: {exc}") from None
    except TypeError as exc:
        raise RungError(f"bad keyword arguments for {env_id!r}: {exc}") from None
    except Exception as exc:  # the env's own constructor refused its arguments
        raise RungError(f"creating {env_id!r} failed: {type(exc).__name__}: {exc}") from None


def describe_space(space: spaces.Space) -> str:
    """Short human name of a space, e.g. 'Discrete(16)' or 'Box(4,)'."""
    if isinstance(space, spaces.Box):
        return f"Box{space.shape}"
    return str(space)


def space_to_json(space: spaces.Space) -> dict:
    """A Box, Discrete, MultiDiscrete or MultiBinary space, or a Dict or Tuple of them, as JSON
    (agent.json), read back by space_from_json."""
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {key: space_to_json(sub) for key, sub in space.spaces.items()}}
    if isinstance(space, spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_json(sub) for sub in space.spaces]}
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": list(space.shape)}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "start": space.start.tolist()}
    return {"type": "Box", "low": space.low.tolist(), "high": space.high.tolist(), "dtype": str(space.dtype)}


def space_from_json(data: dict) -> spaces.Space:
    if data["type"] == "Dict":
        return spaces.Dict({key: space_from_json(sub) for key, sub in data["spaces"].items()})
    if data["type"] == "Tuple":
        return spaces.Tuple([space_from_json(sub) for sub in data["spaces"]])
    if data["type"] == "MultiBinary":
        return spaces.MultiBinary(data["n"])
    if data["type"] == "Discrete":
        return spaces.Discrete(data["n"], start=data.get("start", 0))
    if data["type"] == "MultiDiscrete":
        return spaces.MultiDiscrete(data["nvec"], start=data.get("start"))
    dtype = np.dtype(data["dtype"])
    return spaces.Box(np.array(data["low"], dtype=dtype), np.array(data["high"], dtype=dtype), dtype=dtype)


@dataclass
class EnvMaker:
    """What an algorithm gets: it makes the single env or the vector env it needs, or, for the on-policy
    learners, the collector of their experience: in this process, or on `workers` Ray actors
    (rung.distributed; `address` names an existing Ray cluster, None starts a local one)."""
    env_id: str
    env_kwargs: dict
    workers: int | None = None
    address: str | None = None
    wrappers: list[str] = field(default_factory=list)   # rung.wrappers specs
    pools: list = field(default_factory=list, repr=False, compare=False)

    def single(self) -> gym.Env:
        """One env that reports `info['episode']` when an episode ends, guarded (see `Guarded`)."""
        return gym.wrappers.RecordEpisodeStatistics(Guarded(make_env(self.env_id, self.env_kwargs, wrappers=self.wrappers),
                                                                self.env_id))

    def vector(self, n_envs: int, backend: str = "auto") -> "VecEnv":
        return make_vec_env(self.env_id, n_envs, self.env_kwargs, backend, wrappers=self.wrappers)

    def collecting_envs(self, n_envs: int, backend: str):
        """The N envs a collector steps: a VecEnv here, or a rung.distributed.WorkerPool of Ray actors
        holding them (kept, so that `close` frees the actors' CPUs even when training failed)."""
        if not self.workers:
            return self.vector(n_envs, backend)
        from rung.distributed import WorkerPool

        pool = WorkerPool(self, n_envs, backend)
        self.pools.append(pool)
        return pool

    def rollouts(self, n_envs: int, backend: str, n_steps: int, gamma: float, normalize_obs: bool,
                 normalize_reward: bool, seed: int):
        """A2C's and PPO's collector (rung.collection.Rollouts)."""
        if self.workers:
            from rung.distributed import RemoteRollouts as Collector
        else:
            from rung.collection import Rollouts as Collector
        return Collector(self.collecting_envs(n_envs, backend), n_steps, gamma, normalize_obs, normalize_reward, seed)

    def episodes(self, n_envs: int, backend: str, episodes_per_env: int):
        """REINFORCE's collector (rung.collection.Episodes)."""
        if self.workers:
            from rung.distributed import RemoteEpisodes as Collector
        else:
            from rung.collection import Episodes as Collector
        return Collector(self.collecting_envs(n_envs, backend), episodes_per_env)

    def close(self) -> None:
        """Stop the rollout workers made here, if the algorithm has not (rung.api.run calls this last)."""
        for pool in self.pools:
            pool.close()
        self.pools.clear()


BACKENDS = ("auto", "native", "sync", "async", "envpool")


def check_step(env_id: str, step: int, obs, rewards) -> None:
    """A NaN or inf from the env would silently poison the learner: stop with the env and the step."""
    if isinstance(rewards, (int, float)):   # one env's reward: math is ≈ 10× faster than NumPy on a scalar
        finite = math.isfinite(rewards)
    else:
        finite = np.all(np.isfinite(rewards))
    if not finite:
        raise RungError(f"env {env_id!r} returned a non-finite reward at env step {step:,}")
    if isinstance(obs, np.ndarray):   # the common case first: this runs every env step
        leaves = (obs,) if obs.dtype.kind == "f" else ()
    else:   # Dict / Tuple observations; an int (a Discrete state) has nothing to check
        leaves = obs.values() if isinstance(obs, dict) else obs if isinstance(obs, tuple) else ()
    if any(isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f" and not np.all(np.isfinite(leaf))
           for leaf in leaves):
        raise RungError(f"env {env_id!r} returned a non-finite observation at env step {step:,}")


def env_failure(env_id: str, step: int, exc: Exception) -> RungError:
    hint = " (does the observation match the observation space?)" if "shape" in str(exc) else ""
    return RungError(f"env {env_id!r} raised {type(exc).__name__} at env step {step:,}: {exc}{hint}")


class Guarded(gym.Wrapper):
    """A single env whose failures name the env and the step: an exception inside `step`, or a
    non-finite observation or reward, becomes a RungError (the run's last checkpoint stays loadable)."""

    def __init__(self, env: gym.Env, env_id: str):
        super().__init__(env)
        self.env_id, self.steps = env_id, 0

    def step(self, action):
        self.steps += 1
        try:
            obs, reward, terminated, truncated, info = self.env.step(action)
        except Exception as exc:
            raise env_failure(self.env_id, self.steps, exc) from None
        check_step(self.env_id, self.steps, obs, reward)
        return obs, reward, terminated, truncated, info


class VecEnv:
    """N copies of an env behind one `step`, in Gymnasium's next-step autoreset mode, made explicit.

    `step` returns (next_obs, rewards, terminated, truncated, valid). When env i ended at the previous
    step, this step only reset it: `next_obs[i]` is the first obs of a new episode and `valid[i]` is
    False, because (final obs → first obs) is not a transition the agent made. On the step an episode
    ends, `next_obs[i]` is its true final obs, so truncated episodes can bootstrap from it.
    Episode returns and lengths are counted here, whatever the backend, into `self.episodes`.
    `action_masks` [N, K] holds the legal actions of the obs last returned (rung.masks), or None for
    an env that gives no masks. Dict / Tuple observations come out packed (rung.observations)."""

    def __init__(self, env, env_id: str = ""):
        from rung.runs import EpisodeStats

        from rung.observations import without_mask

        self.env, self.env_id, self.steps = env, env_id, 0
        self.num_envs = env.num_envs
        self.raw_observation_space = env.single_observation_space   # with a Dict's "action_mask" key, if any
        self.single_observation_space = without_mask(env.single_observation_space)
        self.single_action_space = env.single_action_space
        self.episodes = EpisodeStats()
        self.returns = np.zeros(self.num_envs)
        self.lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.needs_reset = np.zeros(self.num_envs, dtype=bool)
        self.action_masks = None

    def reset(self, seed: int | None = None) -> np.ndarray:
        obs, info = self.env.reset(seed=seed)
        self.returns[:], self.lengths[:], self.needs_reset[:] = 0, 0, False
        return self.observe(obs, info, False)

    def observe(self, obs, info: dict, ended):
        """The env's observations as the learner takes them, and their action masks kept."""
        from rung import masks
        from rung.observations import pack, split_mask

        obs, mask = split_mask(obs, self.raw_observation_space)
        if mask is not None:
            info = {**info, masks.KEY: mask}
        if info:
            self.action_masks = masks.read(info, self.single_action_space, self.env_id, self.steps, ended)
        return pack(obs, self.single_observation_space)

    def step(self, actions: np.ndarray):
        self.steps += self.num_envs
        try:
            next_obs, rewards, terminated, truncated, info = self.env.step(actions)
        except Exception as exc:  # the env's own error, or a wrong shape or dtype that could not be stacked
            raise env_failure(self.env_id, self.steps, exc) from None
        check_step(self.env_id, self.steps, next_obs, rewards)
        next_obs = self.observe(next_obs, info, terminated | truncated)
        valid = ~self.needs_reset
        self.returns += np.where(valid, rewards, 0.0)
        self.lengths += valid
        done = (terminated | truncated) & valid
        for i in np.flatnonzero(done):
            self.episodes.add(float(self.returns[i]), int(self.lengths[i]))
            self.returns[i], self.lengths[i] = 0.0, 0
        self.needs_reset = done
        return next_obs, np.asarray(rewards, dtype=np.float32), terminated & valid, truncated & valid, valid

    def close(self) -> None:
        self.env.close()


def make_vec_env(env_id: str, n_envs: int = 1, env_kwargs: dict | None = None, backend: str = "auto",
                 step_cap: int | None = None, wrappers: list[str] = ()) -> VecEnv:
    """`n_envs` copies of `env_id`, each wrapped by `wrappers` (rung.wrappers specs). Backends: `native`
    (the env's own vectorised class, e.g. CartPole's), `envpool` (if installed and it knows the id),
    `sync` / `async` (Gymnasium's Sync/AsyncVectorEnv); `auto` picks native, then envpool, then sync,
    and only sync for wrapped envs (the other two have no single envs to wrap). `step_cap` is a time
    limit for envs that have none."""
    from functools import partial

    from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

    kwargs = dict(env_kwargs or {})
    if backend not in BACKENDS:
        raise RungError(f"unknown env backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    with make_env(env_id, kwargs, wrappers=wrappers) as probe:  # a bad id, kwargs or wrapper: a one-line error first
        has_time_limit = probe.spec is not None and probe.spec.max_episode_steps is not None
    has_native = not is_custom_id(env_id) and gym.spec(env_id).vector_entry_point is not None and not wrappers
    has_envpool = not wrappers and envpool_supports(env_id)
    if backend == "native" and not has_native:
        raise RungError(f"{env_id} has no native vectorised implementation{' of wrapped envs' if wrappers else ''}; "
                        f"use --set env_backend=sync")
    if backend == "envpool" and not has_envpool:
        raise RungError(f"envpool is not installed or does not provide {env_id}{' wrapped' if wrappers else ''}")
    if backend == "native" or (backend == "auto" and has_native):
        env = gym.make_vec(env_id, n_envs, vectorization_mode="vector_entry_point", **kwargs)
    elif backend == "envpool" or (backend == "auto" and has_envpool):
        env = make_envpool(env_id, n_envs, kwargs)
    else:
        cls = AsyncVectorEnv if backend == "async" else SyncVectorEnv
        cap = None if has_time_limit else step_cap
        env = cls([partial(make_env, env_id, kwargs, max_episode_steps=cap, wrappers=list(wrappers))] * n_envs,
                  autoreset_mode=AutoresetMode.NEXT_STEP)
    return VecEnv(env, env_id)


def envpool_supports(env_id: str) -> bool:
    try:
        import envpool
    except ImportError:
        return False
    return env_id in envpool.list_all_envs()


def make_envpool(env_id: str, n_envs: int, kwargs: dict):
    import envpool

    return envpool.make_gymnasium(env_id, num_envs=n_envs, **kwargs)


class ActionScaler:
    """Maps a policy's actions to the env's: the Gaussian policy works in a unit box [−1, 1]^d whatever
    the bounds (asymmetric ones too), and the env gets  low + (a + 1)/2 · (high − low), clipped to
    [low, high]. The unclipped sample is what the learner stores, so log π stays exact. Spaces that
    are not a bounded Box pass through unchanged."""

    def __init__(self, space: spaces.Space):
        self.bounded = (isinstance(space, spaces.Box) and bool(np.all(np.isfinite(space.low)))
                        and bool(np.all(np.isfinite(space.high))))
        if self.bounded:
            self.low, self.high = space.low.astype(np.float32), space.high.astype(np.float32)

    def __call__(self, actions: np.ndarray) -> np.ndarray:
        if not self.bounded:
            return actions
        return np.clip(self.low + (actions + 1.0) * 0.5 * (self.high - self.low), self.low, self.high)
