"""Evaluation during training (`eval_every`, `stop_at`): it changes nothing in training, it lands on
the right steps, best/ holds the agent of the best evaluation, and reaching the target stops the run."""

import json

import pytest

import rung

NOT_TRAINING = {"time", "SPS", "eval_return", "eval_length"}


def training_metrics(agent):
    return [{k: v for k, v in row.items() if k not in NOT_TRAINING} for row in agent.metrics]


@pytest.mark.parametrize("algo, env_id, steps, config", [
    ("qlearning", "FrozenLake-v1", 20_000, {}),
    ("sarsa", "CliffWalking-v1", 20_000, {}),
    ("dqn", "CartPole-v1", 2000, {"learning_starts": 200, "train_freq": 4, "gradient_steps": 1, "batch_size": 16}),
    ("reinforce", "CartPole-v1", 4000, {"baseline": True}),
    ("a2c", "Pendulum-v1", 2000, {"normalize_obs": True, "normalize_reward": True}),
    ("ppo", "CartPole-v1", 4096, {"n_envs": 4, "n_steps": 128, "normalize_obs": True}),
    *[(algo, "Pendulum-v1", 800, {"learning_starts": 200, "batch_size": 32, "net_arch": (32, 32)})
      for algo in ("ddpg", "td3", "sac")],
])
def test_evaluating_during_training_changes_nothing_in_training(algo, env_id, steps, config):
    plain = rung.train(algo, env_id, steps=steps, seed=5, config=config, eval_episodes=3)
    watched = rung.train(algo, env_id, steps=steps, seed=5, config=config, eval_episodes=3, eval_every=steps // 4,
                         eval_every_episodes=3)
    assert training_metrics(watched) == training_metrics(plain)
    assert watched.eval == plain.eval
    evals = [row for row in watched.metrics if "eval_return" in row]
    assert len(evals) >= 3 and all("eval_length" in row for row in evals)


def test_evaluations_land_at_the_first_log_point_past_each_multiple():
    agent = rung.train("qlearning", "FrozenLake-v1", steps=10_000, seed=0, eval_episodes=5, eval_every=2500)
    logged = [row["step"] for row in agent.metrics]   # every 100 steps
    assert [row["step"] for row in agent.metrics if "eval_return" in row] == [2500, 5000, 7500, 10_000]
    assert logged[:3] == [100, 200, 300]


def test_best_holds_the_agent_of_the_best_evaluation(tmp_path):
    agent = rung.train("ppo", "CartPole-v1", steps=20_480, seed=1, eval_every=2048, eval_every_episodes=5,
                       run_dir=tmp_path / "run", eval_episodes=5,
                       config={"n_envs": 8, "n_steps": 128, "lr": 2.5e-3, "batch_size": 256, "n_epochs": 4})
    evals = [row for row in agent.metrics if "eval_return" in row]
    best = max(evals, key=lambda row: row["eval_return"])
    assert len({row["eval_return"] for row in evals}) > 1   # the evaluations differ: "best" picks one
    # the saved agent gives the best evaluation's number again, with that evaluation's episodes and seed
    again = rung.evaluate(rung.load(tmp_path / "run/best"), episodes=5, seed=1 + 200_000)
    assert again["mean_return"] == best["eval_return"]
    assert not (tmp_path / "run/best.tmp").exists()
    provenance = json.loads((tmp_path / "run/best/best.json").read_text())
    assert provenance == {k: best[k] for k in ("step", "eval_return", "eval_length")}


def test_reaching_the_target_stops_training(cli, tmp_path):
    proc = cli("train", "qlearning", "FrozenLake-v1", "--env-kwargs", "is_slippery=False", "--steps", "200000",
               "--eval-every", "2000", "--stop-at", "1", "--run-dir", tmp_path / "run", "--quiet")
    assert proc.returncode == 0, proc.stderr
    rows = (tmp_path / "run/metrics.csv").read_text().splitlines()
    last_step = int(rows[-1].split(",")[0])
    assert last_step < 200_000 and last_step % 2000 == 0
    assert "stopped early: eval return 1.000 ≥ --stop-at 1" in proc.stdout
    assert "training stops" in (tmp_path / "run/log.txt").read_text()
    assert (tmp_path / "run/eval.json").is_file() and (tmp_path / "run/best/agent.json").is_file()


def test_bad_periodic_settings_are_one_line_errors(cli, tmp_path):
    for args, message in ((("--stop-at", "1", "--eval-every", "0"), "give --eval-every STEPS too"),
                          (("--eval-every", "-5"), "eval_every must be a positive integer"),
                          (("--eval-every", "100", "--eval-every-episodes", "0"), "eval_every_episodes must be")):
        proc = cli("train", "qlearning", "FrozenLake-v1", "--steps", "1000", *args, "--run-dir", tmp_path / "r")
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert not (tmp_path / "r").exists()


def test_resume_refuses_new_evaluation_settings(cli, tmp_path):
    assert cli("train", "qlearning", "FrozenLake-v1", "--steps", "2000", "--eval-every", "1000", "--run-dir",
               tmp_path / "run", "--quiet").returncode == 0
    (tmp_path / "run/eval.json").unlink()   # as if it had been interrupted
    for args in (("--eval-every", "500"), ("--eval-every-episodes", "3"), ("--stop-at", "1")):
        proc = cli("train", "--resume", tmp_path / "run", *args)
        assert proc.returncode == 2 and "--resume continues a run with its own settings; drop" in proc.stderr
