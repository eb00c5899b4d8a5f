"""rung.train takes an env as a Python object: a gymnasium.Env subclass or a function returning an env
(issue 15, item 5); a run made so is evaluated in another process by passing the env again."""

import json

import gymnasium as gym
import pytest

import rung
from rung.errors import RungError
from tests.cli.fixtures.gridworld import Chain, NotAnEnv


def forget(env_id):
    """What a new process sees: the id registered by the training process is not there."""
    del gym.registry[env_id]


def test_train_from_an_env_class_and_from_a_function(tmp_path):
    agent = rung.train("qlearning", Chain, steps=5000, seed=0, eval_episodes=5, run_dir=tmp_path / "class")
    assert agent.eval["mean_length"] == 5 and agent.eval["mean_return"] == 1.0   # straight along the 6-chain
    env_id = json.loads((tmp_path / "class/config.json").read_text())["env_id"]
    assert env_id.startswith("python/Chain-v")
    short = rung.train("qlearning", lambda: Chain(length=4), steps=5000, seed=0, eval_episodes=5)
    assert short.eval["mean_length"] == 3   # the function's own chain, not the class's default one
    forget(env_id)
    loaded = rung.load(tmp_path / "class")
    with pytest.raises(RungError, match="pass the env again"):
        rung.evaluate(loaded, episodes=5)
    assert rung.evaluate(loaded, episodes=5, env=Chain)["mean_length"] == 5


@pytest.mark.parametrize("env, message", [(Chain(), "env instance"), (NotAnEnv, "gymnasium.Env subclass"),
                                          (42, "got int")])
def test_anything_else_is_a_one_line_error(env, message):
    with pytest.raises(RungError, match=message):
        rung.train("qlearning", env, steps=1000)


def test_ray_workers_need_an_env_other_processes_can_make():
    with pytest.raises(RungError, match="other processes"):
        rung.train("ppo", Chain, steps=1000, workers=1)


def test_a_run_from_an_env_class_resumes_in_a_new_process_given_the_env_again(tmp_path, monkeypatch):
    from tests.unit.test_resume import crash_at_second_checkpoint, learning_rows

    kwargs = dict(steps=4000, seed=0, checkpoint_every=1000, eval_episodes=5, exact_resume=True)
    straight = rung.train("qlearning", Chain, run_dir=tmp_path / "straight", **kwargs)
    crash_at_second_checkpoint("qlearning", Chain, tmp_path / "resumed", kwargs, monkeypatch)
    forget(json.loads((tmp_path / "resumed/config.json").read_text())["env_id"])
    with pytest.raises(RungError, match="pass the env again"):
        rung.resume(tmp_path / "resumed")
    resumed = rung.resume(tmp_path / "resumed", env=Chain)
    assert learning_rows(tmp_path / "resumed") == learning_rows(tmp_path / "straight")
    assert resumed.eval == straight.eval
