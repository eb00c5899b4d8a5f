"""Making environments from a Gymnasium id, `module:Class` or `path/to/file.py:Class`.

Errors a user can cause (an unknown id, a missing module) become one-line `RungError`s with a suggestion.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
import warnings
from pathlib import Path

import gymnasium as gym
from gymnasium import spaces

from rung.errors import RungError


def is_custom_id(env_id: str) -> bool:
    """`module:Class` and `file.py:Class` ids name a class rather than a registry entry."""
    return ":" in env_id and "/" not in env_id.split(":", 1)[1]


def load_env_class(env_id: str) -> type:
    """Import the class named by `module.path:Class` or `path/to/file.py:Class`."""
    target, _, class_name = env_id.rpartition(":")
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
            raise RungError(f"cannot import module {target!r} for env {env_id!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise RungError(f"{target!r} has no class {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, gym.Env)):
        raise RungError(f"{env_id!r} is not a gymnasium.Env subclass")
    return cls


def suggest_ids(env_id: str, n: int = 3) -> list[str]:
    """Registered ids closest to a mistyped one (e.g. 'Taxi-v3' -> ['Taxi-v4'])."""
    return difflib.get_close_matches(env_id, list(gym.registry), n=n, cutoff=0.6)


def make_env(env_id: str, env_kwargs: dict | None = None, render_mode: str | None = None,
             max_episode_steps: int | None = None) -> gym.Env:
    """One Gymnasium env with the registry's wrappers (time limit, order enforcing, checker)."""
    kwargs = dict(env_kwargs or {})
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    if is_custom_id(env_id):
        cls = load_env_class(env_id)
        spec = gym.envs.registration.EnvSpec(id=f"custom/{cls.__name__}-v0", entry_point=cls)
        return _make(spec, env_id, kwargs)
    if env_id not in gym.registry:
        close = suggest_ids(env_id)
        hint = f"; did you mean {' or '.join(close)}?" if close else "; any id in gymnasium.registry works"
        raise RungError(f"unknown environment {env_id!r}{hint}")
    return _make(env_id, env_id, kwargs)


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
