"""Side-by-side wall time and returns: rung vs Stable-Baselines3 with identical hyper-parameters.

    python benchmarks/compare_sb3.py dqn CartPole-v1 --preset zoo --pairs 3

Runs alternate (rung, SB3, rung, SB3, ...), each in a fresh process, seed i for pair i. Wall time
covers building the agent and training (not imports, not evaluation); both agents are then evaluated
the same way: 20 deterministic episodes on a fresh env. Prints a summary and appends a row to
docs/benchmarks.md with this exact command. Needs the `bench` extra (stable-baselines3).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import date

from report import append_row


# rung config key → Stable-Baselines3 DQN keyword (keys absent here have the same name in both)
SB3_NAMES = {"dqn": {"lr": "learning_rate", "epsilon": "exploration_initial_eps",
                     "epsilon_final": "exploration_final_eps"}}
RUNG_ONLY = {"env_backend", "n_envs", "net_arch"}


def sb3_kwargs(algo: str, config: dict) -> dict:
    from dataclasses import fields

    from rung.algos import get_algo

    defaults = {f.name: f.default for f in fields(get_algo(algo).Config)}
    kwargs = {}
    lr, lr_final = config["lr"], config.get("lr_final")
    if lr_final is not None:  # SB3 takes a schedule of the remaining progress p (1 → 0)
        kwargs["learning_rate"] = lambda p: lr_final + (lr - lr_final) * p
    for key, value in config.items():
        if key in RUNG_ONLY or key == "lr_final" or (key == "lr" and lr_final is not None):
            continue
        if key in ("double_q", "dueling", "n_step") and value != defaults[key]:
            raise SystemExit(f"Stable-Baselines3's DQN has no {key}; compare with it off")
        if key in ("double_q", "dueling", "n_step"):
            continue
        kwargs[SB3_NAMES[algo].get(key, key)] = value
    kwargs["policy_kwargs"] = {"net_arch": list(config["net_arch"])}
    return kwargs


def evaluate_actions(act, env_id: str, episodes: int, seed: int) -> float:
    """Mean undiscounted return of `act(obs) -> action` over fresh-env episodes (same loop for both)."""
    import gymnasium as gym

    env = gym.make(env_id)
    returns, (obs, _) = [], env.reset(seed=seed)
    while len(returns) < episodes:
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
        obs, _ = env.reset()
    return sum(returns) / len(returns)


def run_one(library: str, algo: str, env_id: str, preset: str, seed: int, episodes: int) -> dict:
    from rung.api import resolve

    settings = resolve(algo, env_id, seed=seed, preset=preset)
    config = {k: getattr(settings.config, k) for k in settings.config.__dataclass_fields__}
    if library == "rung":
        import rung

        started = time.perf_counter()
        agent = rung.train(algo, env_id, seed=seed, preset=preset, eval_episodes=1)
        seconds = time.perf_counter() - started
        act = agent.act
    else:
        import stable_baselines3 as sb3
        import torch
        from stable_baselines3.common.env_util import make_vec_env

        started = time.perf_counter()
        env = make_vec_env(env_id, n_envs=config["n_envs"], seed=seed)
        model = getattr(sb3, algo.upper())("MlpPolicy", env, seed=seed, device="cpu", **sb3_kwargs(algo, config))
        model.learn(settings.steps)
        seconds = time.perf_counter() - started

        def act(obs):
            return int(model.predict(obs, deterministic=True)[0])
        torch.set_num_threads(torch.get_num_threads())
    mean_return = evaluate_actions(act, env_id, episodes, seed + 100_000)
    return {"seconds": seconds, "sps": settings.steps / seconds, "eval": mean_return, "steps": settings.steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("algo")
    parser.add_argument("env_id")
    parser.add_argument("--preset", default="zoo")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--one", choices=["rung", "sb3"], help=argparse.SUPPRESS)  # internal: one run
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.algo, args.env_id, args.preset, args.seed, args.episodes)))
        return

    results = {"rung": [], "sb3": []}
    for seed in range(args.pairs):
        for library in ("rung", "sb3"):
            cmd = [sys.executable, __file__, args.algo, args.env_id, "--preset", args.preset, "--episodes",
                   str(args.episodes), "--one", library, "--seed", str(seed)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            results[library].append(json.loads(out))
            print(library, seed, results[library][-1], flush=True)
    median = {lib: statistics.median(r["seconds"] for r in runs) for lib, runs in results.items()}
    ratio = median["rung"] / median["sb3"]
    command = (f"python benchmarks/compare_sb3.py {args.algo} {args.env_id} --preset {args.preset} "
               f"--pairs {args.pairs}")
    evals = {lib: ", ".join(f"{r['eval']:.1f}" for r in runs) for lib, runs in results.items()}
    sps = {lib: statistics.median(r["sps"] for r in runs) for lib, runs in results.items()}
    row = (f"| {date.today()} | {args.algo} | {args.env_id} ({args.preset}, {results['rung'][0]['steps']:,} steps) | "
           f"{median['rung']:.1f} | {median['sb3']:.1f} | **{ratio:.2f}** | {sps['rung']:,.0f} / {sps['sb3']:,.0f} | "
           f"{evals['rung']} | {evals['sb3']} | `{command}` |")
    print(row)
    if not args.no_write:
        append_row("rung vs Stable-Baselines3 (same hyper-parameters, alternating runs, medians)",
                   "Wall time = building the agent + training (no imports, no evaluation); eval = mean of 20 "
                   "deterministic episodes of the final agent, per seed.",
                   ["date", "algo", "env", "rung s", "SB3 s", "rung/SB3 time", "SPS rung / SB3",
                    "eval rung (per seed)", "eval SB3 (per seed)", "command"], row)


if __name__ == "__main__":
    main()
