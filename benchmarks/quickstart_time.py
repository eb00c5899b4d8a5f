"""Whole-process time of `rung train ppo CartPole-v1 --seed S` (default preset): start to exit, imports,
training, the 100-episode evaluation and the run directory included. Appends a row to docs/benchmarks.md.

    python benchmarks/quickstart_time.py [--seeds 5] [--repeats 1]

Each run is a fresh process (`.venv/bin/rung` next to this interpreter); the median is over all runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from report import append_row

RUNG = Path(sys.executable).parent / "rung"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1, help="runs per seed")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    seconds, returns = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for seed in range(args.seeds):
                run_dir = Path(tmp) / f"s{seed}-{repeat}"
                started = time.perf_counter()
                subprocess.run([str(RUNG), "train", "ppo", "CartPole-v1", "--seed", str(seed), "--run-dir",
                                str(run_dir), "--quiet"], check=True, stdout=subprocess.DEVNULL)
                seconds.append(time.perf_counter() - started)
                returns[seed] = json.loads((run_dir / "eval.json").read_text())["mean_return"]
                print(f"seed {seed}: {seconds[-1]:.2f} s, eval {returns[seed]:.1f}", flush=True)
    command = f"python benchmarks/quickstart_time.py --seeds {args.seeds} --repeats {args.repeats}"
    row = (f"| {date.today()} | {statistics.median(seconds):.2f} | {min(seconds):.2f}–{max(seconds):.2f} | "
           f"{', '.join(f'{returns[s]:.1f}' for s in sorted(returns))} | `{command}` |")
    print(row)
    if not args.no_write:
        append_row("Whole-process time: `rung train ppo CartPole-v1 --seed S` (default preset)",
                   "Start to exit of a fresh process: imports, training, 100 greedy evaluation episodes, run "
                   "directory. Target ≤ 5 s median.",
                   ["date", "median s", "range s", "eval per seed (0, 1, …)", "command"], row)


if __name__ == "__main__":
    main()
