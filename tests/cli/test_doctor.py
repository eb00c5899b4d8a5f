"""`rung doctor`: plain-words findings, exit 0 for a usable env and 1 for a broken one."""

import textwrap

import pytest

ENVS = textwrap.dedent('''
    import numpy as np
    import gymnasium as gym
    from gymnasium import spaces

    class Base(gym.Env):
        observation_space = spaces.Box(-np.inf, np.inf, (3,), np.float32)
        action_space = spaces.Discrete(2)
        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return self.obs(), {}
        def obs(self):
            return self.np_random.normal(size=3).astype(np.float32)
        def step(self, action):
            self.t += 1
            return self.obs(), self.reward(), False, self.t >= 50, {}
        def reward(self):
            return 1.0

    class Good(Base):
        pass

    class Unscaled(Base):
        def obs(self):
            return (1000 + 50 * self.np_random.normal(size=3)).astype(np.float32)
        def reward(self):
            return 5000.0

    class NaNObs(Base):
        def obs(self):
            return np.full(3, np.nan, np.float32) if getattr(self, "t", 0) > 5 else np.zeros(3, np.float32)

    class Crashes(Base):
        def step(self, action):
            if self.t >= 10:
                raise RuntimeError("simulator exploded")
            return super().step(action)

    class Unseeded(Base):
        def obs(self):
            return np.random.normal(size=3).astype(np.float32)

    class Dict(Base):
        observation_space = spaces.Dict({"a": spaces.Discrete(3), "action_mask": spaces.MultiBinary(2)})
        def obs(self):
            return {"a": 0, "action_mask": np.array([1, 0], np.int8)}

    class Text(Base):
        observation_space = spaces.Dict({"a": spaces.Text(5)})
        def obs(self):
            return {"a": "hello"}
''')


@pytest.fixture
def envs_file(tmp_path):
    path = tmp_path / "envs.py"
    path.write_text(ENVS)
    return path


@pytest.mark.parametrize("name, code, words", [
    ("Good", 0, ["rung algorithms that can train on it: dqn, reinforce, a2c, ppo", "deterministic under a seed",
                 "ends episodes itself", "usable (", "0 failures)"]),
    ("Unscaled", 0, ["observations are badly scaled", "normalize_obs=true", "rewards are large",
                     "normalize_reward=true"]),
    ("NaNObs", 1, ["observations contain NaN", "NOT usable"]),
    ("Crashes", 1, ["raised RuntimeError at random step 10: simulator exploded", "NOT usable"]),
    ("Unseeded", 1, ["reset(seed=123)` is non-deterministic", "not deterministic under a seed", "self.np_random"]),
    ("Dict", 0, ["action masks (in the observation, 2 entries)", "category codes Discrete(3): one-hot encoded"]),
    ("Text", 1, ["no rung algorithm handles these spaces", "FlattenObservation"]),
])
def test_doctor_findings(cli, tmp_path, envs_file, name, code, words):
    proc = cli("doctor", f"{envs_file}:{name}", "--steps", "300", cwd=tmp_path)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stdout, proc.stdout


def test_doctor_on_a_registered_env_without_time_limit(cli):
    proc = cli("doctor", "CliffWalking-v1", "--steps", "500")
    assert proc.returncode == 0
    assert "no time limit, and no episode ended in 500 random steps" in proc.stdout


def test_doctor_bad_id_is_a_one_line_error(cli):
    proc = cli("doctor", "CartPol-v1")
    assert proc.returncode == 2 and "did you mean CartPole-v1" in proc.stderr
