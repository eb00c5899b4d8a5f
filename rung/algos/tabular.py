"""Plumbing shared by the table methods (Q-learning, SARSA, value iteration): state indexing,
ε-greedy action choice, schedules, and the Q-table agent that acts, saves and loads.

No algorithm lives here; each algorithm file owns its update rule and loop.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from gymnasium import spaces
from safetensors.numpy import load_file, save_file

from rung import masks
from rung.errors import RungError
from rung.runs import AGENT_FILE, write_json


def table_dims(space: spaces.Space) -> tuple[int, ...] | None:
    """Sizes of the discrete components of an observation space, or None if it is not a table."""
    if isinstance(space, spaces.Discrete):
        return (int(space.n),)
    if isinstance(space, spaces.Tuple) and all(isinstance(s, spaces.Discrete) for s in space.spaces):
        return tuple(int(s.n) for s in space.spaces)
    return None


def table_support(env) -> str | None:
    """Why a table method cannot run on `env`, or None when it can."""
    if table_dims(env.observation_space) is None:
        return f"observation space {env.observation_space} is not Discrete or a Tuple of Discrete"
    if not isinstance(env.action_space, spaces.Discrete):
        return f"action space {env.action_space} is not Discrete"
    return None


class StateIndexer:
    """Maps an observation (an int, or a tuple of ints such as Blackjack's) to one row of the table."""

    def __init__(self, dims: tuple[int, ...], starts: tuple[int, ...] = ()):
        self.dims = dims
        self.starts = starts or (0,) * len(dims)   # Discrete(n, start=k) observations begin at k
        self.n_states = int(np.prod(dims))

    @classmethod
    def for_space(cls, space: spaces.Space) -> "StateIndexer":
        parts = space.spaces if isinstance(space, spaces.Tuple) else (space,)
        return cls(table_dims(space), tuple(int(s.start) for s in parts))

    def __call__(self, obs) -> int:
        if len(self.dims) == 1:
            return int(obs) - self.starts[0]
        index = 0
        for value, start, size in zip(obs, self.starts, self.dims):
            index = index * size + int(value) - start   # row-major, as np.ravel_multi_index
        return index

    def rows(self, obs) -> np.ndarray:
        """Rows of a batch of observations: an int array [N], or for Tuple spaces a tuple of int arrays or
        the structured array rung.envs.VecEnv packs them into (rung.observations)."""
        if getattr(obs, "dtype", None) is not None and obs.dtype.names is not None:
            obs = [obs[name] for name in obs.dtype.names]
        parts = obs if len(self.dims) > 1 else (obs,)
        return np.ravel_multi_index([np.asarray(p) - s for p, s in zip(parts, self.starts)], self.dims)


def new_q_table(env, q_init: float) -> tuple[StateIndexer, np.ndarray]:
    """The state indexer for `env` and a table Q[state, action] filled with `q_init`."""
    indexer = StateIndexer.for_space(env.observation_space)
    return indexer, np.full((indexer.n_states, int(env.action_space.n)), q_init, dtype=np.float64)


def linear_schedule(start: float, end: float, fraction: float, progress: float) -> float:
    """Goes linearly from `start` to `end` over the first `fraction` of training, then stays at `end`."""
    if fraction <= 0:
        return end
    return start + (end - start) * min(progress / fraction, 1.0)


def legal_actions_reader(env, env_id: str, first_info: dict):
    """`legal_in(info, step, ended=False)`: the legal actions in `info` (rung.masks) for an env that masks
    them, else None. Decided once, from the first reset's info, so that the unmasked step path of the
    table learners costs nothing extra."""
    if masks.KEY not in first_info:
        return lambda info, step, ended=False: None
    return lambda info, step, ended=False: masks.read(info, env.action_space, env_id, step, ended)


def epsilon_greedy(q_row: np.ndarray, epsilon: float, rng: np.random.Generator, legal: np.ndarray | None = None) -> int:
    """With probability ε a uniformly random action, else a greedy one (ties broken at random,
    so that an all-zero table does not always pick action 0); both among the `legal` ones (a bool
    mask, rung.masks) when the env gives them."""
    if legal is not None:
        actions = np.flatnonzero(legal)
        if rng.random() < epsilon:
            return int(actions[rng.integers(len(actions))])
        values = q_row[actions].tolist()
        top = max(values)
        best = [int(actions[i]) for i, value in enumerate(values) if value == top]
        return best[0] if len(best) == 1 else best[int(rng.integers(len(best)))]
    if rng.random() < epsilon:
        return int(rng.integers(len(q_row)))
    values = q_row.tolist()   # a handful of actions: plain Python is ≈ 5× faster than NumPy's calls here
    top = max(values)
    best = [a for a, value in enumerate(values) if value == top]
    return best[0] if len(best) == 1 else best[int(rng.integers(len(best)))]


class QTableAgent:
    """A table of action values Q[state, action]; acts greedily (first best action on ties)."""

    def __init__(self, algo: str, q: np.ndarray, dims: tuple[int, ...], starts: tuple[int, ...],
                 env_id: str = "", env_kwargs: dict | None = None):
        self.algo, self.q = algo, q
        self.indexer = StateIndexer(tuple(dims), tuple(starts))
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs or {})
        self.wrappers: list[str] = []   # rung.wrappers specs of the run's env

    def act(self, obs, deterministic: bool = True, action_mask: np.ndarray | None = None) -> int:
        q = self.q[self.indexer(obs)]
        return int(q.argmax() if action_mask is None else np.where(np.asarray(action_mask, bool), q, -np.inf).argmax())

    def act_batch(self, obs, deterministic: bool = True, action_masks: np.ndarray | None = None) -> np.ndarray:
        """argmax_a Q(s, a), over the legal actions only when `action_masks` [N, A] (rung.masks) are given."""
        q = self.q[self.indexer.rows(obs)]
        return q.argmax(axis=1) if action_masks is None else np.where(action_masks, q, -np.inf).argmax(axis=1)

    def greedy_policy(self) -> np.ndarray:
        """π(s) = argmax_a Q(s, a) for every state, shape [S]."""
        return self.q.argmax(axis=1)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"q": np.ascontiguousarray(self.q)}, str(directory / "agent.safetensors"))
        meta = {"algo": self.algo, "kind": "q_table", "dims": list(self.indexer.dims),
                "starts": list(self.indexer.starts), "env_id": self.env_id, "env_kwargs": self.env_kwargs,
                "wrappers": self.wrappers}
        write_json(directory / AGENT_FILE, meta)  # last: its presence marks a saved agent

    @classmethod
    def load(cls, directory: str | Path) -> "QTableAgent":
        directory = Path(directory)
        meta = json.loads((directory / AGENT_FILE).read_text())
        q = load_file(str(directory / "agent.safetensors"))["q"]
        if q.shape[0] != int(np.prod(meta["dims"])):
            raise RungError(f"{directory}: Q table has {q.shape[0]} rows, expected {np.prod(meta['dims'])}")
        agent = cls(meta["algo"], q, tuple(meta["dims"]), tuple(meta["starts"]), meta["env_id"], meta["env_kwargs"])
        agent.wrappers = meta.get("wrappers", [])
        return agent
