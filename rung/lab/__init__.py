"""rung lab: the seed's claims as experiments anyone can rerun (`rung lab NAME`, docs/lab.md).

Each experiment module has a docstring stating the claim and the setup, and
`run(out, seeds, quick) -> (numbers, claims, figures)`; `run_experiment` times it and writes
OUT/result.json (rung.lab.common). `quick` is a small version for CI (under a minute); its verdicts are
computed the same way but on less data.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from rung.errors import RungError

EXPERIMENTS = {
    "bootstrapping": "Q-learning converges to Q* from any initial table; the Bellman operator is a γ-contraction",
    "cliff": "off-policy Q-learning learns the optimal path but earns less while exploring than on-policy SARSA",
    "variance": "a baseline or the GAE advantage cuts the policy-gradient variance without turning its direction",
    "stability": "PPO's clipped ratio keeps large learning rates from collapsing training; A2C and unclipped PPO collapse",
    "discount": "a larger γ lets a distant reward win, and makes the policy gradient noisier",
    "ladder": "DQN, REINFORCE, A2C and PPO on CartPole with one budget: return vs env steps and vs wall time",
    "critic-bias": "an overrating critic skews the actor toward what it overrates; TD3's twin critics and Double DQN cut the bias",
    "sample-reuse": "off-policy SAC and TD3 reuse each env step many times and need far fewer steps than PPO, at more compute per step",
    "reward-hacking": "optimising a learned reward too hard: the proxy rises while the gold score peaks and falls",
}


def run_experiment(name: str, out: str | Path, seeds: int = 5, quick: bool = False) -> dict:
    from rung.lab.common import write_result
    from rung.runs import create_run_dir

    if name not in EXPERIMENTS:
        raise RungError(f"unknown experiment {name!r}; experiments: {', '.join(EXPERIMENTS)}")
    if seeds < 1:
        raise RungError(f"--seeds must be at least 1, got {seeds}")
    module = importlib.import_module(f"rung.lab.{name.replace('-', '_')}")
    out = create_run_dir(out)
    started = time.perf_counter()
    numbers, claims, figures = module.run(out, seeds, quick)
    return write_result(out, name, seeds, quick, numbers, claims, figures, time.perf_counter() - started)
