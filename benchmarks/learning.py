"""Mean eval return over seeds at a preset's step budget; appends a row to docs/benchmarks.md.

    python benchmarks/learning.py dqn Acrobot-v1 --preset zoo --seeds 3 [--steps N] [--episodes 20]

Each seed: `rung.train` with the preset, then the final agent's deterministic evaluation on a fresh env.
`--threads` sets torch's thread count (use 1 to run two benchmarks side by side on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date

import torch

import rung
from report import append_row

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("algo")
    parser.add_argument("env_id")
    parser.add_argument("--preset")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from rung.config import parse_assignments

    overrides = parse_assignments(args.overrides, "--set")
    returns, seconds, steps = [], [], 0
    for seed in range(args.seeds):
        started = time.perf_counter()
        agent = rung.train(args.algo, args.env_id, steps=args.steps, seed=seed, preset=args.preset,
                           config=overrides, eval_episodes=args.episodes)
        seconds.append(time.perf_counter() - started)
        steps = agent.metrics[-1]["step"]
        returns.append(agent.eval["mean_return"])
        print(f"seed {seed}: eval {returns[-1]:.1f} in {seconds[-1]:.0f} s", flush=True)
    command = "python benchmarks/learning.py " + " ".join(
        [args.algo, args.env_id] + (["--preset", args.preset] if args.preset else [])
        + ["--seeds", str(args.seeds)] + (["--steps", str(args.steps)] if args.steps else [])
        + (["--episodes", str(args.episodes)] if args.episodes != 20 else [])
        + (["--set", *args.overrides] if args.overrides else []))
    row = (f"| {date.today()} | {args.algo} | {args.env_id} | {args.preset or 'default'} "
           f"{' '.join(args.overrides)} | {steps:,} | **{statistics.mean(returns):.1f}** | "
           f"{', '.join(f'{r:.1f}' for r in returns)} | {statistics.median(seconds):.0f} | `{command}` |")
    print(row)
    if not args.no_write:
        append_row("Learning: mean deterministic eval return over seeds",
                   f"Eval: {args.episodes} deterministic episodes of the final agent per seed on a fresh env.",
                   ["date", "algo", "env", "preset", "steps", "mean return", "per seed", "train s (median)",
                    "command"], row)


if __name__ == "__main__":
    main()
