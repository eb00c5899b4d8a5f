"""The `rung` command: parses arguments and calls the Python API (rung.api). Nothing else lives here."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

from rung.errors import RungError

TRAIN_EXAMPLES = """examples:
  rung train qlearning FrozenLake-v1 --seed 0
  rung train qlearning FrozenLake-v1 --env-kwargs is_slippery=False --steps 20000
  rung train sarsa CliffWalking-v1 --set epsilon=0.1 epsilon_final=0.1
  rung train qlearning my_envs.py:GridWorld --steps 50000
  rung train ppo HalfCheetah-v5 --checkpoint-every 50000 --exact-resume
  rung train ppo LunarLander-v3 --eval-every 50000 --stop-at 200
  rung train --resume runs/ppo-HalfCheetah-v5-s0-20261125-010203-000000
"""

RLHF_EXAMPLES = """stages, each a run directory with summary.json:
  rung rlhf pretrain --run-dir runs/rl/base
  rung rlhf reward --policy runs/rl/base --run-dir runs/rl/rm --label-noise 0.1
  rung rlhf ppo --policy runs/rl/base --reward-model runs/rl/rm --run-dir runs/rl/ppo --set adaptive_kl=true
  rung rlhf best-of-n --policy runs/rl/base --reward-model runs/rl/rm --n 64 --run-dir runs/rl/bon
  rung rlhf dpo --policy runs/rl/base --run-dir runs/rl/dpo --set beta=0.1
  rung rlhf pretrain --task arithmetic --run-dir runs/rl/adder
  rung rlhf grpo --policy runs/rl/adder --run-dir runs/rl/adder-grpo --set updates=150 group_size=8 lr=1e-3
  rung rlhf pretrain --model path/to/hf-model --run-dir runs/rl/sft     # any AutoModelForCausalLM ('rung[hf]')
"""


def one_line(message: str) -> str:
    """User input echoed in a message can hold newlines or control characters: escape them."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit code 2."""

    def error(self, message: str):
        sys.stderr.write(f"rung: error: {one_line(message)}\n")
        sys.exit(2)


def config_help() -> str:
    from rung.algos import ALGOS
    from rung.config import fields_help

    lines = ["config keys for --set KEY=VALUE, per algorithm:"]
    for name, module in ALGOS.items():
        lines.append(f"  {name}:")
        lines += [f"    {line}" for line in fields_help(module.Config)]
    return "\n".join(lines)


