"""Side-by-side wall time and returns: rung vs Stable-Baselines3 with identical hyper-parameters.

    python benchmarks/compare_sb3.py dqn CartPole-v1 --preset zoo --pairs 3

Runs alternate (rung, SB3, rung, SB3, ...), each in a fresh process, seed i for pair i (from --first-seed). Wall time
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


# rung config key → Stable-Baselines3 keyword (keys absent here have the same name in both)
SB3_NAMES = {"lr": "learning_rate", "epsilon": "exploration_initial_eps", "epsilon_final": "exploration_final_eps",
             "clip_eps": "clip_range", "clip_value": "clip_range_vf"}
# handled below (schedules, policy_kwargs, VecNormalize) or not a learner setting
SPECIAL = {"env_backend", "n_envs", "net_arch", "activation", "log_std_init", "ortho_init", "shared_body", "optimizer",
           "lr", "lr_final", "clip_eps", "clip_eps_final", "normalize_obs", "normalize_reward", "checkpoint_replay",
           "action_noise", "alpha", "alpha_init", "target_entropy"}
# rung features SB3 lacks: a comparison needs them at their defaults
RUNG_ONLY = {"dqn": ("double_q", "dueling", "n_step"), "ddpg": ("n_step",), "td3": ("n_step",), "sac": ("n_step",)}


def schedule(start: float, end: float | None):
    """SB3 takes a function of the remaining progress p (1 → 0) for an annealed value."""
    return start if end is None else (lambda p: end + (start - end) * p)


def sb3_kwargs(algo: str, config: dict, action_dim: int) -> dict:
    import numpy as np
    import torch

    from dataclasses import fields

    from rung.algos import get_algo

    defaults = {f.name: f.default for f in fields(get_algo(algo).Config)}
    kwargs = {"learning_rate": schedule(config["lr"], config.get("lr_final"))}
    if "clip_eps" in config:
        kwargs["clip_range"] = schedule(config["clip_eps"], config.get("clip_eps_final"))
    for key in RUNG_ONLY.get(algo, ()):
        if config[key] != defaults[key]:
            raise SystemExit(f"Stable-Baselines3's {algo.upper()} has no {key}; compare with it off")
    for key, value in config.items():
        if key not in SPECIAL and key not in RUNG_ONLY.get(algo, ()):
            kwargs[SB3_NAMES.get(key, key)] = value
    if config.get("shared_body"):
        raise SystemExit("Stable-Baselines3 2.x has no shared actor-critic body; compare with shared_body=false")
    policy = {"net_arch": list(config["net_arch"])}
    if "activation" in config:
        policy["activation_fn"] = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[config["activation"]]
    if "log_std_init" in config:
        policy["log_std_init"] = config["log_std_init"]
    if "ortho_init" in config:
        policy["ortho_init"] = config["ortho_init"]
    if "action_noise" in config:   # Gaussian, in the unit action box as rung's
        from stable_baselines3.common.noise import NormalActionNoise

        kwargs["action_noise"] = NormalActionNoise(np.zeros(action_dim), np.full(action_dim, config["action_noise"]))
    if "alpha" in config:
        kwargs["ent_coef"] = config["alpha"] if config["alpha"] is not None else f"auto_{config['alpha_init']}"
        kwargs["target_entropy"] = "auto" if config["target_entropy"] is None else config["target_entropy"]
    if config.get("optimizer") == "adam":
        kwargs["use_rms_prop"] = False
    kwargs["policy_kwargs"] = policy
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


def run_one(library: str, algo: str, env_id: str, preset: str, seed: int, episodes: int, threads: int,
            steps: int | None) -> dict:
    import torch

    from rung.api import resolve

    torch.set_num_threads(threads)
    settings = resolve(algo, env_id, steps=steps, seed=seed, preset=preset, threads=threads)
    config = {k: getattr(settings.config, k) for k in settings.config.__dataclass_fields__}
    if library == "rung":
        import rung

        started = time.perf_counter()
        agent = rung.train(algo, env_id, steps=steps, seed=seed, preset=preset, eval_episodes=1, threads=threads)
        seconds = time.perf_counter() - started
        act = agent.act
    else:
        import numpy as np
        import stable_baselines3 as sb3
        from gymnasium import spaces
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.vec_env import VecNormalize

        started = time.perf_counter()
        env = make_vec_env(env_id, n_envs=config["n_envs"], seed=seed)
        if config.get("normalize_obs") or config.get("normalize_reward"):
            env = VecNormalize(env, norm_obs=config["normalize_obs"], norm_reward=config["normalize_reward"],
                               gamma=config["gamma"])
        model = getattr(sb3, algo.upper())("MlpPolicy", env, seed=seed, device="cpu", **sb3_kwargs(algo, config, int(np.prod(env.action_space.shape))))
        model.learn(settings.steps)
        seconds = time.perf_counter() - started
        if isinstance(env, VecNormalize):
            env.training = False
        discrete = isinstance(env.action_space, spaces.Discrete)

        def act(obs):
            if isinstance(env, VecNormalize):
                obs = env.normalize_obs(obs)
            action = model.predict(obs, deterministic=True)[0]
            return int(action) if discrete else action
    mean_return = evaluate_actions(act, env_id, episodes, seed + 100_000)
    return {"seconds": seconds, "sps": settings.steps / seconds, "eval": mean_return, "steps": settings.steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("algo")
    parser.add_argument("env_id")
    parser.add_argument("--preset", default="zoo")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="pair i uses seed FIRST_SEED + i (default 0)")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--steps", type=int, help="step budget (default: the preset's)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads, the same for both (default 2)")
    parser.add_argument("--together", action="store_true",
                        help="run each pair's rung and SB3 runs at the same time (long runs; needs --threads 1)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--one", choices=["rung", "sb3"], help=argparse.SUPPRESS)  # internal: one run
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.algo, args.env_id, args.preset, args.seed, args.episodes,
                                 args.threads, args.steps)))
        return

    if args.together and args.threads != 1:
        parser.error("--together runs two trainings at once: use --threads 1")
    results = {"rung": [], "sb3": []}
    for seed in range(args.first_seed, args.first_seed + args.pairs):
        runs = {}
        for library in ("rung", "sb3"):
            cmd = [sys.executable, __file__, args.algo, args.env_id, "--preset", args.preset, "--episodes",
                   str(args.episodes), "--threads", str(args.threads), "--one", library, "--seed", str(seed)]
            cmd += ["--steps", str(args.steps)] if args.steps else []
            runs[library] = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            if not args.together:
                runs[library].wait()
        for library, proc in runs.items():
            out, _ = proc.communicate()
            if proc.returncode:
                sys.exit(f"{library} seed {seed} failed")
            results[library].append(json.loads(out.strip().splitlines()[-1]))
            print(library, seed, results[library][-1], flush=True)
    median = {lib: statistics.median(r["seconds"] for r in runs) for lib, runs in results.items()}
    ratio = median["rung"] / median["sb3"]
    command = (f"python benchmarks/compare_sb3.py {args.algo} {args.env_id} --preset {args.preset} "
               f"--pairs {args.pairs} --threads {args.threads}" + (f" --steps {args.steps}" if args.steps else "")
               + (f" --first-seed {args.first_seed}" if args.first_seed else "")
               + (" --together" if args.together else ""))
    evals = {lib: ", ".join(f"{r['eval']:.1f}" for r in runs) for lib, runs in results.items()}
    sps = {lib: statistics.median(r["sps"] for r in runs) for lib, runs in results.items()}
    row = (f"| {date.today()} | {args.algo} | {args.env_id} ({args.preset}, {results['rung'][0]['steps']:,} steps, "
           f"{args.threads} thread{'s' if args.threads > 1 else ''}{', run together' if args.together else ''}) | "
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
