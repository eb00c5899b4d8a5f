"""The resume contract (rung.checkpoint): a run continued from the checkpoint saved at env step k is
bit-identical — every learning metric and every weight — to the same run continuing in its own process
after saving at k with its episodes restarted there. With `exact_resume` every checkpoint restarts
episodes, so the uninterrupted run is that run. Here run B dies right after writing its second
checkpoint and is resumed."""

import csv
import json

import numpy as np
import pytest
from safetensors.numpy import load_file

import rung
from rung import runs

WALL_CLOCK = {"time", "SPS"}


class Crash(Exception):
    pass


def learning_rows(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: float(v) for k, v in row.items() if v and k not in WALL_CLOCK} for row in csv.DictReader(f)]


def crash_at_second_checkpoint(algo, env_id, run_dir, kwargs, monkeypatch):
    """Run B: dies right after writing the checkpoint at 2 × checkpoint_every."""
    save = runs.RunLogger.save

    def save_then_die(self, step, state):
        save(self, step, state)
        if step >= 2 * kwargs["checkpoint_every"]:
            raise Crash
    monkeypatch.setattr(runs.RunLogger, "save", save_then_die)
    with pytest.raises(Crash):
        rung.train(algo, env_id, run_dir=run_dir, **kwargs)
    monkeypatch.undo()


@pytest.mark.parametrize("algo, env_id, steps, config", [
    ("dqn", "CartPole-v1", 6000, {"learning_starts": 500, "train_freq": 4, "gradient_steps": 2, "n_envs": 2,
                                  "target_update_interval": 200, "n_step": 3, "batch_size": 32,
                                  "normalize_obs": True, "normalize_reward": True}),
    ("ppo", "CartPole-v1", 8192, {"n_envs": 4, "n_steps": 128, "normalize_obs": True, "normalize_reward": True}),
    ("ppo", "Pendulum-v1", 8192, {"n_envs": 2, "n_steps": 256, "normalize_obs": True}),
    ("a2c", "CartPole-v1", 8000, {"normalize_reward": True}),
    ("reinforce", "CartPole-v1", 12000, {"baseline": True, "shared_body": False, "normalize_obs": True}),
    ("qlearning", "FrozenLake-v1", 20000, {}),
    ("sarsa", "CliffWalking-v1", 20000, {}),
])
def test_resume_is_bit_exact(algo, env_id, steps, config, tmp_path, monkeypatch):
    every = steps // 4
    kwargs = dict(steps=steps, seed=3, config=config, checkpoint_every=every, eval_episodes=2, exact_resume=True)
    straight = rung.train(algo, env_id, run_dir=tmp_path / "straight", **kwargs)
    crash_at_second_checkpoint(algo, env_id, tmp_path / "resumed", kwargs, monkeypatch)
    resumed = rung.resume(tmp_path / "resumed")

    assert_bit_exact(tmp_path, straight, resumed)


def assert_bit_exact(tmp_path, straight, resumed):
    """tmp_path/resumed ran as tmp_path/straight did: every logged learning metric, every saved weight
    and the final evaluation are identical."""
    assert learning_rows(tmp_path / "resumed") == learning_rows(tmp_path / "straight")
    a, b = load_file(str(tmp_path / "straight/agent.safetensors")), load_file(str(tmp_path / "resumed/agent.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert resumed.eval == straight.eval


def test_resuming_a_finished_run_or_a_non_run_is_refused(tmp_path):
    rung.train("qlearning", "FrozenLake-v1", steps=2000, run_dir=tmp_path / "done", eval_episodes=2)
    with pytest.raises(rung.RungError, match="finished run"):
        rung.resume(tmp_path / "done")
    with pytest.raises(rung.RungError, match="not a run directory"):
        rung.resume(tmp_path)


def test_checkpoints_do_not_disturb_a_run_by_default(tmp_path):
    """Saving is invisible: the same seed gives the same numbers with checkpoints written every 1,024
    steps as in memory with none (only `exact_resume` restarts episodes at checkpoints)."""
    config = {"n_envs": 4, "n_steps": 64}
    rung.train("ppo", "CartPole-v1", steps=8192, seed=1, config=config, run_dir=tmp_path / "run",
               checkpoint_every=1024, eval_episodes=2, eval_every=0)
    in_memory = rung.train("ppo", "CartPole-v1", steps=8192, seed=1, config=config, eval_episodes=2)
    strip = [{k: v for k, v in row.items() if k not in WALL_CLOCK} for row in in_memory.metrics]
    assert learning_rows(tmp_path / "run") == strip
    exact = rung.train("ppo", "CartPole-v1", steps=8192, seed=1, config=config, checkpoint_every=1024,
                       exact_resume=True, eval_episodes=2)
    assert [{k: v for k, v in row.items() if k not in WALL_CLOCK} for row in exact.metrics] != strip


@pytest.mark.parametrize("algo, env_id, steps, config", [
    ("qlearning", "FrozenLake-v1", 20000, {}),
    ("ppo", "CartPole-v1", 16384, {"n_envs": 4, "n_steps": 128, "lr": 3e-3}),
])
def test_resume_keeps_the_evaluations_during_training_and_the_best_agent(algo, env_id, steps, config, tmp_path,
                                                                         monkeypatch):
    every = steps // 4
    kwargs = dict(steps=steps, seed=2, config=config, checkpoint_every=every, eval_episodes=2, exact_resume=True,
                  eval_every=steps // 16, eval_every_episodes=10)
    rung.train(algo, env_id, run_dir=tmp_path / "straight", **kwargs)
    crash_at_second_checkpoint(algo, env_id, tmp_path / "resumed", kwargs, monkeypatch)
    rung.resume(tmp_path / "resumed")

    rows = learning_rows(tmp_path / "straight")
    assert learning_rows(tmp_path / "resumed") == rows and sum("eval_return" in row for row in rows) >= 15
    # the best evaluation came before the crash, so the resumed run must not replace its agent by a worse one
    best_step = max((row for row in rows if "eval_return" in row), key=lambda row: row["eval_return"])["step"]
    assert best_step <= 2 * every
    a, b = (load_file(str(tmp_path / run / "best/agent.safetensors")) for run in ("straight", "resumed"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)



def test_a_best_agent_saved_after_the_checkpoint_stays_unless_beaten(tmp_path, monkeypatch):
    # as if the crashed run had saved a better best/ after its last checkpoint: the resumed run, whose
    # evaluations beat every one logged up to the checkpoint but not that one, must leave it in place
    kwargs = dict(steps=16384, seed=2, config={"n_envs": 4, "n_steps": 128, "lr": 3e-3}, checkpoint_every=2048,
                  eval_episodes=2, exact_resume=True, eval_every=1024, eval_every_episodes=10)
    crash_at_second_checkpoint("ppo", "CartPole-v1", tmp_path / "run", kwargs, monkeypatch)
    record = tmp_path / "run/best/best.json"
    later = {"step": 9000, "eval_return": 1e6, "eval_length": 500.0}
    record.write_text(json.dumps(later))
    rung.resume(tmp_path / "run")
    rows = [row for row in learning_rows(tmp_path / "run") if "eval_return" in row]
    assert max(r["eval_return"] for r in rows if r["step"] > 4096) > max(r["eval_return"] for r in rows if r["step"] <= 4096)
    assert json.loads(record.read_text()) == later
