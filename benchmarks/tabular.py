"""Time and score the tabular acceptance runs (issue #2) and append the table to docs/benchmarks.md.

    python benchmarks/tabular.py --seeds 3 [--no-write]

Each row: `rung train` through the Python API with the default preset, wall time of training alone
(median over seeds), and the greedy policy's mean return over 5,000 evaluation episodes per seed.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import rung

CASES = [  # (algo, env_id, env_kwargs, overrides, target text)
    ("qlearning", "FrozenLake-v1", {}, {}, "≥ 0.72 (optimum 0.740)"),
    ("qlearning", "FrozenLake8x8-v1", {}, {}, "≥ 0.82, < 3 min (optimum 0.886 at γ 0.999)"),
    ("qlearning", "FrozenLake-v1", {"is_slippery": False}, {}, "1.0"),
    ("qlearning", "Taxi-v4", {}, {}, "≥ 7.8 (optimum 7.93)"),
    ("qlearning", "CliffWalking-v1", {}, {}, "−13"),
    ("sarsa", "CliffWalking-v1", {}, {"epsilon": 0.1, "epsilon_final": 0.1}, "≤ −15"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()

    lines = [f"### Tabular acceptance runs ({date.today()}, {platform.processor() or platform.machine()}, "
             f"{args.seeds} seeds)", "", f"Command: `python benchmarks/tabular.py --seeds {args.seeds}`", "",
             "| algo | env | steps | train time (median s) | eval return per seed (5,000 greedy episodes) | target |",
             "|---|---|---|---|---|---|"]
    for algo, env_id, env_kwargs, overrides, target in CASES:
        times, returns, steps = [], [], 0
        for seed in range(args.seeds):
            started = time.perf_counter()
            agent = rung.train(algo, env_id, seed=seed, env_kwargs=env_kwargs, config=overrides, eval_episodes=1)
            times.append(time.perf_counter() - started)
            steps = agent.metrics[-1]["step"]
            returns.append(rung.evaluate(agent, episodes=5000, seed=seed + 100_000)["mean_return"])
        name = env_id + (" " + ",".join(f"{k}={v}" for k, v in env_kwargs.items()) if env_kwargs else "")
        lines.append(f"| {algo} | {name} | {steps:,} | {statistics.median(times):.1f} | "
                     f"{', '.join(f'{r:.3f}' for r in returns)} | {target} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if not args.no_write:
        path = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
        existing = path.read_text() if path.exists() else "# Benchmarks\n\nMeasured numbers, newest last.\n"
        path.write_text(existing.rstrip("\n") + "\n\n" + text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
