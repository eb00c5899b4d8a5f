"""Small envs that no preset names, written to test defaults on tasks rung was never tuned for
(benchmarks/unseen.py runs every algorithm's defaults on them, beside Stable-Baselines3's).

Each is tiny and fast, has a known optimum, and stresses one thing a user's own env often has:
sparse and delayed rewards, asymmetric or wide action bounds, badly scaled observations or rewards,
noisy rewards, a long horizon, a one-step bandit, pixels, a Dict observation. Use them as
`rung train ppo rung.testbed:Corridor`.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class Corridor(gym.Env):
    """Walk right from cell 0 to cell `length`; the only reward is +1 on arrival (sparse, delayed).
    Observation: the position as a fraction of the length. Optimum 1.0 in `length` steps; a uniformly
    random walk arrives within the time limit of 3 × length steps once in nine tries."""

    def __init__(self, length: int = 10):
        self.length = length
        self.observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Discrete(2)   # 0 left, 1 right
        self.max_steps, self.position, self.t = 3 * length, 0, 0

    def obs(self):
        return np.array([self.position / self.length], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.t = 0, 0
        return self.obs(), {}

    def step(self, action):
        self.position = max(0, self.position + (1 if int(action) == 1 else -1))
        self.t += 1
        arrived = self.position == self.length
        return self.obs(), float(arrived), arrived, self.t >= self.max_steps and not arrived, {}


class LongCorridor(Corridor):
    """The corridor at 20 cells, with a cost of 0.01 per step and a time limit of 400 steps: long
    episodes while exploring, and the +1 at the end must travel back through 20 discounted steps.
    Optimum 0.8."""

    def __init__(self):
        super().__init__(length=20)
        self.max_steps = 400

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward - 0.01, terminated, truncated, info


class Reach(gym.Env):
    """Choose the action equal to the target shown (one component per action dimension), for 20 steps;
    reward −Σ (a − target)² per step, optimum 0. The targets lie in `target_low`…`target_high`, the
    actions are bounded by `low`…`high`: `AsymmetricReach` and `WideReach` choose them."""

    def __init__(self, low=(-1.0,), high=(1.0,), target_low=(-1.0,), target_high=(1.0,), scale: float = 1.0):
        self.action_space = spaces.Box(np.array(low, np.float32), np.array(high, np.float32))
        self.target_low, self.target_high = np.array(target_low, np.float32), np.array(target_high, np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, (len(low),), np.float32)
        self.scale, self.target, self.t = scale, None, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.draw(), {}

    def draw(self):
        self.target = self.np_random.uniform(self.target_low, self.target_high).astype(np.float32)
        return self.target / self.scale

    def step(self, action):
        error = np.asarray(action, np.float32) - self.target
        reward = -float(np.sum(np.square(error)))
        self.t += 1
        return self.draw(), reward, False, self.t >= 20, {}


class AsymmetricReach(Reach):
    """Actions in [0, 4] × [−3, 1]; the targets run up to 0.1 from the bounds (3.9 and −2.9), where a
    Gaussian that is clipped at the bounds learns worst. Optimum 0."""

    def __init__(self):
        super().__init__(low=(0.0, -3.0), high=(4.0, 1.0), target_low=(2.0, -2.9), target_high=(3.9, -1.0))


class WideReach(Reach):
    """Actions in [−100, 100] while every target lies in [−2, 2] (a box far wider than what matters),
    observed scaled down by 1/2. Optimum 0."""

    def __init__(self):
        super().__init__(low=(-100.0,), high=(100.0,), target_low=(-2.0,), target_high=(2.0,), scale=2.0)


class ScaledObsCartPole(gym.Wrapper):
    """CartPole-v1 whose observations are reported in other units: ×1,000 and offset by 5,000."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        low = self.env.observation_space.low * 1000 + 5000
        self.observation_space = spaces.Box(np.maximum(low, -3e38), np.minimum(-low + 10000, 3e38), dtype=np.float32)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return (obs * 1000 + 5000).astype(np.float32), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return (obs * 1000 + 5000).astype(np.float32), reward, terminated, truncated, info


class ScaledRewardCartPole(gym.Wrapper):
    """CartPole-v1 paying 1,000 per step instead of 1: optimum 500,000."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, 1000.0 * reward, terminated, truncated, info


class NoisyCartPole(gym.Wrapper):
    """CartPole-v1 with N(0, 1) noise on every reward: the mean return is unchanged (optimum 500)."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward + float(self.np_random.normal()), terminated, truncated, info


class Bandit(gym.Env):
    """Ten arms, one pull per episode; arm k pays N(k / 10, 1) (the noise is ten times the gap between
    neighbouring arms). Optimum 0.9."""

    def __init__(self):
        self.observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Discrete(10)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.ones(1, np.float32), {}

    def step(self, action):
        return np.ones(1, np.float32), int(action) / 10 + float(self.np_random.normal()), True, False, {}


class PixelSide(gym.Env):
    """A 1 × 16 × 16 uint8 image with a bright 4 × 4 square in its left or right half; the action names
    the half (+1 if right, −1 if wrong), 10 images per episode. Optimum 10."""

    def __init__(self):
        self.observation_space = spaces.Box(0, 255, (1, 16, 16), np.uint8)
        self.action_space = spaces.Discrete(2)
        self.side, self.t = 0, 0

    def draw(self):
        self.side = int(self.np_random.integers(2))
        image = np.zeros((1, 16, 16), np.uint8)
        row, col = self.np_random.integers(0, 12), self.np_random.integers(0, 4) + 8 * self.side
        image[0, row:row + 4, col:col + 4] = 255
        return image

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.draw(), {}

    def step(self, action):
        reward = 1.0 if int(action) == self.side else -1.0
        self.t += 1
        return self.draw(), reward, False, self.t >= 10, {}


class DictGoal(gym.Env):
    """A Dict observation: `goal` (Discrete(4), which of four moves pays) and `noise` (a Box of four
    distractors). +1 for the goal's move, 0 otherwise, 10 steps per episode. Optimum 10."""

    def __init__(self):
        self.observation_space = spaces.Dict({"goal": spaces.Discrete(4),
                                              "noise": spaces.Box(-1.0, 1.0, (4,), np.float32)})
        self.action_space = spaces.Discrete(4)
        self.goal, self.t = 0, 0

    def draw(self):
        self.goal = int(self.np_random.integers(4))
        return {"goal": self.goal, "noise": self.np_random.uniform(-1, 1, 4).astype(np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.draw(), {}

    def step(self, action):
        reward = float(int(action) == self.goal)
        self.t += 1
        return self.draw(), reward, False, self.t >= 10, {}


class PointMass(gym.Env):
    """A point in the plane, velocity-controlled by actions in [−1, 1]², steered to the origin from a
    random start in [−5, 5]²; reward −‖position‖ / 10 per step for 50 steps. Heading straight for the
    origin scores −0.52 on average, random actions −26."""

    def __init__(self):
        self.observation_space = spaces.Box(-10.0, 10.0, (2,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.position, self.t = np.zeros(2, np.float32), 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.t = self.np_random.uniform(-5, 5, 2).astype(np.float32), 0
        return self.position.copy(), {}

    def step(self, action):
        self.position = np.clip(self.position + np.clip(action, -1, 1).astype(np.float32), -10, 10)
        self.t += 1
        return self.position.copy(), -float(np.linalg.norm(self.position)) / 10, False, self.t >= 50, {}
