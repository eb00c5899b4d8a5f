"""Scaling of rollout workers on an env whose step costs 1 ms of CPU work; appends rows to docs/benchmarks.md.

    python benchmarks/workers.py [--algo ppo] [--steps 20480] [--repeats 3]

Runs `rung.train(ALGO, "benchmarks/slow_env.py:SlowCartPole", workers=W)` for W = 1 and 2 (and, for
reference, without workers), alternating, each on a fresh local Ray instance, the learner on one
torch thread. SPS is the steady rate: env steps after the first log point over the seconds since it,
so Ray's start-up and the workers' first rollout are left out (reported as start-up seconds: the rest
of the call's time, i.e. starting Ray and the workers, the first iteration and a one-episode evaluation). Medians over --repeats; the claim is SPS(2 workers) / SPS(1 worker).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date
from pathlib import Path

import rung
from report import append_row

SLOW_ENV = str(Path(__file__).resolve().parent / "slow_env.py") + ":SlowCartPole"


def one_run(algo: str, steps: int, workers: int | None, seed: int) -> tuple[float, float]:
    """(steady SPS, start-up seconds) of one training run."""
    started = time.perf_counter()
    agent = rung.train(algo, SLOW_ENV, steps=steps, seed=seed, workers=workers, threads=1, eval_episodes=1,
                       checkpoint_minutes=None)
    first, last = agent.metrics[0], agent.metrics[-1]
    start_up = time.perf_counter() - started - (agent.metrics[-1]["time"] - first["time"])
    return (last["step"] - first["step"]) / (last["time"] - first["time"]), start_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("--steps", type=int, default=20480)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    settings = (None, 1, 2)
    sps = {w: [] for w in settings}
    start_up = {w: [] for w in settings}
    for repeat in range(args.repeats):
        for workers in settings if repeat % 2 == 0 else settings[::-1]:
            rate, seconds = one_run(args.algo, args.steps, workers, repeat)
            sps[workers].append(rate)
            start_up[workers].append(seconds)
            print(f"repeat {repeat} workers {workers}: {rate:,.0f} SPS, start-up {seconds:.1f} s", flush=True)
    median = {w: statistics.median(v) for w, v in sps.items()}
    ratio = median[2] / median[1]
    print(f"median SPS: no workers {median[None]:,.0f}, 1 worker {median[1]:,.0f}, 2 workers {median[2]:,.0f}; "
          f"2 / 1 workers = {ratio:.2f}")
    if args.no_write:
        return
    command = f"`python benchmarks/workers.py --algo {args.algo} --steps {args.steps} --repeats {args.repeats}`"
    append_row("Rollout workers on a 1 ms-per-step env (Ray, local instance)",
               "SlowCartPole (benchmarks/slow_env.py): CartPole plus 1 ms of CPU work per env step. The "
               "algorithm's default hyper-parameters; learner on one torch thread, one CPU per worker. SPS "
               "after the first log point, medians over the repeats (alternating order); start-up = Ray and the "
               "workers starting, plus the first iteration and a one-episode evaluation.",
               ["date", "algo", "steps", "SPS no workers", "SPS 1 worker", "SPS 2 workers", "2 / 1 workers",
                "start-up s (1 / 2 workers)", "command"],
               f"| {date.today()} | {args.algo} | {args.steps:,} | {median[None]:,.0f} | {median[1]:,.0f} | "
               f"{median[2]:,.0f} | **{ratio:.2f}** | {statistics.median(start_up[1]):.1f} / "
               f"{statistics.median(start_up[2]):.1f} | {command} |")


if __name__ == "__main__":
    main()
