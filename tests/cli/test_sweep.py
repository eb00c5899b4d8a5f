"""`rung sweep` on a local Ray instance: a 2 × 2 sweep (two learning rates × two seeds) of PPO on
CartPole completes, writes its table and plot, and its exported preset reproduces the best trial."""

import csv
import json
from collections import Counter

import pytest


def rows_without_clock(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in ("time", "SPS")} for row in csv.DictReader(f)]


def test_grid_sweep_writes_its_table_and_a_preset_that_reproduces_the_best_trial(cli, tmp_path):
    proc = cli("sweep", "ppo", "CartPole-v1", "--grid", "lr=2.5e-3,1e-3", "--seeds", "2", "--steps", "10000",
               "--run-dir", tmp_path / "sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "sweep/summary.json").read_text())
    assert len(summary["configurations"]) == 2 and all(c["trials"] == 2 for c in summary["configurations"])
    assert summary["failed_trials"] == []
    table = (tmp_path / "sweep/table.md").read_text()
    assert "lr=0.001" in table and "lr=0.0025" in table
    assert (tmp_path / "sweep/sweep.png").read_bytes()[:4] == b"\x89PNG"
    trials = list(csv.DictReader(open(tmp_path / "sweep/trials.csv")))
    assert len(trials) == 4 and all(t["eval"] for t in trials)
    # the best configuration has the highest IQM of the two
    scores = {json.dumps(c["config"]): c["score"]["iqm"] for c in summary["configurations"]}
    assert summary["score"]["iqm"] == max(scores.values())

    best = summary["best_trial"]
    proc = cli("train", "ppo", "CartPole-v1", "--preset", summary["preset_file"], "--seed", best["seed"],
               "--run-dir", tmp_path / "again", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert rows_without_clock(tmp_path / "again/metrics.csv") == rows_without_clock(f"{best['run_dir']}/metrics.csv")
    assert json.loads((tmp_path / "again/eval.json").read_text())["mean_return"] == best["eval"]


@pytest.mark.parametrize("search", ["random", "optuna"])
def test_random_and_optuna_search_run_each_drawn_configuration_with_every_seed(cli, tmp_path, search):
    proc = cli("sweep", "qlearning", "FrozenLake-v1", "--grid", "lr=0.05,0.1,0.2,0.4", "gamma=0.9,0.99",
               "--search", search, "--samples", "2", "--seeds", "2", "--steps", "2000", "--eval-episodes", "20",
               "--run-dir", tmp_path / "sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = list(csv.DictReader(open(tmp_path / "sweep/trials.csv")))
    assert len(trials) == 4 and all(t["eval"] and not t["error"] for t in trials)
    # a configuration is scored over seeds, never searched per seed: each draw ran once with seed 0 and once
    # with seed 1 (a configuration drawn twice ran twice with each)
    seeds = {}
    for t in trials:
        seeds.setdefault((t["lr"], t["gamma"]), Counter())[t["seed"]] += 1
    assert all(count["0"] == count["1"] >= 1 and set(count) == {"0", "1"} for count in seeds.values()), seeds
    summary = json.loads((tmp_path / "sweep/summary.json").read_text())
    assert sum(c["trials"] for c in summary["configurations"]) == 4
    assert json.loads(open(f"{trials[0]['run_dir']}/eval.json").read())["episodes"] == 20


def test_bad_sweeps_are_one_line_errors_before_ray_starts(cli_mistake, tmp_path):
    (tmp_path / "bad.yaml").write_text("lr: [1e-3, -1]\n")
    (tmp_path / "list.yaml").write_text("- lr\n")
    for args, message in ((("--grid", "lr=-1"), "lr"), (("--grid", "nonsense"), "KEY=V1,V2"),
                          (("--grid-file", tmp_path / "bad.yaml"), "lr"), (("--grid-file", tmp_path / "list.yaml"),
                          "must map config keys"), ((), "nothing to sweep"),
                          (("--grid", "lr=1e-3", "--search", "bayes"), "unknown search"),
                          (("--grid", "lr=1e-3", "--eval-episodes", "0"), "eval episodes must be positive")):
        proc = cli_mistake("sweep", "ppo", "CartPole-v1", *args, "--run-dir", tmp_path / "s", cwd=tmp_path)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_failing_trials_are_reported_and_the_sweep_carries_on(cli, tmp_path):
    from pathlib import Path

    env = f"{Path(__file__).parent / 'fixtures/gridworld.py'}:CrashesWithSeedOne"
    (tmp_path / "grid.yaml").write_text("lr: [0.1, 0.5]\n")   # the grid as a file this time
    proc = cli("sweep", "qlearning", env, "--grid-file", tmp_path / "grid.yaml", "--seeds", "2", "--steps", "2000",
               "--run-dir", tmp_path / "sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "sweep/summary.json").read_text())
    failed = summary["failed_trials"]
    assert sorted((f["lr"], f["seed"]) for f in failed) == [(0.1, 1), (0.5, 1)]
    assert all("simulator crashed" in f["error"] for f in failed)
    assert all(c["trials"] == 2 and c["failed"] == 1 and c["score"]["n"] == 1 for c in summary["configurations"])
    assert proc.stdout.count(" failed: ") == 2


def test_sweep_of_an_off_policy_learner_scores_every_trial(cli, tmp_path):
    proc = cli("sweep", "sac", "Pendulum-v1", "--grid", "lr=1e-3,3e-4", "learning_starts=100", "batch_size=32",
               "--seeds", "1", "--steps", "400", "--eval-episodes", "2", "--run-dir", tmp_path / "sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = list(csv.DictReader(open(tmp_path / "sweep/trials.csv")))
    assert len(trials) == 2 and all(t["eval"] and not t["error"] for t in trials)
    assert {json.loads(open(f"{t['run_dir']}/config.json").read())["config"]["lr"] for t in trials} == {1e-3, 3e-4}
