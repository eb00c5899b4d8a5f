"""The Python API; the CLI is a thin layer over these three calls.

    agent = rung.train("qlearning", "FrozenLake-v1", steps=200_000, seed=0)
    print(rung.evaluate(agent, episodes=1000))
    agent = rung.load(agent.run_dir)
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np

from rung import config as cfg
from rung import devices
from rung.algos import ALGOS, algos_supporting, get_algo
from rung.algos.dqn import QAgent
from rung.algos.ddpg import ActorAgent
from rung.algos.ppo import PolicyAgent
from rung.algos.tabular import QTableAgent
from rung.envs import EnvMaker, Guarded, env_id_of, is_python_object_id, make_env
from rung.errors import RungError, RungWarning
from rung.evaluate import EVAL_EVERY_EPISODES, EVAL_POINTS, PeriodicEval, evaluate
from rung.nets import default_threads
from rung.presets import get_preset
from rung.runs import (AGENT_FILE, CONFIG_FILE, EVAL_FILE, Logger, RunLogger, TargetReached, check_run_dir,
                       create_run_dir, default_run_dir, versions, write_json)

DEFAULT_STEPS = 100_000
DEFAULT_CHECKPOINT_MINUTES = 10.0
AGENT_KINDS = {"q_table": QTableAgent, "q_network": QAgent, "actor_critic": PolicyAgent, "actor": ActorAgent}


@dataclasses.dataclass
class RunSettings:
    """What a run needs besides the algorithm's own config."""
    algo: str
    env_id: str
    steps: int
    seed: int
    threads: int | None
    env_kwargs: dict
    preset: str | None
    eval_episodes: int
    checkpoint_every: int | None
    checkpoint_minutes: float | None
    exact_resume: bool
    config: object
    workers: int | None = None    # Ray rollout workers (rung.distributed); None: collect in this process
    address: str | None = None    # the Ray cluster of the workers; None: a local instance
    eval_every: int | None = None  # env steps between evaluations during training (rung.evaluate.PeriodicEval)
    eval_every_episodes: int = EVAL_EVERY_EPISODES  # episodes per evaluation during training
    stop_at: float | None = None   # stop training once such an evaluation's mean return reaches this
    wrappers: list[str] = dataclasses.field(default_factory=list)  # rung.wrappers specs, applied in order
    decided: dict = dataclasses.field(default_factory=dict)  # config values rung chose from the env, and why
    device: str = "auto"           # where the networks live (rung.devices): made concrete by `train` from the env


