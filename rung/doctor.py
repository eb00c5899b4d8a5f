"""`rung doctor ENV`: is this environment usable for RL, and what should a user change?

Gymnasium's env checker, then rung's own checks on random rollouts. Each finding is one line in plain
words with a suggested fix; `usable` is False when any finding is a failure.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from rung.diagnostics import scale_problems
from rung.envs import describe_space, make_env

OK, WARN, FAIL = "ok", "warning", "failure"
SLOW_STEPS_PER_SECOND = 1000


@dataclass
class Finding:
    level: str
    text: str
    fix: str = ""

    def __str__(self) -> str:
        mark = {OK: "ok  ", WARN: "warn", FAIL: "FAIL"}[self.level]
        return f"[{mark}] {self.text}" + (f" -> {self.fix}" if self.fix else "")


def diagnose(env_id: str, env_kwargs: dict | None = None, steps: int = 2000, seed: int = 0,
             wrappers: list[str] = ()) -> list[Finding]:
    """Every finding about `env_id`, wrapped by `wrappers` (rung.wrappers specs) for all but Gymnasium's
    checker, which checks the env itself; the env is made fresh for each check that needs a clean one."""
    findings = [gymnasium_checker(env_id, env_kwargs)]
    with make_env(env_id, env_kwargs, wrappers=wrappers) as env:
        findings += space_findings(env)
        findings.append(feature_finding(env, seed))
        rollout, rollout_findings = random_rollout(env, steps, seed)
        findings += rollout_findings
    if rollout is not None:
        findings += scale_findings(*rollout)
        findings.append(determinism(env_id, env_kwargs, seed, wrappers))
    return findings


def gymnasium_checker(env_id: str, env_kwargs: dict | None) -> Finding:
    from gymnasium.utils.env_checker import check_env

    with make_env(env_id, env_kwargs) as env, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_env(env.unwrapped, skip_render_check=True)
        except Exception as exc:
            return Finding(FAIL, f"Gymnasium's env checker failed: {type(exc).__name__}: {exc}",
                           "fix the env so that it follows the gymnasium.Env API")
    messages = sorted({str(w.message).replace("\x1b[33m", "").replace("\x1b[0m", "").strip() for w in caught})
    if messages:
        return Finding(WARN, "Gymnasium's env checker warns: " + " | ".join(messages),
                       "see the Gymnasium docs on the env API")
    return Finding(OK, "Gymnasium's env checker passes")


def space_findings(env) -> list[Finding]:
    from rung.algos import algos_supporting

    obs_space, action_space = env.observation_space, env.action_space
    found = []
    algos = algos_supporting(env)
    spaces_text = f"observations {describe_space(obs_space)}, actions {describe_space(action_space)}"
    if algos:
        found.append(Finding(OK, f"{spaces_text}: rung algorithms that can train on it: {', '.join(algos)}"))
    else:
        found.append(Finding(FAIL, f"{spaces_text}: no rung algorithm handles these spaces",
                             "flatten the observation (gymnasium.wrappers.FlattenObservation) to a Box"))
    if isinstance(obs_space, spaces.Box):
        if obs_space.dtype == np.float64:
            found.append(Finding(WARN, "observations are float64; networks compute in float32",
                                 "declare the Box as float32 (values are cast anyway)"))
        if not (np.all(np.isfinite(obs_space.low)) and np.all(np.isfinite(obs_space.high))):
            found.append(Finding(OK, "observation bounds are unbounded (±inf) in some components: "
                                     "the random rollout below measures the real scale"))
    if isinstance(action_space, spaces.Box) and not (np.all(np.isfinite(action_space.low))
                                                     and np.all(np.isfinite(action_space.high))):
        found.append(Finding(WARN, "the action Box is unbounded: a Gaussian policy's actions are not rescaled",
                             "give the action space finite bounds"))
    if env.spec is not None and env.spec.max_episode_steps is not None:
        found.append(Finding(OK, f"time limit: {env.spec.max_episode_steps} steps"))
    return found


def feature_finding(env, seed: int) -> Finding:
    """Which of the spaces and features of docs/spaces.md this env uses, in plain words."""
    from rung.masks import KEY, mask_size
    from rung.nets import NATURE_REACH, image_layout, is_code_space, is_image_space
    from rung.observations import MASK_KEY, is_tree_space, leaf_spaces, without_mask

    obs_space, action_space = env.observation_space, env.action_space
    _, info = env.reset(seed=seed)
    features = []
    if KEY in info or isinstance(obs_space, spaces.Dict) and MASK_KEY in obs_space.spaces:
        where = "info" if KEY in info else "the observation"
        features.append(f"action masks (in {where}, {mask_size(action_space)} entries): illegal actions are never taken")
    seen = without_mask(obs_space)
    if is_tree_space(seen):
        features.append(f"{type(seen).__name__} observation with leaves {', '.join(leaf_spaces(seen))}: "
                        f"an encoder per leaf")
    for leaf in leaf_spaces(seen).values() if is_tree_space(seen) else [seen]:
        if is_image_space(leaf):
            side = min(image_layout(leaf.shape)[2:])
            cnn = "the Nature CNN" if side >= NATURE_REACH else f"the small CNN (under {NATURE_REACH} px)"
            features.append(f"image observation {leaf.shape}: {cnn}")
        elif is_code_space(leaf):
            features.append(f"category codes {leaf}: one-hot encoded")
    if isinstance(action_space, spaces.MultiBinary):
        features.append(f"MultiBinary({action_space.n}) actions: independent Bernoulli bits")
    text = "; ".join(features) if features else "plain spaces (no Dict, images, codes, masks or MultiBinary)"
    return Finding(OK, f"features: {text}. Partially observed? try --set recurrent=true (PPO, A2C)")


def random_rollout(env, steps: int, seed: int):
    """`steps` uniformly random actions; returns ((observations, rewards, episodes ended), findings)."""
    env.action_space.seed(seed)
    observations, rewards, ended, resets = [], [], 0, 1
    started = time.perf_counter()
    try:
        obs, _ = env.reset(seed=seed)
        reset_seconds = time.perf_counter() - started
        for step in range(steps):
            observations.append(flat(env, obs))
            obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            rewards.append(float(reward))
            if terminated or truncated:
                ended += 1
                tic = time.perf_counter()
                obs, _ = env.reset()
                reset_seconds += time.perf_counter() - tic
                resets += 1
    except Exception as exc:
        return None, [Finding(FAIL, f"the env raised {type(exc).__name__} at random step {len(rewards)}: {exc}",
                              "fix the env's step/reset")]
    seconds = time.perf_counter() - started
    observations.append(flat(env, obs))
    found = []
    rate = steps / seconds
    speed = f"{rate:,.0f} steps/s, {1000 * reset_seconds / resets:.2f} ms per reset (random actions, one env)"
    if rate < SLOW_STEPS_PER_SECOND:
        found.append(Finding(WARN, f"slow: {speed}", "train with --set env_backend=async to step envs in parallel"))
    else:
        found.append(Finding(OK, speed))
    if env.spec is None or env.spec.max_episode_steps is None:
        if ended:
            found.append(Finding(OK, f"no registered time limit, but the env ends episodes itself "
                                     f"({ended} in {steps} random steps)"))
        else:
            found.append(Finding(WARN, f"no time limit, and no episode ended in {steps} random steps: "
                                       "an episode may never end",
                                 "register it with max_episode_steps, or wrap it in gymnasium.wrappers.TimeLimit"))
    return (np.array(observations), np.array(rewards), ended), found


def flat(env, obs) -> np.ndarray:
    """Any observation as a float vector (Discrete one-hot, Tuple/Dict concatenated)."""
    return np.asarray(spaces.flatten(env.observation_space, obs), dtype=np.float64)


def scale_findings(observations: np.ndarray, rewards: np.ndarray, ended: int) -> list[Finding]:
    found = []
    if not np.all(np.isfinite(observations)):
        found.append(Finding(FAIL, "observations contain NaN or inf", "fix the env's dynamics or clip them"))
    if not np.all(np.isfinite(rewards)):
        found.append(Finding(FAIL, "rewards contain NaN or inf", "fix the env's reward"))
    if found:
        return found
    obs_problem, reward_problem = scale_problems(observations, rewards)   # rung train decides normalisation so
    if obs_problem:
        found.append(Finding(WARN, f"observations are badly scaled ({obs_problem})",
                             "train with --set normalize_obs=true (left unset, rung turns it on)"))
    else:
        found.append(Finding(OK, f"observation scale: |mean| ≤ {np.abs(observations.mean(axis=0)).max():.3g}, "
                                 f"std ≤ {observations.std(axis=0).max():.3g}"))
    if reward_problem:
        found.append(Finding(WARN, f"rewards are large ({reward_problem})",
                             "train with --set normalize_reward=true (left unset, rung turns it on)"))
    else:
        found.append(Finding(OK, f"reward per step in [{rewards.min():.3g}, {rewards.max():.3g}], "
                                 f"{ended} episodes ended in {len(rewards)} random steps"))
    return found


def determinism(env_id: str, env_kwargs: dict | None, seed: int, wrappers: list[str] = (), steps: int = 200) -> Finding:
    """Two fresh envs, reset with the same seed and given the same actions, must agree."""
    traces = []
    for _ in range(2):
        with make_env(env_id, env_kwargs, wrappers=wrappers) as env:
            env.action_space.seed(seed)
            obs, _ = env.reset(seed=seed)
            trace = [flat(env, obs)]
            for _ in range(steps):
                obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
                trace.append(np.append(flat(env, obs), reward))
                if terminated or truncated:
                    obs, _ = env.reset()
            traces.append(trace)
    same = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(*traces))
    if same:
        return Finding(OK, "deterministic under a seed: same seed and actions give the same observations and rewards")
    return Finding(WARN, "not deterministic under a seed: runs will not reproduce",
                   "draw all randomness from self.np_random, seeded by reset(seed=...)")
