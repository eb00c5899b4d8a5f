"""Two trainings at once against one alone: what a user running two seeds in two terminals sees.

    python benchmarks/two_runs.py [--algo ppo] [--env Acrobot-v1] [--steps 20480] [--repeats 3]
                                  [--threads N] [--no-write]

Whole-process time (start to exit: imports, training, evaluation, run directory) of
`rung train ALGO ENV --steps N --quiet`, default settings, once alone and then as two such
processes (seeds 0 and 1) started together; `repeats` rounds, alone and together alternating. The
ratio is the median time of a process of the pair over the median time alone: 1.0 means the two
runs did not slow each other at all (each has a core of its own), 2.0 means they shared one core's
worth of work. `--threads N` passes `--threads N` to both (e.g. 2: torch's old default of one
thread per core, which made each run of a pair ≈ 30× slower).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from report import append_row

RUNG = Path(sys.executable).parent / "rung"


def command(args, seed: int, run_dir: Path) -> list[str]:
    return [str(RUNG), "train", args.algo, args.env, "--steps", str(args.steps), "--seed", str(seed),
            "--run-dir", str(run_dir), "--quiet", *(["--threads", str(args.threads)] if args.threads else [])]


def timed(commands: list[list[str]]) -> list[float]:
    """Start every command at once; each one's seconds from the common start to its own exit."""
    started = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in commands]
    seconds = []
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            sys.exit(f"rung failed ({proc.returncode}):\n{err}")
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("--env", default="Acrobot-v1")
    parser.add_argument("--steps", type=int, default=20480)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="passed to both runs (default: rung's own choice)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    alone, together = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            alone += timed([command(args, 0, Path(tmp) / f"alone-{repeat}")])
            together += timed([command(args, seed, Path(tmp) / f"pair-{repeat}-{seed}") for seed in (0, 1)])
            print(f"round {repeat}: alone {alone[-1]:.1f} s, together {together[-2]:.1f} s and {together[-1]:.1f} s",
                  flush=True)
    ratio = statistics.median(together) / statistics.median(alone)
    threads = args.threads or "default"
    cli = (f"python benchmarks/two_runs.py --algo {args.algo} --env {args.env} --steps {args.steps} "
           f"--repeats {args.repeats}" + (f" --threads {args.threads}" if args.threads else ""))
    row = (f"| {date.today()} | {args.algo} | {args.env} | {args.steps:,} | {threads} | "
           f"{statistics.median(alone):.1f} | {statistics.median(together):.1f} | **{ratio:.2f}×** | `{cli}` |")
    print(row)
    if not args.no_write:
        append_row("Two runs at once: each one's time against one alone",
                   "Whole-process seconds, medians over the rounds (alone and together alternating); target "
                   "≤ 1.5× with rung's default threads.",
                   ["date", "algo", "env", "steps", "threads", "alone s", "each of two s", "ratio", "command"], row)


if __name__ == "__main__":
    main()