def build_parser() -> Parser:
    parser = Parser(prog="rung", description="Reinforcement learning from a Q-table to RLHF.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = sub.add_parser("train", help="train an agent and evaluate it", epilog=TRAIN_EXAMPLES + "\n" + config_help(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("algo", metavar="ALGO", nargs="?", help="algorithm name (see `rung list`)")
    train.add_argument("env_id", metavar="ENV_ID", nargs="?",
                       help="a registered Gymnasium id, or module:Class, or path/to/file.py:Class")
    train.add_argument("--resume", metavar="RUN_DIR",
                       help="continue an interrupted run from its checkpoint to its planned end (no other arguments)")
    train.add_argument("--steps", type=int, help="env steps to train for (default: the preset's, else 100000)")
    train.add_argument("--seed", type=int, default=0, help="seeds the env, exploration and everything else (default 0)")
    train.add_argument("--preset", help="named hyper-parameter preset for this algorithm and env (default: `default`)")
    train.add_argument("--set", dest="overrides", nargs="+", action="extend", metavar="KEY=VALUE", default=[],
                       help="override config fields (listed below)")
    train.add_argument("--env-kwargs", nargs="+", action="extend", metavar="KEY=VALUE", default=[],
                       help="keyword arguments for the env, e.g. is_slippery=False")
    train.add_argument("--wrapper", dest="wrappers", action="append", metavar="SPEC",
                       help="wrap every copy of the env, repeatable, applied in order: frame_stack:N, mask_velocity, "
                            "clip_reward[:C], time_limit:N or module:Class[:key=value,...] (default: the preset's)")
    train.add_argument("--run-dir", help="where to write the run (default runs/ALGO-ENV-sSEED-TIME)")
    train.add_argument("--eval-episodes", type=int, default=100, help="episodes of the final evaluation (default 100)")
    train.add_argument("--eval-every", type=int, metavar="STEPS",
                       help="evaluate greedily every STEPS env steps during training (metrics eval_return, "
                            "eval_length; the best agent is kept in RUN_DIR/best/); default: at 5 evenly spaced "
                            "points; 0: never")
    train.add_argument("--eval-every-episodes", type=int, metavar="N",
                       help="episodes per evaluation during training (default 10)")
    train.add_argument("--stop-at", type=float, metavar="RETURN",
                       help="stop training once an evaluation during training reaches this mean return")
    train.add_argument("--video-every", type=int, metavar="STEPS",
                       help="record one greedy episode every STEPS env steps into RUN_DIR/videos/ (MP4, 'rung[video]')")
    train.add_argument("--threads", type=int, help="torch threads (default: the preset's, else 1 for MLP bodies and one per core for CNNs)")
    train.add_argument("--device", help="auto (default: CUDA for image observations when torch sees a GPU, else the "
                                        "CPU), cpu, cuda or cuda:N; with --resume: continue on this device")
    train.add_argument("--workers", type=int, metavar="N",
                       help="REINFORCE, A2C, PPO: N Ray actors step the envs, the learner updates (needs rung[ray])")
    train.add_argument("--address", metavar="HOST:PORT",
                       help="the Ray cluster for --workers (default: start a local instance)")
    train.add_argument("--checkpoint-every", type=int, metavar="STEPS",
                       help="env steps between checkpoints (default: a tenth of the budget)")
    train.add_argument("--checkpoint-minutes", type=float, default=10.0, metavar="M",
                       help="also checkpoint every M minutes (default 10; not with --exact-resume)")
    train.add_argument("--exact-resume", action="store_true",
                       help="restart episodes at every checkpoint, so a resumed run is bit-identical to an "
                            "uninterrupted one")
    train.add_argument("--plot", action="store_true", help="also draw the learning curve into RUN_DIR/curve.png")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    ev = sub.add_parser("eval", help="evaluate the agent of a finished run")
    ev.add_argument("run_dir", metavar="RUN_DIR")
    ev.add_argument("--episodes", type=int, help="number of episodes (default 100; 1 with --video)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the evaluation env (default 0)")
    ev.add_argument("--stochastic", action="store_true", help="sample actions instead of acting greedily")
    ev.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    ev.add_argument("--video", metavar="FILE", help="also record --episodes greedy episodes (default 1 with --video) "
                                                    "into FILE.mp4 ('rung[video]') or FILE.gif")

    sub.add_parser("list", help="algorithms, the spaces each supports, and their presets")

    export = sub.add_parser("export", help="the greedy policy of a deep agent as ONNX or TorchScript (docs/deploy.md)")
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("--onnx", metavar="FILE", help="write FILE.onnx (input obs [batch, ...], output action)")
    export.add_argument("--torchscript", metavar="FILE", help="write a traced TorchScript module to FILE.pt")

    doctor = sub.add_parser("doctor", help="check an environment: API, spaces, scales, time limit, seeding, speed")
    doctor.add_argument("env_id", metavar="ENV_ID", help="a registered Gymnasium id, or module:Class, or file.py:Class")
    doctor.add_argument("--env-kwargs", nargs="+", action="extend", metavar="KEY=VALUE", default=[])
    doctor.add_argument("--wrapper", dest="wrappers", action="append", metavar="SPEC", default=[],
                        help="check the env wrapped as `rung train --wrapper` would (repeatable)")
    doctor.add_argument("--steps", type=int, default=2000, help="random steps to measure scales and speed (default 2000)")
    doctor.add_argument("--seed", type=int, default=0)

    rlhf = sub.add_parser("rlhf", help="RLHF at small scale: one command per stage, or the whole pipeline "
                                       "(see docs/rlhf.md)", epilog=RLHF_EXAMPLES,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    rlhf_sub = rlhf.add_subparsers(dest="rlhf_command", required=True, parser_class=Parser)
    demo = rlhf_sub.add_parser("demo", help="pretrain, reward model, best-of-16, PPO, GRPO, RLOO and DPO; print the "
                                                "table")
    stage = rlhf_sub.add_parser("pretrain", help="the base policy: a fresh GPT, or fine-tuning of a Hugging Face model")
    stage.add_argument("--task", default="reviews", help="reviews (default) or arithmetic (a verifiable reward)")
    stage.add_argument("--model", metavar="HF_DIR", help="a Hugging Face model directory (model and tokenizer) "
                                                         "to fine-tune instead of a fresh GPT")
    stage.add_argument("--steps", type=int, help="gradient steps (default 600 for reviews, 2000 for arithmetic)")
    stage.add_argument("--lr", type=float, help="learning rate (default 3e-3 fresh, 1e-4 fine-tuning)")
    stages = [demo, stage]
    stage = rlhf_sub.add_parser("reward", help="preferences labelled by the gold judge, and the reward model")
    stage.add_argument("--policy", metavar="DIR", help="the base policy's run directory")
    stage.add_argument("--pairs", type=int, default=6000, help="training pairs (default 6000)")
    stage.add_argument("--label-noise", type=float, default=0.0, help="fraction of labels flipped (default 0)")
    stages.append(stage)
    stage = rlhf_sub.add_parser("best-of-n", help="sample n, keep the reward model's favourite (no training)")
    stage.add_argument("--policy", required=True, metavar="DIR")
    stage.add_argument("--reward-model", required=True, metavar="DIR")
    stage.add_argument("--n", type=int, default=16, help="samples per prompt (default 16)")
    stages.append(stage)
    stage = rlhf_sub.add_parser("dpo", help="DPO: the policy trained on the reward stage's preference pairs, no "
                                            "reward model (Rafailov et al. 2023)")
    stage.add_argument("--policy", metavar="DIR", help="the policy to start from (also π_ref)")
    stage.add_argument("--reward-model", metavar="DIR", help="a reward model to score the result with (proxy "
                                                             "columns only; DPO does not use it)")
    stage.add_argument("--pairs", type=int, default=6000, help="training pairs (default 6000: the reward stage's)")
    stage.add_argument("--label-noise", type=float, default=0.0, help="fraction of labels flipped (default 0)")
    stage.add_argument("--set", dest="overrides", nargs="+", action="extend", metavar="KEY=VALUE", default=[],
                       help="config fields, e.g. beta=0.05 epochs=4 lr=1e-4")
    stages.append(stage)
    for method, what in (("ppo", "PPO with a KL penalty and a value model"), ("grpo", "GRPO: group-relative "
                         "advantages, k3 KL in the loss"), ("rloo", "RLOO: REINFORCE with a leave-one-out baseline")):
        stage = rlhf_sub.add_parser(method, help=what)
        stage.add_argument("--policy", metavar="DIR", help="the policy to start from (also π_ref)")
        stage.add_argument("--reward-model", metavar="DIR", help="the reward model (reviews task; the arithmetic "
                                                                 "task's reward is exact)")
        stage.add_argument("--set", dest="overrides", nargs="+", action="extend", metavar="KEY=VALUE", default=[],
                           help="config fields, e.g. beta=0.1 adaptive_kl=true updates=80")
        stages.append(stage)
    for stage in stages[-4:]:   # dpo, ppo, grpo, rloo
        stage.add_argument("--lora", nargs="+", metavar="KEY=VALUE", help="train LoRA adapters of a Hugging Face "
                           "policy instead of all its weights ('rung[lora]'): r=RANK [alpha=ALPHA, default 2·r]")
    for stage in stages:
        if stage.prog.split()[-1] in ("pretrain", "reward", "dpo", "ppo", "grpo", "rloo"):
            stage.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted stage from its "
                                                                  "checkpoint, with the settings it was started with")
        stage.add_argument("--run-dir", help="where to write (default runs/rlhf-STAGE-sSEED-TIME)")
        stage.add_argument("--seed", type=int, default=0)
        stage.add_argument("--threads", type=int, help="torch threads (default: 1 for rung's GPT, whose ops are "
                                                       "small; one per core for a Hugging Face model)")
        stage.add_argument("--device", help="auto (default: CUDA when torch sees one), cpu, cuda or cuda:N")

    from rung.lab import EXPERIMENTS   # a dict of names: imports nothing heavy

    lab = sub.add_parser("lab", help="the seed's claims as experiments: plots, numbers, verdicts (docs/lab.md)",
                         epilog="experiments:\n" + "\n".join(f"  {k:<15} {v}" for k, v in EXPERIMENTS.items()),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    lab.add_argument("name", metavar="NAME", help="experiment: " + ", ".join(EXPERIMENTS))
    lab.add_argument("--seeds", type=int, default=5, help="seeds per configuration (default 5)")
    lab.add_argument("--quick", action="store_true", help="a small version (under a minute), as CI runs it")
    lab.add_argument("--out", help="output directory (default runs/lab-NAME-TIME)")

    sweep = sub.add_parser("sweep", help="hyper-parameters × seeds on Ray Tune; exports the best as a preset file")
    sweep.add_argument("algo", metavar="ALGO")
    sweep.add_argument("env_id", metavar="ENV_ID")
    sweep.add_argument("--grid", nargs="+", action="extend", metavar="KEY=V1,V2", default=[],
                       help="values to try per config key, e.g. lr=1e-3,3e-4")
    sweep.add_argument("--grid-file", metavar="FILE.yaml",
                       help="the values to try as YAML, e.g. `lr: [1e-3, 3e-4]` (--grid overrides its keys)")
    sweep.add_argument("--seeds", type=int, default=3, help="seeds per configuration (default 3)")
    sweep.add_argument("--steps", type=int, help="env steps per trial (default: the preset's)")
    sweep.add_argument("--preset", help="preset the swept keys override (default: `default`)")
    sweep.add_argument("--search", default="grid", help="grid (default), random or optuna")
    sweep.add_argument("--samples", type=int, default=4, help="configurations drawn by random / optuna (default 4)")
    sweep.add_argument("--eval-episodes", type=int, default=100,
                       help="greedy episodes that score each trial (default 100)")
    sweep.add_argument("--address", help="an existing Ray cluster (default: start a local instance)")
    sweep.add_argument("--wrapper", dest="wrappers", action="append", metavar="SPEC",
                       help="wrap the env of every trial, as `rung train --wrapper` (repeatable)")
    sweep.add_argument("--run-dir", help="where to write (default runs/sweep-ALGO-ENV-TIME)")

    report = sub.add_parser("report", help="one self-contained HTML page for runs, lab results and RLHF stages")
    report.add_argument("paths", metavar="PATH", nargs="+", help="run directories, lab outputs, RLHF stage directories")
    report.add_argument("--out", required=True, metavar="FILE.html")
    report.add_argument("--title", default="rung report")

    plot = sub.add_parser("plot", help="learning curves (return vs env steps) of one or more runs")
    plot.add_argument("run_dirs", metavar="RUN_DIR", nargs="+")
    plot.add_argument("--out", required=True, metavar="FILE.png", help="where to write the PNG")
    plot.add_argument("--title", help="plot title")
    return parser


def cmd_train(args) -> None:
    import rung
    from rung.config import parse_assignments
    from rung.evaluate import EVAL_EVERY_EPISODES

    started = time.perf_counter()
    if args.resume:
        given = [a for a in ("algo", "env_id", "steps", "preset", "run_dir", "threads", "checkpoint_every",
                             "workers", "address", "eval_every", "eval_every_episodes", "stop_at", "wrappers",
                             "video_every")
                 if getattr(args, a) is not None] + [a for a in ("overrides", "env_kwargs", "exact_resume")
                                                     if getattr(args, a)]
        if given:
            raise RungError(f"--resume continues a run with its own settings; drop {', '.join(given)}")
        agent = rung.resume(args.resume, progress=not args.quiet, device=args.device)
    else:
        if args.algo is None or args.env_id is None:
            raise RungError("train needs ALGO and ENV_ID (or --resume RUN_DIR)")
        agent = rung.train(args.algo, args.env_id, steps=args.steps, seed=args.seed, preset=args.preset,
                           config=parse_assignments(args.overrides, "--set"),
                           env_kwargs=parse_assignments(args.env_kwargs, "--env-kwargs"),
                           run_dir=args.run_dir or True, eval_episodes=args.eval_episodes, progress=not args.quiet,
                           threads=args.threads, checkpoint_every=args.checkpoint_every,
                           checkpoint_minutes=args.checkpoint_minutes, exact_resume=args.exact_resume,
                           workers=args.workers, address=args.address,
                           eval_every="auto" if args.eval_every is None else args.eval_every,
                           eval_every_episodes=(EVAL_EVERY_EPISODES if args.eval_every_episodes is None
                                                else args.eval_every_episodes), stop_at=args.stop_at,
                           wrappers=args.wrappers, video_every=args.video_every, device=args.device)
    seconds = time.perf_counter() - started
    ev = agent.eval
    from rung.algos import get_algo

    count = agent.metrics[-1]["step"] if agent.metrics else 0
    unit = "env steps" if get_algo(agent.algo).USES_ENV_STEPS else "sweeps over the model (no env steps)"
    print(f"trained {agent.algo} on {agent.env_id} with {int(count):,} {unit} in {seconds:.1f} s")
    print(f"final evaluation, {ev['episodes']} greedy episodes: mean return {ev['mean_return']:.3f} "
          f"± {ev['std_return']:.3f}, mean length {ev['mean_length']:.1f}")
    if "exact_return" in ev:
        print(f"exact expected return of the greedy policy: {ev['exact_return']:.4f} "
              f"(best possible within the time limit: {ev['optimal_return']:.4f})")
    evals = [row for row in agent.metrics if "eval_return" in row]
    if evals:
        best = max(evals, key=lambda row: row["eval_return"])
        print(f"evaluations during training: {len(evals)}; the best, {best['eval_return']:.3f}, at env step "
              f"{int(best['step']):,}" + (f" (that agent: {agent.run_dir / 'best'})" if agent.run_dir else ""))
        if args.stop_at is not None and evals[-1]["eval_return"] >= args.stop_at:
            print(f"stopped early: eval return {evals[-1]['eval_return']:.3f} ≥ --stop-at {args.stop_at:g}")
    from rung.diagnostics import health

    for problem in health(agent.metrics, 1.0):
        print(f"health: {problem}")
    during = agent.during_training
    if during.get("late_collapse"):
        print(f"health: late collapse: the final agent scores {ev['mean_return']:.3f}, the best evaluation during "
              f"training {during['best_eval_return']:.3f} at env step {during['best_eval_step']:,}; that agent is in "
              f"{agent.run_dir / 'best'} (rung eval {agent.run_dir / 'best'})")
    print(f"run directory: {agent.run_dir}  (metrics.csv, agent, eval.json)")
    if args.plot:
        from rung.plot import plot_runs

        print(f"learning curve: {plot_runs([agent.run_dir], agent.run_dir / 'curve.png')}")
    else:
        print(f"learning curve: rung plot {agent.run_dir} --out curve.png")
    print(f"TensorBoard: tensorboard --logdir {agent.run_dir / 'tb'}")


def cmd_eval(args) -> None:
    import torch

    import rung
    from rung.nets import default_threads

    if args.episodes is not None and args.episodes <= 0:
        raise RungError(f"--episodes must be positive, got {args.episodes}")
    agent = rung.load(args.run_dir)
    if args.video:
        from rung.video import record

        episodes = record(agent, args.video, args.episodes or 1, args.seed, deterministic=not args.stochastic)
        for i, episode in enumerate(episodes):
            print(f"episode {i + 1}: return {episode['return']:.4g}, length {episode['length']}")
        print(f"video: {args.video}")
        return
    if hasattr(agent, "obs_space") and default_threads(agent.obs_space) is not None:   # a network: training's threads
        torch.set_num_threads(default_threads(agent.obs_space))
    result = rung.evaluate(agent, episodes=args.episodes or 100, seed=args.seed, deterministic=not args.stochastic)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{agent.algo} on {agent.env_id}: mean return {result['mean_return']:.3f} ± {result['std_return']:.3f} "
          f"over {result['episodes']} episodes, mean length {result['mean_length']:.1f}")


def cmd_export(args) -> None:
    import rung
    from rung.export import to_onnx, to_torchscript

    if not (args.onnx or args.torchscript):
        raise RungError("export needs --onnx FILE and/or --torchscript FILE")
    agent = rung.load(args.run_dir)
    for path, write in ((args.onnx, to_onnx), (args.torchscript, to_torchscript)):
        if path:
            print(f"wrote {write(agent, path)}")


def cmd_list(args) -> None:
    from rung.algos import ALGOS
    from rung.presets import all_presets

    for name, module in ALGOS.items():
        print(f"{name}: {module.SPACES}")
        for env_id, presets in all_presets(name).items():
            print(f"    {env_id}: {', '.join(presets)}")


def cmd_doctor(args) -> int:
    from rung.config import parse_assignments
    from rung.doctor import FAIL, diagnose

    if args.steps <= 0:
        raise RungError(f"--steps must be positive, got {args.steps}")
    findings = diagnose(args.env_id, parse_assignments(args.env_kwargs, "--env-kwargs"), args.steps, args.seed,
                        args.wrappers)
    for finding in findings:
        print(finding)
    usable = not any(f.level == FAIL for f in findings)
    print(f"{args.env_id}: {'usable' if usable else 'NOT usable'} "
          f"({sum(f.level == 'warning' for f in findings)} warnings, {sum(f.level == FAIL for f in findings)} failures)")
    return 0 if usable else 1


def cmd_rlhf(args) -> None:
    from rung.config import parse_assignments
    from rung.devices import resolve as resolve_device
    from rung.rlhf import pipeline
    from rung.runs import default_run_dir

    def say(text: str) -> None:
        print(text, flush=True)

    started = time.perf_counter()
    if args.threads is not None and args.threads <= 0:
        raise RungError(f"--threads must be a positive integer, got {args.threads}")
    policy_dir = pipeline.stage_record(args.resume)["policy"] if getattr(args, "resume", None) else \
        getattr(args, "policy", None)
    hugging_face = getattr(args, "model", None) or pipeline.is_hugging_face(policy_dir)
    threads = args.threads or (None if hugging_face else 1)   # measured: docs/benchmarks.md, thread defaults
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    run_dir = args.run_dir or default_run_dir("rlhf", args.rlhf_command, args.seed)
    device = resolve_device(args.device)
    if args.rlhf_command == "demo":
        rows = pipeline.demo(run_dir, args.seed, say=say, device=device)
        print(f"\n{'policy':<12} {'gold':>7} {'proxy':>7} {'KL':>6}  sample")
        for row in rows:
            print(f"{row['policy']:<12} {row['gold']:>7.3f} {row['proxy']:>7.3f} {row['kl']:>6.2f}  {row['sample']}")
        print(f"\nrun directories under {run_dir} ({time.perf_counter() - started:.0f} s); gold = the judge's score "
              "on held-out prompts, proxy = the reward model's")
        return
    lora = parse_assignments(getattr(args, "lora", None), "--lora")
    command = args.rlhf_command
    if getattr(args, "resume", None):
        given = [f"--{name.replace('_', '-')}" for name in ("policy", "reward_model", "lora", "run_dir", "device",
                                                            "model", "steps", "lr", "overrides")
                 if getattr(args, name, None)]
        if given:
            raise RungError(f"--resume continues a stage with its own settings; drop {', '.join(given)}")
        run_dir = args.resume
        pipeline.resume_stage(run_dir, say=say, stage=command)
    elif command == "best-of-n":
        pipeline.require_reviews(args.policy, "best-of-n")
        policy, tokenizer = pipeline.load_policy(args.policy, lora, device)
        reward_model = pipeline.load_model(args.reward_model, device)[0]
        pipeline.best_of_n_stage(run_dir, policy, tokenizer, reward_model, args.n, args.seed)
    else:
        if command != "pretrain" and not args.policy:
            raise RungError(f"rung rlhf {command} needs --policy DIR (or --resume RUN_DIR)")
        settings = {"pretrain": lambda: {"task": args.task, "steps": args.steps, "lr": args.lr, "model": args.model},
                    "reward": lambda: {"pairs": args.pairs, "label_noise": args.label_noise},
                    "dpo": lambda: {"pairs": args.pairs, "label_noise": args.label_noise}}.get(command, dict)()
        pipeline.start_stage(run_dir, command, getattr(args, "policy", None), getattr(args, "reward_model", None),
                             args.seed, parse_assignments(getattr(args, "overrides", None), "--set"), lora, say=say,
                             device=device, **settings)
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    for key, value in summary.items():
        if isinstance(value, float):
            print(f"{key:<18} {value:.4g}")
        elif isinstance(value, list) and value and isinstance(value[0], str):
            print(f"{key:<18} {value[0]}")
    print(f"run directory: {run_dir} ({time.perf_counter() - started:.0f} s)")


def cmd_lab(args) -> None:
    from rung.lab import run_experiment
    from rung.runs import default_run_dir

    out = args.out or default_run_dir("lab", args.name, args.seeds)
    result = run_experiment(args.name, out, args.seeds, args.quick)
    for item in result["claims"]:
        print(f"[{'holds' if item['holds'] else 'FAILS'}] {item['claim']}")
    print(f"{out}: result.json, {', '.join(result['figures'])} ({result['seconds']:.0f} s)")


def cmd_sweep(args) -> None:
    from rung.runs import default_run_dir
    from rung.sweep import parse_grid, read_grid_file, sweep

    grid = {**(read_grid_file(args.grid_file) if args.grid_file else {}), **parse_grid(args.grid)}
    run_dir = args.run_dir or default_run_dir("sweep", f"{args.algo}-{args.env_id}", args.seeds)
    summary = sweep(args.algo, args.env_id, grid, args.seeds, args.steps, run_dir, args.search,
                    args.samples, args.preset, args.address, args.eval_episodes, wrappers=args.wrappers)
    print((Path(run_dir) / "table.md").read_text(), end="")
    score = summary["score"]
    print(f"best: {summary['best']} (eval IQM {score['iqm']:.1f}, 95 % CI [{score['low']:.1f}, {score['high']:.1f}])")
    print(f"reproduce: rung train {args.algo} {args.env_id} --preset {summary['preset_file']} "
          f"--seed {summary['best_trial']['seed']}")
    print(f"{run_dir}: summary.json, trials.csv, table.md, sweep.png, trials/")


def cmd_report(args) -> None:
    from rung.report import build_report

    print(build_report(args.paths, args.out, args.title))


def cmd_plot(args) -> None:
    from rung.plot import plot_runs

    print(plot_runs(args.run_dirs, args.out, args.title))


COMMANDS = {"train": cmd_train, "eval": cmd_eval, "export": cmd_export, "list": cmd_list, "plot": cmd_plot, "doctor": cmd_doctor,
            "rlhf": cmd_rlhf, "lab": cmd_lab, "report": cmd_report, "sweep": cmd_sweep}


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """rung's own warnings as one plain line; everyone else's as Python prints them."""
    from rung.errors import RungWarning

    if issubclass(category, RungWarning):
        sys.stderr.write(f"rung: warning: {one_line(str(message))}\n")
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


class LogWarnings(logging.Handler):
    """What rung logs at WARNING or above (e.g. a rollout worker replaced) as `rung: warning: …` lines
    on the current stderr; a run's log.txt also keeps the INFO lines (rung.runs.RunLogger)."""

    def __init__(self):
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(f"rung: warning: {one_line(record.getMessage())}\n")


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = show_warning
    logger = logging.getLogger("rung")
    if not any(isinstance(handler, LogWarnings) for handler in logger.handlers):
        logger.addHandler(LogWarnings())
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args) or 0
    except RungError as exc:
        sys.stderr.write(f"rung: error: {one_line(str(exc))}\n")
        return 2
    except KeyboardInterrupt as exc:
        sys.stderr.write(f"rung: interrupted{': ' + str(exc) if str(exc) else ''}\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
