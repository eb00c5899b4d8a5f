"""Wrappers a run applies to every copy of its env, named by short specs (`--wrapper`, repeatable):

    frame_stack:N           the last N observations stacked (Gymnasium's FrameStackObservation)
    mask_velocity           the velocity entries of a classic-control / Box2D observation removed: the
                            standard test of memory (rl-zoo3's MaskVelocityWrapper)
    clip_reward[:C]         rewards clipped to [−C, C] (default 1, as the DQN paper's Atari rewards)
    time_limit:N            episodes truncated after N steps
    module:Class[:k=v,...]  any gymnasium.Wrapper subclass, `path/to/file.py:Class` too, with keyword arguments

They are applied in the order given, after the registry's own wrappers, and recorded in config.json
and agent.json so that evaluation, resume, rollout workers and sweep trials make the same env.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rung.errors import RungError

# velocity entries of each observation (rl-zoo3's MaskVelocityWrapper lists the same)
VELOCITY_INDICES = {
    "CartPole": [1, 3],                     # cart velocity, pole angular velocity
    "MountainCar": [1],                     # velocity
    "MountainCarContinuous": [1],
    "Pendulum": [2],                        # angular velocity
    "Acrobot": [4, 5],                      # the two joints' angular velocities
    "LunarLander": [2, 3, 5],               # vx, vy, angular velocity
    "LunarLanderContinuous": [2, 3, 5],
}


class MaskVelocity(gym.ObservationWrapper):
    """The observation without its velocity entries: a partially observed task (velocity must be
    inferred from successive observations, i.e. remembered)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        name = env.spec.name if env.spec is not None else type(env.unwrapped).__name__
        if name not in VELOCITY_INDICES:
            raise RungError(f"mask_velocity knows the velocities of {', '.join(VELOCITY_INDICES)}; not of {name}")
        box = env.observation_space
        self.keep = np.setdiff1d(np.arange(box.shape[0]), VELOCITY_INDICES[name])
        self.observation_space = spaces.Box(box.low[self.keep], box.high[self.keep], dtype=box.dtype)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation[self.keep]


def frame_stack(env: gym.Env, n: int) -> gym.Env:
    from gymnasium.wrappers import FrameStackObservation

    return FrameStackObservation(env, int(n))


def clip_reward(env: gym.Env, bound: float = 1.0) -> gym.Env:
    from gymnasium.wrappers import ClipReward

    return ClipReward(env, -float(bound), float(bound))


def time_limit(env: gym.Env, n: int) -> gym.Env:
    from gymnasium.wrappers import TimeLimit

    return TimeLimit(env, int(n))


# name → (make(env, *args), how many arguments it takes at least and at most, usage)
NAMED = {"frame_stack": (frame_stack, 1, 1, "frame_stack:N"),
         "mask_velocity": (MaskVelocity, 0, 0, "mask_velocity"),
         "clip_reward": (clip_reward, 0, 1, "clip_reward[:C]"),
         "time_limit": (time_limit, 1, 1, "time_limit:N")}


def parse(spec: str):
    """A spec as a function env → wrapped env; a bad spec → RungError (before any env is made)."""
    name, _, rest = spec.partition(":")
    if name in NAMED:
        make, least, most, usage = NAMED[name]
        args = [a for a in rest.split(":") if a] if rest else []
        if not least <= len(args) <= most:
            raise RungError(f"wrapper {spec!r}: write it as {usage}")
        try:
            values = [float(a) if name == "clip_reward" else int(a) for a in args]
        except ValueError:
            raise RungError(f"wrapper {spec!r}: write it as {usage}, with a number") from None
        if any(v <= 0 for v in values):
            raise RungError(f"wrapper {spec!r}: the number must be positive")
        return lambda env: make(env, *values)
    return parse_class_spec(spec)


def parse_class_spec(spec: str):
    from rung.config import parse_assignments
    from rung.envs import load_class

    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]):
        names = ", ".join(usage for *_, usage in NAMED.values())
        raise RungError(f"unknown wrapper {spec!r}: use one of {names}, or module:Class[:key=value,...]")
    kwargs = parse_assignments(parts[2].split(",") if len(parts) == 3 and parts[2] else [], f"wrapper {spec!r}")
    cls = load_class(f"{parts[0]}:{parts[1]}", gym.Wrapper, "gymnasium.Wrapper")

    def wrap(env: gym.Env) -> gym.Env:
        try:
            return cls(env, **kwargs)
        except Exception as exc:  # the wrapper's own constructor refused its arguments or the env
            raise RungError(f"wrapper {spec!r} failed: {type(exc).__name__}: {exc}") from None
    return wrap


def check(specs: list[str]) -> list[str]:
    """The specs as a list, each one parsed (so a bad one is an error before any run directory)."""
    if isinstance(specs, str):
        specs = [specs]
    for spec in specs:
        if not isinstance(spec, str):
            raise RungError(f"a wrapper is a spec string like 'frame_stack:4', got {spec!r}")
        parse(spec)
    return list(specs)


def apply(env: gym.Env, specs: list[str]) -> gym.Env:
    for spec in specs:
        env = parse(spec)(env)
    return env