def resolve(algo: str, env_id: str, steps: int | None = None, seed: int = 0, preset: str | None = None,
            overrides: dict | None = None, env_kwargs: dict | None = None, eval_episodes: int = 100,
            threads: int | None = None, checkpoint_every: int | None = None,
            checkpoint_minutes: float | None = DEFAULT_CHECKPOINT_MINUTES, exact_resume: bool = False,
            workers: int | None = None, address: str | None = None, eval_every: int | str | None = None,
            eval_every_episodes: int = EVAL_EVERY_EPISODES, stop_at: float | None = None,
            wrappers: list[str] | None = None, device: str | None = None) -> RunSettings:
    """Merge defaults < preset < overrides and check every value; raises RungError on bad input.
    `wrappers` replace the preset's, if it names any. `eval_every`: env steps, "auto" (EVAL_POINTS
    evenly spaced evaluations), or 0 / None (none)."""
    from rung import wrappers as run_wrappers

    module = get_algo(algo)
    values = get_preset(algo, env_id, preset)
    preset_steps = values.pop("steps", None)
    preset_threads = values.pop("threads", None)
    wrappers = run_wrappers.check(wrappers if wrappers is not None else values.pop("wrappers", []))
    values.pop("wrappers", None)
    threads = threads if threads is not None else preset_threads
    values.update(overrides or {})
    steps = steps if steps is not None else (preset_steps or DEFAULT_STEPS)
    if not isinstance(steps, int) or steps <= 0:
        raise RungError(f"steps must be a positive integer, got {steps!r}")
    if eval_every == "auto":
        eval_every = max(steps // EVAL_POINTS, 1)
    elif eval_every == 0:
        eval_every = None
    if not isinstance(seed, int) or seed < 0:
        raise RungError(f"seed must be a non-negative integer, got {seed!r}")
    if eval_episodes <= 0:
        raise RungError(f"eval episodes must be positive, got {eval_episodes!r}")
    for name, value in (("threads", threads), ("checkpoint_every", checkpoint_every), ("workers", workers),
                        ("eval_every", eval_every), ("eval_every_episodes", eval_every_episodes)):
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise RungError(f"{name} must be a positive integer, got {value!r}")
    if checkpoint_minutes is not None and not checkpoint_minutes > 0:
        raise RungError(f"checkpoint minutes must be positive, got {checkpoint_minutes!r}")
    if workers is not None and not module.ROLLOUT_WORKERS:
        can = ", ".join(name for name, other in ALGOS.items() if other.ROLLOUT_WORKERS)
        raise RungError(f"{algo} has no rollout workers; --workers is for {can}")
    if address is not None and workers is None:
        raise RungError("--address names the Ray cluster of the rollout workers: give --workers N too")
    if address is not None:
        from rung.distributed import require_listener

        require_listener(address)
    if stop_at is not None and eval_every is None:
        raise RungError("--stop-at is judged by the evaluations during training: give --eval-every STEPS too")
    if stop_at is not None and not np.isfinite(stop_at):
        raise RungError(f"--stop-at must be a finite return, got {stop_at!r}")
    device = "auto" if device is None else str(device)
    if not module.ON_DEVICE and device not in ("auto", "cpu"):
        can = ", ".join(name for name, other in ALGOS.items() if other.ON_DEVICE)
        raise RungError(f"{algo} keeps a NumPy table on the CPU; --device is for {can}")
    devices.resolve(device)   # an unknown device, or CUDA on a machine without it: a one-line error now
    config = cfg.build(module.Config, values)
    for message in module.check(config, steps):
        warnings.warn(message, RungWarning, stacklevel=3)
    return RunSettings(algo, env_id, steps, seed, threads, dict(env_kwargs or {}), preset, eval_episodes,
                       checkpoint_every, checkpoint_minutes, bool(exact_resume), config, workers, address,
                       eval_every, eval_every_episodes, stop_at, wrappers, device=device)


def train(algo: str, env, steps: int | None = None, seed: int = 0, preset: str | None = None,
          config: dict | None = None, env_kwargs: dict | None = None, run_dir: str | Path | None = None,
          eval_episodes: int = 100, progress: bool = False, threads: int | None = None,
          checkpoint_every: int | None = None, checkpoint_minutes: float | None = DEFAULT_CHECKPOINT_MINUTES,
          exact_resume: bool = False, workers: int | None = None, address: str | None = None,
          eval_every: int | str | None = "auto", eval_every_episodes: int = EVAL_EVERY_EPISODES,
          stop_at: float | None = None, wrappers: list[str] | None = None, callbacks: list | None = None,
          video_every: int | None = None, device: str | None = None):
    """Train `algo` on `env`, evaluate it, and return the agent. `env`: a registered Gymnasium id,
    'module:Class' or 'file.py:Class', a gymnasium.Env subclass, or a function of no arguments that
    returns an env (rung.envs.env_id_of; a run from a Python object cannot use Ray workers, and is
    evaluated or resumed in another process by passing the env again). `wrappers`: rung.wrappers specs
    (e.g. ["mask_velocity", "frame_stack:4"]) applied in order to every copy of the env, the
    evaluations' included (default: the preset's, if any).

    With `run_dir` (or `run_dir=True` for one under runs/), everything is written there (see rung.runs),
    checkpoints included; the agent's `run_dir` and `eval` attributes tell where and how well.
    `threads` sets torch's thread count for the process (default: the preset's, else
    rung.nets.default_threads: one for MLP bodies, torch's own choice for CNNs). Checkpoints: every `checkpoint_every` env steps (default: a tenth of the budget) and every
    `checkpoint_minutes`; `exact_resume` makes each checkpoint restart the envs' episodes so that a
    resumed run is bit-identical to an uninterrupted one (rung.runs.Logger). `workers` Ray actors
    step the envs of REINFORCE, A2C and PPO (rung.distributed), on the Ray cluster at `address` or a
    local instance. `eval_every` env steps, the agent is evaluated greedily over `eval_every_episodes`
    episodes (metrics `eval_return`, `eval_length`; the best agent kept in RUN_DIR/best/), and training
    stops once that mean return reaches `stop_at`; "auto" (the default) evaluates at EVAL_POINTS evenly
    spaced points when there is a run directory to keep best/ in, and not otherwise; 0 or None: never.
    A final evaluation far below the best one during training is reported as a late collapse
    (agent.during_training, also in eval.json; rung.diagnostics.late_collapse). `callbacks`: objects
    with any of on_log(step, metrics, agent), on_eval(step, result, agent), on_checkpoint(step,
    run_dir); one returning False stops training as `stop_at` does (rung.runs.Callbacks). `video_every`
    env steps, one greedy episode is recorded into RUN_DIR/videos/ (rung.video; needs a run_dir).
    `device`: auto (the default: CUDA for image observations when torch sees a GPU, else the CPU;
    rung.devices), cpu, cuda or cuda:N; config.json records the device chosen."""
    env_id = env_id_of(env)
    if eval_every == "auto" and run_dir is None:
        eval_every = None
    if workers is not None and is_python_object_id(env_id):
        raise RungError("Ray workers make the env in other processes: give it as a registered id or "
                        "'module:Class' / 'file.py:Class' to use --workers")
    settings = resolve(algo, env_id, steps, seed, preset, config, env_kwargs, eval_episodes, threads,
                       checkpoint_every, checkpoint_minutes, exact_resume, workers, address, eval_every,
                       eval_every_episodes, stop_at, wrappers, device)
    module = get_algo(algo)
    with make_env(env_id, settings.env_kwargs, wrappers=settings.wrappers) as probe:  # for the space checks and the threads
        reason = module.supports(probe)
        if settings.threads is None:   # recorded in config.json, so that a resumed run keeps it
            settings.threads = default_threads(probe.observation_space)
        settings.device = str(devices.for_learner(settings.device, probe.observation_space) if module.ON_DEVICE
                              else devices.CPU)
        if not reason:
            decide_defaults(settings, module, probe)
    if reason:
        others = [a for a in algos_supporting(probe) if a != algo]
        can = f"; algorithms that can: {', '.join(others)}" if others else "; no rung algorithm handles it yet"
        raise RungError(f"{algo} cannot train on {env_id}: {reason}{can}")
    directory = None
    if run_dir is not None:
        directory = create_run_dir(default_run_dir(algo, env_id, seed) if run_dir is True else run_dir)
        write_json(directory / CONFIG_FILE, run_record(settings))
    if video_every:
        from rung.video import VideoEvery

        if directory is None:
            raise RungError("--video-every writes into the run directory: give run_dir")
        callbacks = [*(callbacks or []), VideoEvery(video_every, directory / "videos", settings.env_id,
                                                    settings.env_kwargs, settings.wrappers)]
    return run(settings, directory, progress, callbacks=callbacks)


def resume(run_dir: str | Path, progress: bool = False, env=None, callbacks: list | None = None,
           device: str | None = None):
    """Continue an interrupted run from its checkpoint to its planned end, then evaluate it, as `train`
    would have. The result is bit-identical to the run continuing in its own process after saving
    that checkpoint (rung.checkpoint), on the same device. `env`: the env again, for a run trained on
    one given as a Python object (rung.envs.env_id_of). `device`: continue on another device than the
    run's (a checkpoint loads on any; the numbers then differ in the last bits)."""
    directory = Path(run_dir)
    if not (directory / CONFIG_FILE).is_file():
        raise RungError(f"{directory} is not a run directory ({CONFIG_FILE} is missing)")
    if (directory / EVAL_FILE).is_file():
        raise RungError(f"{directory} is a finished run: nothing to resume")
    try:
        record = json.loads((directory / CONFIG_FILE).read_text())
        module = get_algo(record["algo"])
        settings = RunSettings(**{**{k: record[k] for k in RunSettings.__dataclass_fields__
                                     if k != "config" and k in record},   # runs from before a field existed
                                  "config": cfg.build(module.Config, record["config"])})
        if env is not None:
            settings.env_id = env_id_of(env)
        if device is not None:
            settings.device = str(devices.resolve(device))
    except RungError:
        raise
    except Exception as exc:
        raise RungError(f"{directory / CONFIG_FILE} is not a readable run config ({type(exc).__name__}: {exc})") from None
    return run(settings, directory, progress, resume=True, callbacks=callbacks)


def run(settings: RunSettings, directory: Path | None, progress: bool, resume: bool = False,
        logger: Logger | None = None, callbacks: list | None = None):
    """Train (from scratch or from the run's checkpoint), evaluate, and write the results. A `logger`
    of the caller's (no run directory) sees every log point and the learner's state there: rung.lab
    records Q-tables and policies through it."""
    module = get_algo(settings.algo)
    if settings.threads is not None:
        import torch

        torch.set_num_threads(settings.threads)
    periodic = None
    if settings.eval_every is not None:   # its own seeds, apart from training's and the final evaluation's
        periodic = PeriodicEval(settings.eval_every, settings.eval_every_episodes, settings.seed + 200_000,
                                settings.env_id, settings.env_kwargs, settings.wrappers, settings.stop_at)
    if directory is not None:
        header = {"algo": settings.algo, "env_id": settings.env_id, "seed": settings.seed, "steps": settings.steps,
                  "env_kwargs": settings.env_kwargs, "wrappers": settings.wrappers, "config": dataclasses.asdict(settings.config),
                  "versions": versions()}
        logger = RunLogger(directory, settings.steps, progress=progress, checkpoint_every=settings.checkpoint_every,
                           checkpoint_minutes=settings.checkpoint_minutes, exact_resume=settings.exact_resume,
                           header=header, resume=resume, periodic=periodic, callbacks=callbacks)
    elif logger is None:
        logger = Logger(settings.steps, checkpoint_every=settings.checkpoint_every, exact_resume=settings.exact_resume,
                        periodic=periodic, callbacks=callbacks)
    envs = EnvMaker(settings.env_id, settings.env_kwargs, settings.workers, settings.address, settings.wrappers)
    try:
        # overflow / invalid-value warnings would say less than the guards' own message (require_finite)
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                on_device = {"device": devices.resolve(settings.device, prefers_gpu=False)} if module.ON_DEVICE else {}
                agent = module.train(envs, settings.config, settings.steps, settings.seed, logger, **on_device)
            except TargetReached:   # the agent the algorithm handed to the logger, as trained so far
                agent = logger.agent
        logger.finish()
    finally:
        envs.close()
        logger.close()
    agent.env_id, agent.env_kwargs, agent.wrappers = settings.env_id, settings.env_kwargs, settings.wrappers
    agent.metrics = logger.rows
    agent.eval = evaluate(agent, episodes=settings.eval_episodes, seed=settings.seed + 100_000)
    agent.during_training = collapse_record(logger.rows, agent.eval["mean_return"])
    agent.run_dir = directory
    if directory is not None:
        agent.save(directory)
        during = {"during_training": agent.during_training} if agent.during_training else {}
        write_json(directory / EVAL_FILE, {**agent.eval, **during})   # last: its presence marks a finished run
    return agent


def collapse_record(rows: list[dict], final_return: float) -> dict:
    """For eval.json: the best evaluation during training, where it was, and whether the final agent
    fell far below it (rung.diagnostics.late_collapse); {} without evaluations during training."""
    from rung.diagnostics import late_collapse

    evals = [row for row in rows if "eval_return" in row]
    if not evals:
        return {}
    best = max(evals, key=lambda row: row["eval_return"])
    return {"best_eval_return": best["eval_return"], "best_eval_step": int(best["step"]),
            "late_collapse": late_collapse(best["eval_return"], final_return)}


def decide_defaults(settings: RunSettings, module, env) -> None:
    """Config fields left at None for rung to decide get their values from a probe of the env
    (normalisation) or from the budget (the algorithm's `decide_from_budget`, e.g. DQN's target
    update interval); settings.decided keeps each value and why, for config.json."""
    from rung.diagnostics import decide_normalisation

    decided = {}
    undecided = [name for name in ("normalize_obs", "normalize_reward")
                 if hasattr(settings.config, name) and getattr(settings.config, name) is None]
    if undecided:
        decisions = decide_normalisation(Guarded(env, settings.env_id), settings.seed)
        decided.update({name: decisions[name] for name in undecided})
    if hasattr(module, "decide_from_budget"):
        decided.update(module.decide_from_budget(settings.config, settings.steps))
    if decided:
        settings.decided = decided
        settings.config = dataclasses.replace(settings.config, **{name: d["value"] for name, d in decided.items()})


def run_record(settings: RunSettings) -> dict:
    """What config.json holds: enough to rerun the run exactly."""
    record = dataclasses.asdict(settings)
    record["config"] = dataclasses.asdict(settings.config)
    record["versions"] = versions()
    return record


def load(run_dir: str | Path):
    """The trained agent saved in a run directory."""
    directory = check_run_dir(run_dir)
    try:
        meta = json.loads((directory / AGENT_FILE).read_text())
        agent = AGENT_KINDS[meta["kind"]].load(directory)
    except Exception as exc:  # anything unreadable in a user-given directory is bad input, not a bug
        raise RungError(f"{directory} does not hold a readable rung agent ({type(exc).__name__}: {exc})") from None
    agent.run_dir = directory
    return agent
