"""The CLI as a user meets it: commands run as subprocesses, every documented error path."""

import json

import pytest

FIXTURE = "tests/cli/fixtures/gridworld.py"


def assert_one_line_error(proc, *words):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("args, words", [
    (["qlearning", "Taxi-v3"], ["Taxi-v3", "Taxi-v4"]),
    (["qlearning", "FrozenLak-v1"], ["FrozenLake-v1"]),
    (["value_iteration", "Blackjack-v1"], ["transition table", "qlearning", "sarsa"]),
    (["qlearning", "CartPole-v1"], ["Box", "not Discrete"]),
    (["qlearning", "FrozenLake-v1", "--set", "gamma=1.5"], ["gamma=1.5", "[0, 1]"]),
    (["qlearning", "FrozenLake-v1", "--set", "lr=0"], ["lr=0.0", "(0, 1]"]),
    (["qlearning", "FrozenLake-v1", "--set", "lr=-0.1"], ["lr=-0.1"]),
    (["qlearning", "FrozenLake-v1", "--set", "epsilon=1.2"], ["epsilon=1.2"]),
    (["qlearning", "FrozenLake-v1", "--set", "epsilon_final=-1"], ["epsilon_final=-1"]),
    (["qlearning", "FrozenLake-v1", "--steps", "0"], ["steps", "positive"]),
    (["qlearning", "FrozenLake-v1", "--steps", "-5"], ["steps", "positive"]),
    (["qlearning", "FrozenLake-v1", "--set", "alpha=0.1"], ["unknown config key 'alpha'", "lr"]),
    (["qlearning", "FrozenLake-v1", "--set", "gamma"], ["KEY=VALUE"]),
    (["qlearning", "FrozenLake-v1", "--preset", "nope"], ["no preset 'nope'", "default"]),
    (["qlearn", "FrozenLake-v1"], ["unknown algorithm", "qlearning"]),
    (["qlearning", "FrozenLake-v1", "--env-kwargs", "colour=red"], ["colour"]),
    (["qlearning", "no_such_module:Env"], ["no_such_module"]),
    (["qlearning", f"{FIXTURE}:Missing"], ["Missing"]),
    (["qlearning", f"{FIXTURE}:NotAnEnv"], ["gymnasium.Env"]),
    (["qlearning", "missing/file.py:Env"], ["does not exist"]),
])
def test_bad_train_input_is_one_line_exit_2_and_leaves_no_run_dir(cli_mistake, tmp_path, args, words):
    run_dir = tmp_path / "run"
    proc = cli_mistake("train", *args, "--run-dir", run_dir, "--quiet")
    assert_one_line_error(proc, *words)
    assert not run_dir.exists()


def test_eval_of_a_missing_or_unfinished_run_dir(cli_mistake, tmp_path):
    assert_one_line_error(cli_mistake("eval", tmp_path / "nope"), "does not exist")
    (tmp_path / "config.json").write_text("{}")
    assert_one_line_error(cli_mistake("eval", tmp_path), "holds no trained agent")
    (tmp_path / "agent.json").write_text("{not json")
    assert_one_line_error(cli_mistake("eval", tmp_path), "readable rung agent")


def test_usage_errors_are_one_line(cli):
    assert_one_line_error(cli("train", "qlearning"), "ENV_ID")
    assert_one_line_error(cli("eval", "x", "--episodes", "0"), "episodes")


