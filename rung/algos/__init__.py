"""The algorithms rung can train, one module each. Every module has the same shape:
NAME, SPACES (text for `rung list`), USES_ENV_STEPS, ROLLOUT_WORKERS (whether `--workers N` can
collect its experience on Ray actors), ON_DEVICE (whether it has networks to put on `--device`),
a `Config` dataclass, `supports(env)` returning why it cannot handle an env (or None),
`check(config, steps)` raising RungError for a run that cannot work and returning warnings, and
`train(envs: EnvMaker, config, steps, seed, logger) -> agent` (and `device=` when ON_DEVICE)."""

from __future__ import annotations

import difflib
from types import ModuleType

from rung.algos import a2c, ddpg, dqn, ppo, qlearning, reinforce, sac, sarsa, td3, value_iteration
from rung.errors import RungError

ALGOS: dict[str, ModuleType] = {m.NAME: m for m in (qlearning, sarsa, value_iteration, dqn, reinforce, a2c, ppo,
                                                   ddpg, td3, sac)}


def get_algo(name: str) -> ModuleType:
    if name not in ALGOS:
        close = difflib.get_close_matches(name, list(ALGOS), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise RungError(f"unknown algorithm {name!r} (known: {', '.join(ALGOS)}){hint}")
    return ALGOS[name]


def algos_supporting(env) -> list[str]:
    return [name for name, module in ALGOS.items() if module.supports(env) is None]
