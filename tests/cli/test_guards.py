"""An env or a learner going wrong mid-run: a one-line error naming what and when, exit code 2, and
the run's last checkpoint still loadable (and resumable once the cause is fixed)."""

import json
import textwrap

import pytest

from rung.checkpoint import load

ENVS = textwrap.dedent('''
    import numpy as np
    import gymnasium as gym
    from gymnasium import spaces

    class Base(gym.Env):
        observation_space = spaces.Box(-10, 10, (3,), np.float32)
        action_space = spaces.Discrete(2)
        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return np.zeros(3, np.float32), {}
        def step(self, action):
            self.t += 1
            self.total = getattr(self, "total", 0) + 1
            return self.obs(), self.reward(), False, self.t >= 20, {}
        def obs(self):
            return self.np_random.normal(size=3).astype(np.float32)
        def reward(self):
            return float(self.np_random.normal())

    class NaNLater(Base):
        def obs(self):
            return np.full(3, np.nan, np.float32) if self.total > 1500 else super().obs()

    class RaisesLater(Base):
        def step(self, action):
            if getattr(self, "total", 0) >= 1500:
                raise RuntimeError("simulator exploded")
            return super().step(action)

    class WrongShapeLater(Base):
        def obs(self):
            return np.zeros(5, np.float32) if self.total > 1500 else super().obs()

    class HugeReward(Base):
        def reward(self):
            return 3e38 if self.total > 1500 else 1.0

    class HugeRewardBox(HugeReward):
        action_space = spaces.Box(-1, 1, (2,), np.float32)

    class Unscaled(Base):
        observation_space = spaces.Box(-np.inf, np.inf, (3,), np.float32)
        def obs(self):
            return (500 + 100 * self.np_random.normal(size=3)).astype(np.float32)
        def reward(self):
            return 1000.0
''')


@pytest.fixture
def envs_file(tmp_path):
    path = tmp_path / "envs.py"
    path.write_text(ENVS)
    return path


@pytest.mark.parametrize("algo, name, words", [
    ("ppo", "NaNLater", ["non-finite observation", "NaNLater", "env step"]),
    ("dqn", "NaNLater", ["non-finite observation", "NaNLater"]),
    ("ppo", "RaisesLater", ["raised RuntimeError at env step", "simulator exploded"]),
    ("a2c", "WrongShapeLater", ["WrongShapeLater", "raised ValueError at env step"]),
    ("ppo", "HugeReward", ["non-finite loss at env step", "training diverged"]),
    ("sac", "HugeRewardBox", ["non-finite loss at env step", "training diverged"]),
    ("td3", "HugeRewardBox", ["non-finite loss at env step", "training diverged"]),
])
def test_a_failing_env_or_learner_stops_with_a_message_and_keeps_the_checkpoint(cli, tmp_path, envs_file, algo,
                                                                                  name, words):
    run_dir = tmp_path / "run"
    config = ["n_envs=1", "n_steps=128"] if algo in ("ppo", "a2c") else ["n_envs=1", "learning_starts=100"]
    if algo == "a2c":
        config = ["n_envs=1"]
    if algo in ("sac", "td3"):
        config += ["batch_size=32", "net_arch=32"]   # small networks: the failure, not the speed, is tested
    proc = cli("train", algo, f"{envs_file}:{name}", "--steps", "4000", "--checkpoint-every", "500",
               "--set", *config, "--run-dir", run_dir, "--quiet", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("rung: warning")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    arrays, meta = load(run_dir / "checkpoint.safetensors")
    assert 0 < meta["step"] < 1700  # a boundary before the failure (≈ 1,500 env steps plus resets)


def test_badly_scaled_observations_and_rewards_turn_normalisation_on_unless_it_is_set_off(cli, tmp_path, envs_file):
    """Left to rung, normalisation is decided from random steps and config.json says what and why; set
    off by the user, the first rollout's scale check warns instead."""
    proc = cli("train", "ppo", f"{envs_file}:Unscaled", "--steps", "512", "--set", "n_envs=2", "n_steps=128",
               "--run-dir", tmp_path / "run", "--quiet", "--eval-episodes", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "badly scaled" not in proc.stderr and "rewards reach" not in proc.stderr
    record = json.loads((tmp_path / "run/config.json").read_text())
    assert record["config"]["normalize_obs"] is True and record["config"]["normalize_reward"] is True
    assert record["decided"]["normalize_obs"]["why"].startswith("observations badly scaled in 1000 random steps")
    assert "|r| = 1e+03 > 100" in record["decided"]["normalize_reward"]["why"]
    off = cli("train", "ppo", f"{envs_file}:Unscaled", "--steps", "512", "--set", "n_envs=2", "n_steps=128",
              "normalize_obs=false", "normalize_reward=false", "--run-dir", tmp_path / "run2", "--quiet",
              "--eval-episodes", "1", cwd=tmp_path)
    assert "rung: warning: observations are badly scaled" in off.stderr and "normalize_obs=true" in off.stderr
    assert "rung: warning: rewards reach |r| = 1e+03" in off.stderr and "normalize_reward=true" in off.stderr
    assert json.loads((tmp_path / "run2/config.json").read_text())["decided"] == {}