def test_train_eval_plot_round_trip(cli, tmp_path):
    run_dir = tmp_path / "run"
    proc = cli("train", "qlearning", "FrozenLake-v1", "--env-kwargs", "is_slippery=False", "--steps", "5000",
               "--seed", "3", "--run-dir", run_dir, check=True)
    assert "mean return 1.000" in proc.stdout and str(run_dir) in proc.stdout
    assert "return" in proc.stderr  # the progress bar shows the recent mean return

    for name in ["config.json", "metrics.csv", "agent.json", "agent.safetensors", "eval.json"]:
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    record = json.loads((run_dir / "config.json").read_text())
    assert record["seed"] == 3 and record["steps"] == 5000 and record["env_kwargs"] == {"is_slippery": False}
    assert set(record["versions"]) >= {"rung", "gymnasium", "torch", "python"}
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"step", "episodic_return", "episodic_length", "td_error", "epsilon", "lr", "SPS"} <= set(header)

    proc = cli("eval", run_dir, "--episodes", "7", "--seed", "1", "--json", check=True)
    result = json.loads(proc.stdout)  # stdout is exactly one JSON object
    assert result["episodes"] == 7 and result["mean_return"] == 1.0 and result["std_return"] == 0.0
    assert result["mean_length"] == 6.0  # the shortest path on the 4x4 map

    out = tmp_path / "curve.png"
    cli("plot", run_dir, run_dir, "--out", out, check=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_refuses_to_overwrite_a_run_dir(cli, tmp_path):
    (tmp_path / "eval.json").write_text("{}")
    assert_one_line_error(cli("train", "qlearning", "FrozenLake-v1", "--run-dir", tmp_path), "not empty")


@pytest.mark.parametrize("env_id", [f"{FIXTURE}:Chain", "tests.cli.fixtures.gridworld:Chain"])
def test_custom_env_by_path_or_module(cli, tmp_path, env_id):
    proc = cli("train", "qlearning", env_id, "--steps", "3000", "--run-dir", tmp_path / "r", "--quiet",
               "--eval-episodes", "5", check=True)
    assert "mean return 1.000" in proc.stdout
    assert "mean length 5.0" in proc.stdout  # walked straight to the end of the chain


def test_list_names_algorithms_spaces_and_presets(cli):
    out = cli("list", check=True).stdout
    for word in ["qlearning", "sarsa", "value_iteration", "Tuple of Discrete", "FrozenLake8x8-v1", "default"]:
        assert word in out


def test_help_documents_every_config_field(cli):
    from dataclasses import fields

    from rung.algos import ALGOS

    out = cli("train", "--help", check=True).stdout
    for module in ALGOS.values():
        for f in fields(module.Config):
            assert f"{f.name} (" in out and f.metadata["help"][:30] in " ".join(out.split())


@pytest.mark.parametrize("args, words", [
    (["dqn", "Pendulum-v1"], ["dqn cannot train on Pendulum-v1", "not Discrete"]),
    (["dqn", "tests/cli/fixtures/space_envs.py:Words"], ["has a Text part", "Dict or Tuple",
                                                         "no rung algorithm handles it yet"]),
    (["dqn", "CartPole-v1", "--preset", "fast"], ["no preset 'fast'", "zoo"]),
    (["dqn", "CartPole-v1", "--steps", "500"], ["nothing would ever train", "learning_starts=1,000"]),
    (["dqn", "CartPole-v1", "--set", "gradient_steps=0"], ["gradient_steps=0"]),
    (["dqn", "CartPole-v1", "--set", "env_backend=gpu"], ["env_backend='gpu'", "sync"]),
    (["dqn", "CartPole-v1", "--set", "net_arch=a,b"], ["net_arch must be"]),
    (["ppo", "CartPole-v1", "--steps", "100"], ["smaller than one rollout", "1,024"]),
    (["ppo", "Blackjack-v1", "--set", "recurrent=maybe"], ["recurrent must be a bool"]),
    (["ppo", "tests/cli/fixtures/space_envs.py:Words"], ["has a Text part"]),
    (["ppo", "CartPole-v1", "--set", "activation=gelu"], ["activation='gelu'"]),
])
def test_bad_deep_rl_input(cli_mistake, tmp_path, args, words):
    run_dir = tmp_path / "run"
    assert_one_line_error(cli_mistake("train", *args, "--run-dir", run_dir, "--quiet"), *words)
    assert not run_dir.exists()


def test_warns_when_most_of_the_budget_is_random_play(cli, tmp_path):
    proc = cli("train", "dqn", "CartPole-v1", "--steps", "1500", "--set", "train_freq=4", "gradient_steps=1",
               "--run-dir", tmp_path / "r", "--quiet", "--eval-episodes", "1", check=True)
    assert "rung: warning: learning_starts=1,000 is more than half" in proc.stderr
