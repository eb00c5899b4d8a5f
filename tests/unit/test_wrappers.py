"""`--wrapper` specs (issue 15, item 6): named wrappers and module:Class ones, applied in order to every
copy of the env and applied again by evaluation, resume and `rung eval`."""

import json

import gymnasium as gym
import numpy as np
import pytest

import rung
from rung import wrappers
from rung.cli import main
from rung.envs import make_env, make_vec_env
from rung.errors import RungError
from tests.unit.test_resume import crash_at_second_checkpoint, learning_rows


class Doubler(gym.RewardWrapper):
    """A module:Class wrapper with a keyword argument, for the tests."""

    def __init__(self, env, factor=2.0):
        super().__init__(env)
        self.factor = factor

    def reward(self, reward):
        return self.factor * reward


def test_mask_velocity_keeps_positions_and_angles_only():
    with make_env("CartPole-v1") as full, make_env("CartPole-v1", wrappers=["mask_velocity"]) as masked:
        obs, _ = full.reset(seed=1)
        masked_obs, _ = masked.reset(seed=1)
        assert masked.observation_space.shape == (2,)
        assert np.array_equal(masked_obs, obs[[0, 2]])   # cart position, pole angle


def test_wrappers_apply_in_order_with_their_arguments():
    spec = f"{__name__}:Doubler:factor=3"
    with make_env("CartPole-v1", wrappers=[spec, "clip_reward:2", "time_limit:5"]) as env:
        env.reset(seed=0)
        rewards, steps, done = [], 0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(0 if steps % 2 else 1)
            rewards.append(reward)
            steps += 1
            done = terminated or truncated
        assert rewards == [2.0] * steps and steps == 5   # 1 → ×3 → clipped to 2; cut at 5 steps
    with make_env("CartPole-v1", wrappers=["frame_stack:3"]) as env:
        assert env.observation_space.shape == (3, 4)


def test_a_vector_env_of_wrapped_envs_steps_single_envs():
    env = make_vec_env("CartPole-v1", 3, wrappers=["mask_velocity"])   # CartPole's native vector env has no single ones
    assert env.single_observation_space.shape == (2,) and env.reset(seed=0).shape == (3, 2)
    with pytest.raises(RungError, match="no native vectorised implementation of wrapped envs"):
        make_vec_env("CartPole-v1", 3, backend="native", wrappers=["mask_velocity"])


@pytest.mark.parametrize("spec, message", [
    ("frame_stack", "write it as frame_stack:N"), ("frame_stack:x", "with a number"), ("time_limit:0", "positive"),
    ("mask_velocity:3", "write it as mask_velocity"), ("nonsense", "unknown wrapper"),
    ("no_such_module:Wrap", "cannot import module"), (f"{__name__}:Missing", "has no class"),
    (f"{__name__}:test_mask_velocity_keeps_positions_and_angles_only", "not a gymnasium.Wrapper subclass"),
    (f"{__name__}:Doubler:factor", "KEY=VALUE")])
def test_a_bad_spec_is_a_one_line_error_before_any_run_directory(tmp_path, spec, message):
    with pytest.raises(RungError, match=message):
        rung.train("ppo", "CartPole-v1", steps=1000, wrappers=[spec], run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_mask_velocity_names_the_envs_it_knows():
    with pytest.raises(RungError, match="knows the velocities of CartPole"):
        make_env("FrozenLake-v1", wrappers=["mask_velocity"])


def test_eval_and_resume_of_a_wrapped_run_wrap_the_env_again(tmp_path, monkeypatch, capsys):
    """The policy of a mask_velocity run takes 2 numbers: evaluating or resuming it on the bare
    4-number CartPole would fail, so these pass only if the wrappers are applied again."""
    kwargs = dict(steps=4096, seed=0, config={"n_envs": 4, "n_steps": 128}, checkpoint_every=1024,
                  eval_episodes=3, exact_resume=True, wrappers=["mask_velocity", "time_limit:50"])
    straight = rung.train("ppo", "CartPole-v1", run_dir=tmp_path / "straight", **kwargs)
    assert json.loads((tmp_path / "straight/config.json").read_text())["wrappers"] == ["mask_velocity", "time_limit:50"]
    assert straight.eval["max_return"] <= 50
    crash_at_second_checkpoint("ppo", "CartPole-v1", tmp_path / "resumed", kwargs, monkeypatch)
    rung.resume(tmp_path / "resumed")
    assert learning_rows(tmp_path / "resumed") == learning_rows(tmp_path / "straight")

    loaded = rung.load(tmp_path / "straight")
    assert loaded.wrappers == ["mask_velocity", "time_limit:50"]
    assert rung.evaluate(loaded, episodes=3, seed=100_000) == straight.eval   # the final evaluation's seed
    assert main(["eval", str(tmp_path / "straight"), "--episodes", "3", "--seed", "100000", "--json"]) in (0, None)
    assert json.loads(capsys.readouterr().out)["mean_return"] == straight.eval["mean_return"]


def test_a_preset_may_name_wrappers_and_the_argument_replaces_them(monkeypatch):
    import rung.api

    monkeypatch.setattr(rung.api, "get_preset", lambda *a: {"wrappers": ["clip_reward"], "n_envs": 2})
    assert rung.api.resolve("ppo", "CartPole-v1").wrappers == ["clip_reward"]
    assert rung.api.resolve("ppo", "CartPole-v1", wrappers=["time_limit:9"]).wrappers == ["time_limit:9"]


def test_check_accepts_one_spec_or_a_list():
    assert wrappers.check("clip_reward") == ["clip_reward"]
    with pytest.raises(RungError, match="spec string"):
        wrappers.check([3])
