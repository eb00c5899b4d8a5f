"""`rung sweep`: hyper-parameters × seeds on Ray Tune (`pip install 'rung[ray]'`), a local Ray instance
by default or a cluster with `address`. Every trial is an ordinary run directory under DIR/trials/;
the sweep writes DIR/trials.csv (one row per trial), DIR/table.md and DIR/sweep.png (per configuration:
IQM of the eval return over seeds with a 95 % bootstrap interval, rliable), DIR/best_preset.yaml (the
best configuration as a preset file: `rung train ALGO ENV --preset DIR/best_preset.yaml --seed S`
reproduces its trial) and DIR/summary.json. A trial that fails is reported with its error; the
others carry on.

The values to try come as flags (`--grid lr=1e-3,3e-4`) or a YAML file (`--grid-file`) mapping each
config key to its list of values; flags override the file's keys.

Search: `grid` (every combination × every seed), `random` (`samples` draws from the given values, each
× every seed) or `optuna` (`samples` suggestions of Optuna's TPE sampler through Ray Tune, each × every
seed, the sampler told their mean).
"""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np

from rung.envs import absolute_env_id
from rung.errors import RungError
from rung.runs import create_run_dir, write_json

SEARCHES = ("grid", "random", "optuna")


def parse_grid(items: list[str]) -> dict[str, list]:
    """["lr=1e-3,3e-4", "n_epochs=4,10"] → {"lr": [0.001, 0.0003], "n_epochs": [4, 10]}."""
    from rung.config import parse_scalar

    grid = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise RungError(f"--grid expects KEY=V1,V2,..., got {item!r}")
        grid[key.strip()] = [parse_scalar(v) for v in values.split(",")]
    return grid


