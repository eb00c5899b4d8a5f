"""A stand-in for a slow simulator: CartPole whose every step also burns 1 ms of CPU time.

    rung train ppo benchmarks/slow_env.py:SlowCartPole --workers 2

The cost is CPU work (a loop until this thread's CPU clock has advanced `cost_ms`), not sleep or a wall
clock wait, so two envs sharing one core take twice as long, as two real simulators would.
Episodes are cut at 500 steps, as CartPole-v1's.
"""

from __future__ import annotations

import time

from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class SlowCartPole(CartPoleEnv):
    def __init__(self, cost_ms: float = 1.0, max_steps: int = 500, **kwargs):
        super().__init__(**kwargs)
        self.cost, self.max_steps, self.steps = cost_ms / 1000, max_steps, 0

    def reset(self, **kwargs):
        self.steps = 0
        return super().reset(**kwargs)

    def step(self, action):
        done_at = time.thread_time() + self.cost
        while time.thread_time() < done_at:
            pass
        obs, reward, terminated, truncated, info = super().step(action)
        self.steps += 1
        return obs, reward, terminated, truncated or self.steps >= self.max_steps, info
