"""Defaults on envs nobody tuned for: rung's defaults vs Stable-Baselines3's, side by side.

    python benchmarks/unseen.py --algos ppo a2c dqn --seeds 0-4 --jobs 2
    python benchmarks/unseen.py --table            # the table from the results so far, into docs/benchmarks.md

Every task is an env of rung.testbed, or BipedalWalker, the registered env that no preset names, with a
step budget (SAC, TD3 and DDPG: a smaller one, `budget`) and a success threshold on the final greedy
evaluation. The two other registered envs without a preset are left out for their cost: CarRacing's
renderer steps it at ≈ 60 steps a second (measured with two runs sharing the 2 cores), hours a run at any
budget that could teach it something; BipedalWalkerHardcore would cost as much as BipedalWalker (SB3's
PPO alone takes 40–46 minutes a run at 500,000 steps here: ≈ 9 CPU-hours for its 50 runs), so it is left
out unmeasured and BipedalWalker stands for the pair. Each (library, algorithm, task, seed) trains with
the library's defaults and no flags, is evaluated greedily 10 times during training (`periodic_episodes`
each) and once at the end (`final_episodes`), all through rung.evaluate so both libraries are judged
alike. A late collapse is a final return below the best evaluation seen by more than 20 % of the spread
between the task's floor and that best (for negative returns "80 % of the best" is meaningless). SB3 gets
MlpPolicy, MultiInputPolicy for Dict observations; its NatureCNN refuses 16 × 16 images, so PixelSide
runs with MlpPolicy there (what a user is left with). Results go to benchmarks/results/unseen.jsonl,
one line per run; a run already there is not run again.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "unseen.jsonl"
DOCS = Path(__file__).parent.parent / "docs" / "benchmarks.md"
SECTION = "## Unseen tasks: defaults with no preset (issue 17)"
SB3_ALGOS = {"ppo": "PPO", "a2c": "A2C", "dqn": "DQN", "sac": "SAC", "td3": "TD3", "ddpg": "DDPG"}


@dataclass(frozen=True)
class Task:
    env: str            # env id: rung.testbed:CLASS, or a registered one
    steps: int          # training budget in env steps
    success: float      # final mean return at or above this is a success
    floor: float        # a return any policy gets (random or worse): the bottom of the collapse scale
    final_episodes: int = 100
    periodic_episodes: int = 10   # per evaluation during training
    replay_steps: int | None = None   # the budget of SAC, TD3 and DDPG (None: `steps`), see budget()


TASKS = {
    "Corridor": Task("rung.testbed:Corridor", 50_000, 0.99, 0.0),
    "LongCorridor": Task("rung.testbed:LongCorridor", 100_000, 0.75, -4.0),
    "AsymmetricReach": Task("rung.testbed:AsymmetricReach", 50_000, -2.0, -200.0, replay_steps=10_000),
    "WideReach": Task("rung.testbed:WideReach", 50_000, -2.0, -200.0, replay_steps=10_000),
    "ScaledObsCartPole": Task("rung.testbed:ScaledObsCartPole", 100_000, 475.0, 0.0),
    "ScaledRewardCartPole": Task("rung.testbed:ScaledRewardCartPole", 100_000, 475_000.0, 0.0),
    "NoisyCartPole": Task("rung.testbed:NoisyCartPole", 100_000, 450.0, 0.0),
    # one noisy pull per episode: 10 of them would make the best evaluation a lucky draw (std 0.32)
    "Bandit": Task("rung.testbed:Bandit", 20_000, 0.85, 0.0, final_episodes=2_000, periodic_episodes=500),
    "PixelSide": Task("rung.testbed:PixelSide", 50_000, 9.0, -10.0),
    "DictGoal": Task("rung.testbed:DictGoal", 50_000, 9.0, 0.0),
    "PointMass": Task("rung.testbed:PointMass", 50_000, -1.5, -30.0, replay_steps=10_000),
    # Success: ending ahead of the start without falling (a fall costs −100, standing still a little
    # torque); solving (300) takes millions of steps. An episode lasts up to 1,600 steps, hence
    # 20 final episodes. Measured with --jobs 2: PPO learns to walk in 500,000 steps (rung 5–7 min a run,
    # SB3 13–46 min), A2C 3 min (SB3 9–11); SAC's 20,000 steps (6–8 min either library) are far from
    # learning to walk (which takes SAC ≈ 100k–200k steps) but what its 30 runs can afford.
    "BipedalWalker": Task("BipedalWalker-v3", 500_000, 0.0, -120.0, final_episodes=20, replay_steps=20_000),
}
# SAC, TD3 and DDPG take a gradient step of three 256 × 256 networks per env step: ≈ 12 minutes per
# 50,000 steps on one core (rung's SAC on AsymmetricReach, seed 0), 18 hours for their 90 runs with SB3's.
# Their budget is a fifth of the on-policy one on the same tasks, the same for both libraries (that run
# was at −0.17 after its first 5,000 steps, against the threshold −2).
REPLAY_ALGOS = {"sac", "td3", "ddpg"}


def budget(algo: str, task: Task) -> int:
    return task.replay_steps if algo in REPLAY_ALGOS and task.replay_steps else task.steps


def supported(algo: str, task: Task) -> bool:
    from rung.algos import get_algo
    from rung.envs import make_env

    with make_env(task.env) as env:
        return get_algo(algo).supports(env) is None


class SB3Agent:
    """A Stable-Baselines3 model behind the interface rung.evaluate acts through."""

    def __init__(self, model, env: str):
        self.model, self.env_id, self.env_kwargs, self.wrappers = model, env, {}, []

    def act_batch(self, obs, deterministic=True, action_masks=None):
        if obs.dtype.names is not None:   # rung batches Dict observations as a structured array
            obs = {name: obs[name] for name in obs.dtype.names}
        return self.model.predict(obs, deterministic=deterministic)[0]


def train_rung(algo: str, task: Task, seed: int) -> tuple[list[float], float]:
    import rung

    steps = budget(algo, task)
    agent = rung.train(algo, task.env, steps=steps, seed=seed, eval_every=steps // 10,
                       eval_every_episodes=task.periodic_episodes, eval_episodes=task.final_episodes)
    evals = [row["eval_return"] for row in agent.metrics if "eval_return" in row]
    return evals, agent.eval["mean_return"]


def train_sb3(algo: str, task: Task, seed: int) -> tuple[list[float], float]:
    import stable_baselines3
    from gymnasium import spaces

    from rung.envs import make_env
    from rung.evaluate import evaluate

    env = make_env(task.env)
    policy = "MultiInputPolicy" if isinstance(env.observation_space, spaces.Dict) else "MlpPolicy"
    model = getattr(stable_baselines3, SB3_ALGOS[algo])(policy, env, seed=seed, verbose=0)
    agent, evals = SB3Agent(model, task.env), []
    for _ in range(10):   # the same ten evaluation points as rung's eval_every = steps // 10
        model.learn(budget(algo, task) // 10, reset_num_timesteps=False)
        evals.append(evaluate(agent, task.periodic_episodes, seed + 200_000)["mean_return"])
    return evals, evaluate(agent, task.final_episodes, seed + 100_000)["mean_return"]


def run_one(job: tuple[str, str, str, int]) -> dict:
    library, algo, name, seed = job
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    task = TASKS[name]
    start = time.perf_counter()
    evals, final = (train_rung if library == "rung" else train_sb3)(algo, task, seed)
    best = max(evals + [final])
    collapsed = final < best - 0.2 * (best - task.floor)
    return {"library": library, "algo": algo, "task": name, "seed": seed, "steps": budget(algo, task), "final": final,
            "best_eval": max(evals), "evals": evals, "success": final >= task.success, "late_collapse": collapsed,
            "seconds": round(time.perf_counter() - start, 1)}


def done_runs() -> set[tuple]:
    if not RESULTS.is_file():
        return set()
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    return {(r["library"], r["algo"], r["task"], r["seed"]) for r in rows}


def iqm(values: list[float]) -> float:
    values = np.sort(values)
    cut = len(values) // 4
    return float(np.mean(values[cut:len(values) - cut]))


def table() -> str:
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    lines = ["| algo | task | budget | success ≥ | rung successes | SB3 successes | rung IQM final | SB3 IQM final | "
             "rung late collapses | SB3 late collapses |", "|---|---|---|---|---|---|---|---|---|---|"]
    totals = {}
    for algo in dict.fromkeys(r["algo"] for r in rows):
        for name, task in TASKS.items():
            cells = []
            for library in ("rung", "sb3"):
                runs = [r for r in rows if (r["library"], r["algo"], r["task"]) == (library, algo, name)]
                cells.append(runs)
                if runs:
                    total = totals.setdefault((library, algo), [0, 0, 0])
                    total[0] += sum(r["success"] for r in runs)
                    total[1] += len(runs)
                    total[2] += sum(r["late_collapse"] for r in runs)
            if not any(cells):
                continue

            def count(runs, key):
                return f"{sum(r[key] for r in runs)}/{len(runs)}" if runs else "—"

            def final(runs):
                return f"{iqm([r['final'] for r in runs]):.4g}" if runs else "—"
            rung_runs, sb3_runs = cells
            lines.append(f"| {algo} | {name} | {budget(algo, task):,} | {task.success:g} | {count(rung_runs, 'success')} | "
                         f"{count(sb3_runs, 'success')} | {final(rung_runs)} | {final(sb3_runs)} | "
                         f"{count(rung_runs, 'late_collapse')} | {count(sb3_runs, 'late_collapse')} |")
    lines.append("")
    for (library, algo), (wins, runs, collapses) in sorted(totals.items()):
        lines.append(f"- {library} {algo}: {wins}/{runs} successes, {collapses} late collapses")
    lines.append("")
    lines += summary_lines(rows)
    return "\n".join(lines)


def summary_lines(rows: list[dict]) -> list[str]:
    """All algorithms together, over the (algorithm, task, seed) triples both libraries ran: the testbed's
    tasks, the registered envs, and all of them."""
    runs = {(r["library"], r["algo"], r["task"], r["seed"]): r for r in rows}
    paired = [key[1:] for key in runs if key[0] == "rung" and ("sb3", *key[1:]) in runs]
    testbed = {name for name, task in TASKS.items() if task.env.startswith("rung.testbed:")}
    lines = []
    for label, keep in (("testbed tasks", lambda name: name in testbed),
                        ("registered envs", lambda name: name not in testbed), ("all tasks", lambda name: True)):
        triples = [triple for triple in paired if keep(triple[1])]
        if not triples:
            continue
        cells = []
        for library in ("rung", "sb3"):
            done = [runs[(library, *triple)] for triple in triples]
            wins, collapses = sum(r["success"] for r in done), sum(r["late_collapse"] for r in done)
            cells.append(f"{'rung' if library == 'rung' else 'SB3'} {wins} successes, {collapses} late collapses "
                         f"({collapses / len(done):.1%})")
        lines.append(f"- all algorithms, {label} ({len(triples)} triples both libraries ran): {'; '.join(cells)}")
    return lines


def write_docs(text: str) -> None:
    docs = DOCS.read_text()
    block = (f"{SECTION}\n\nEach (library, algorithm, task, seed) run by `python benchmarks/unseen.py --algos ALGO "
             f"--seeds 0-4` (rung.testbed's envs and BipedalWalker, defaults and no flags for both libraries; "
             f"success and late collapse as in the script's docstring), one line each in "
             f"benchmarks/results/unseen.jsonl; this table by "
             f"`python benchmarks/unseen.py --table`.\n\n{text}\n")
    if SECTION in docs:
        head, _, rest = docs.partition(SECTION)
        tail = rest[rest.find("\n## "):] if "\n## " in rest else ""
        docs = head + block + tail
    else:
        docs = docs.rstrip("\n") + "\n\n" + block
    DOCS.write_text(docs)


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["ppo", "a2c", "dqn"])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--libraries", nargs="+", default=["rung", "sb3"], choices=["rung", "sb3"])
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, one torch thread each")
    parser.add_argument("--table", action="store_true", help="only write the table of the results so far")
    args = parser.parse_args()
    if not args.table:
        done = done_runs()
        jobs = [(library, algo, name, seed) for name in args.tasks for algo in args.algos
                for seed in parse_seeds(args.seeds) for library in args.libraries
                if (library, algo, name, seed) not in done and supported(algo, TASKS[name])
                and (library == "rung" or algo in SB3_ALGOS)]
        RESULTS.parent.mkdir(exist_ok=True)
        os.environ["OMP_NUM_THREADS"] = "1"
        with multiprocessing.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
            for result in pool.imap_unordered(run_one, jobs):
                with open(RESULTS, "a") as f:
                    f.write(json.dumps(result) + "\n")
                print(f"{result['library']:4} {result['algo']:9} {result['task']:20} s{result['seed']} "
                      f"final {result['final']:10.4g}  best eval {result['best_eval']:10.4g}  "
                      f"{'ok' if result['success'] else '--'}{'  COLLAPSE' if result['late_collapse'] else ''}"
                      f"  {result['seconds']:.0f}s", flush=True)
    text = table()
    print(text)
    write_docs(text)


if __name__ == "__main__":
    main()