def read_grid_file(path: str | Path) -> dict[str, list]:
    """A YAML mapping of config keys to the values to try, e.g. `lr: [1e-3, 3e-4]` (a single value is a
    list of one)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RungError(f"cannot read the grid file {path}: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise RungError(f"the grid file {path} must map config keys to lists of values, e.g. `lr: [1e-3, 3e-4]`")
    return {str(key): list(values) if isinstance(values, list) else [values] for key, values in data.items()}


def trial_name(config: dict, keys: list[str]) -> str:
    return "-".join(f"{k}={config[k]}" for k in keys) or "defaults"


def trial_seed(config: dict) -> int:
    """The seed of a trial: a grid value, or with Optuna the index of the repeat (Ray's Repeater)."""
    from ray.tune.search.repeater import TRIAL_INDEX

    return config["seed"] if "seed" in config else config[TRIAL_INDEX]


def run_trial(config: dict) -> None:
    """One Ray Tune trial: an ordinary rung run in its own run directory, reporting its eval return."""
    from ray import tune

    import rung

    settings = config["_sweep"]
    overrides = {k: v for k, v in config.items() if not k.startswith("_") and k != "seed"}
    name = trial_name(overrides, sorted(overrides))
    # random and Optuna search may draw one configuration and seed twice: the trial id keeps the directories apart
    run_dir = Path(settings["dir"]) / "trials" / f"{name}-s{trial_seed(config)}-{tune.get_context().get_trial_id()}"
    agent = rung.train(settings["algo"], settings["env_id"], steps=settings["steps"], seed=trial_seed(config),
                       preset=settings["preset"], config=overrides, run_dir=run_dir,
                       eval_episodes=settings["eval_episodes"], threads=1, checkpoint_minutes=None,
                       wrappers=settings["wrappers"])
    tune.report({"eval": agent.eval["mean_return"], "run_dir": str(agent.run_dir)})


def search_space(tune, search: str, grid: dict[str, list], keys: list[str], seeds: int, samples: int):
    """(param_space, num_samples, search_alg) for Ray Tune. Each configuration runs with every seed
    0 … seeds − 1 (grid: every combination; random: `samples` draws, each held fixed over the seeds;
    optuna: `samples` suggestions of TPE, each repeated over the seeds, which gets their mean: the
    sampler models the configuration, never the seed)."""
    from ray.tune.search import BasicVariantGenerator, Repeater

    if search == "grid":
        return {**{k: tune.grid_search(grid[k]) for k in keys}, "seed": tune.grid_search(list(range(seeds)))}, 1, None
    space = {k: tune.choice(grid[k]) for k in keys}
    if search == "random":
        return ({**space, "seed": tune.grid_search(list(range(seeds)))}, samples,
                BasicVariantGenerator(constant_grid_search=True, random_state=0))
    from ray.tune.search.optuna import OptunaSearch

    return space, samples * seeds, Repeater(OptunaSearch(metric="eval", mode="max", seed=0), repeat=seeds)


def sweep(algo: str, env_id: str, grid: dict[str, list], seeds: int, steps: int | None, run_dir: str | Path,
          search: str = "grid", samples: int = 4, preset: str | None = None, address: str | None = None,
          eval_episodes: int = 100, say=print, wrappers: list[str] | None = None) -> dict:
    from rung.api import resolve
    from rung.distributed import import_ray, require_listener, start_ray

    if search not in SEARCHES:
        raise RungError(f"unknown search {search!r}; choose one of {', '.join(SEARCHES)}")
    if not grid:
        raise RungError("nothing to sweep: give --grid KEY=V1,V2 or --grid-file FILE.yaml")
    if seeds < 1:
        raise RungError(f"--seeds must be at least 1, got {seeds}")
    for values in itertools.product(*grid.values()):   # every configuration must be valid before Ray starts
        resolve(algo, env_id, steps, 0, preset, dict(zip(grid, values)), eval_episodes=eval_episodes, wrappers=wrappers)
    ray = import_ray()   # after the checks above: a mistake is reported without importing Ray
    from ray import tune

    if address is not None:
        require_listener(address)
    env_id = absolute_env_id(env_id)   # Ray runs each trial in its own directory
    directory = create_run_dir(run_dir).resolve()
    base = resolve(algo, env_id, steps, 0, preset, wrappers=wrappers)
    steps, wrappers = base.steps, base.wrappers
    settings = {"algo": algo, "env_id": env_id, "steps": steps, "preset": preset, "dir": str(directory),
                "eval_episodes": eval_episodes, "wrappers": wrappers}
    keys = sorted(grid)
    space, num_samples, search_alg = search_space(tune, search, grid, keys, seeds, samples)
    space["_sweep"] = settings

    started_ray = start_ray(address)
    try:
        tuner = tune.Tuner(tune.with_resources(run_trial, {"cpu": 1}), param_space=space,
                           tune_config=tune.TuneConfig(num_samples=num_samples, search_alg=search_alg, reuse_actors=True),
                           run_config=tune.RunConfig(storage_path=str(directory / "ray"), name="tune", verbose=0,
                                                     failure_config=tune.FailureConfig(fail_fast=False)))
        results = tuner.fit()
    finally:
        if started_ray:
            ray.shutdown()

    trials = []
    for result in results:
        config = {k: result.config[k] for k in keys}
        row = {**config, "seed": trial_seed(result.config), "eval": None, "run_dir": None, "error": None}
        if result.error is not None:
            row["error"] = str(result.error).strip().splitlines()[-1][:300]
            say(f"trial {trial_name(config, keys)} seed {row['seed']} failed: {row['error']}")
        else:
            row["eval"], row["run_dir"] = result.metrics["eval"], result.metrics["run_dir"]
        trials.append(row)
    return summarise(directory, algo, env_id, steps, keys, trials, preset, seeds, wrappers)


def summarise(directory: Path, algo: str, env_id: str, steps: int, keys: list[str], trials: list[dict],
              preset: str | None, seeds: int, wrappers: list[str] = ()) -> dict:
    from rung.lab.common import figure, iqm_ci, save_figure

    with open(directory / "trials.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, [*keys, "seed", "eval", "error", "run_dir"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(trials)
    by_config: dict[str, list[dict]] = {}
    for row in trials:
        by_config.setdefault(trial_name(row, keys), []).append(row)
    table = []
    for name, rows in by_config.items():
        scores = [r["eval"] for r in rows if r["eval"] is not None]
        stats = iqm_ci(scores) if scores else None
        table.append({"config": {k: rows[0][k] for k in keys}, "name": name, "trials": len(rows),
                      "failed": sum(r["error"] is not None for r in rows), "score": stats})
    finished = [t for t in table if t["score"] is not None]
    if not finished:
        raise RungError(f"every trial failed; errors are in {directory / 'trials.csv'}")
    best = max(finished, key=lambda t: (t["score"]["iqm"], -t["failed"]))
    best_trial = max((r for r in by_config[best["name"]] if r["eval"] is not None), key=lambda r: r["eval"])

    lines = ["| configuration | trials (failed) | eval IQM | 95 % CI |", "|---|---|---|---|"]
    for t in sorted(table, key=lambda t: -(t["score"] or {"iqm": -np.inf})["iqm"]):
        s = t["score"]
        lines.append(f"| {t['name']} | {t['trials']} ({t['failed']}) | "
                     + (f"{s['iqm']:.1f} | [{s['low']:.1f}, {s['high']:.1f}] |" if s else "– | – |"))
    (directory / "table.md").write_text("\n".join(lines) + "\n")

    fig, axes = figure(1, 1, width=max(5.0, 1.2 * len(finished)))
    names = [t["name"] for t in finished]
    mids = [t["score"]["iqm"] for t in finished]
    errors = [[m - t["score"]["low"] for m, t in zip(mids, finished)], [t["score"]["high"] - m for m, t in zip(mids, finished)]]
    axes[0].bar(range(len(names)), mids, yerr=errors, capsize=4, color=["C1" if t is best else "C0" for t in finished])
    axes[0].set_xticks(range(len(names)), names, rotation=20, fontsize=7)
    axes[0].set_title(f"{algo} on {env_id.rpartition('/')[2]}\neval return: IQM and 95 % CI over seeds", fontsize=9)
    axes[0].set_ylabel("eval return")
    save_figure(fig, directory, "sweep.png")

    import yaml

    from rung.api import resolve

    base = resolve(algo, env_id, steps, 0, preset)
    values = {"steps": steps, "threads": 1, **({"wrappers": list(wrappers)} if wrappers else {}),
              **{k: getattr(base.config, k) for k in base.config.__dataclass_fields__}, **best["config"]}
    preset_file = directory / "best_preset.yaml"
    preset_file.write_text(f"# rung sweep: best of {len(table)} configurations × {seeds} seeds, {algo} on {env_id}\n"
                           + yaml.safe_dump(json.loads(json.dumps(values)), sort_keys=False))
    summary = {"algo": algo, "env_id": env_id, "steps": steps, "best": best["config"], "score": best["score"],
               "best_trial": {"seed": best_trial["seed"], "eval": best_trial["eval"], "run_dir": best_trial["run_dir"]},
               "preset_file": str(preset_file), "configurations": table,
               "failed_trials": [r for r in trials if r["error"] is not None]}
    write_json(directory / "summary.json", summary)
    return summary
