"""A plain-words health reading of a run from its logged scalars, shown next to the progress bar.

Each rule names the number, the threshold, what it usually means and what to try. The thresholds are
rules of thumb from PPO/A2C practice (CleanRL, Stable-Baselines3 issue threads), not laws.
"""

from __future__ import annotations

import math

import numpy as np

APPROX_KL_MAX = 0.02      # PPO's ratio should stay close to 1 within an update
CLIPFRAC_MAX = 0.3        # a third of the samples clipped: the policy is pushed far past the trust region
MIN_UPDATES = 20          # the critic gets this many updates before we judge it
FITTED_LOSS = 0.1         # value loss at a tenth of its peak: the critic has fitted its targets
ENTROPY_FLOOR = 0.01      # nats: a near-deterministic policy
SCALE_LIMIT = 10.0        # |mean| or std of an observation component above this: normalise observations
REWARD_LIMIT = 100.0      # |reward| per step above this: scale rewards
Q_RUNAWAY = 10.0          # |mean Q| this many times the largest |episodic return| seen: the critic runs away
ALPHA_FLOOR = 1e-4        # SAC's temperature below this: the entropy bonus is gone
ALPHA_CEILING = 100.0     # above this: the entropy bonus drowns the reward
SATURATION_MAX = 0.9      # fraction of action components at a bound of the box
COLLAPSE_DROP = 0.2       # the final return below the best evaluation by this fraction of |best|: a late collapse
PROBE_STEPS = 1000        # random steps that decide normalisation when the config leaves it to rung


def scale_problems(obs: np.ndarray, rewards: np.ndarray) -> tuple[str | None, str | None]:
    """What is badly scaled in a batch of float observations [B, D] and rewards [B]: (the observations'
    problem, the rewards' problem), None where the scale is fine."""
    worst = float(max(np.abs(obs.mean(0)).max(), obs.std(0).max())) if obs.size else 0.0
    largest = float(np.abs(rewards).max()) if rewards.size else 0.0
    return (f"a component with |mean| or std {worst:.3g} > {SCALE_LIMIT:g}" if worst > SCALE_LIMIT else None,
            f"|r| = {largest:.3g} > {REWARD_LIMIT:g} per step" if largest > REWARD_LIMIT else None)


def float_features(obs: np.ndarray) -> np.ndarray:
    """The float parts of a batch of observations (structured arrays: their float fields) as [B, D];
    pixels and category codes have no scale to fix."""
    if obs.dtype.names is not None:
        parts = [obs[name].reshape(len(obs), -1) for name in obs.dtype.names if obs[name].dtype.kind == "f"]
        return np.concatenate(parts, axis=1).astype(np.float64) if parts else np.zeros((len(obs), 0))
    return obs.reshape(len(obs), -1).astype(np.float64) if obs.dtype.kind == "f" else np.zeros((len(obs), 0))


def scale_warnings(obs: np.ndarray, rewards: np.ndarray, normalize_obs: bool, normalize_reward: bool) -> list[str]:
    """Badly scaled observations or rewards, seen in the first rollout ([T, N, ...]), when normalisation is off."""
    obs_problem, reward_problem = scale_problems(float_features(obs.reshape(-1, *obs.shape[2:])), rewards.reshape(-1))
    problems = []
    if not normalize_obs and obs_problem:
        problems.append(f"observations are badly scaled ({obs_problem}); try --set normalize_obs=true")
    if not normalize_reward and reward_problem:
        problems.append(f"rewards reach {reward_problem}; try --set normalize_reward=true")
    return problems


def decide_normalisation(env, seed: int, steps: int = PROBE_STEPS) -> dict[str, dict]:
    """Whether to normalise observations and rewards, judged from `steps` uniformly random (legal) steps of one
    copy of the env (the untrained policy acts near-uniformly too): {"normalize_obs": {"value": bool,
    "why": text}, "normalize_reward": …}, recorded in config.json when rung decided it."""
    from rung.masks import random_action
    from rung.observations import pack

    env.action_space.seed(seed)
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    observations, rewards = [], []
    for _ in range(steps):
        observations.append(obs)
        obs, reward, terminated, truncated, info = env.step(random_action(env.action_space, info, rng))
        rewards.append(reward)
        if terminated or truncated:
            obs, info = env.reset()
    batch = np.stack([pack(o, env.observation_space, batched=False) for o in observations])
    obs_problem, reward_problem = scale_problems(float_features(batch), np.asarray(rewards, dtype=np.float64))
    seen = f"in {steps} random steps"
    return {"normalize_obs": {"value": obs_problem is not None,
                              "why": f"observations badly scaled {seen} ({obs_problem})" if obs_problem
                              else f"observations well scaled {seen}"},
            "normalize_reward": {"value": reward_problem is not None,
                                 "why": f"rewards large {seen} ({reward_problem})" if reward_problem
                                 else f"rewards within ±{REWARD_LIMIT:g} per step {seen}"}}


def health(rows: list[dict[str, float]], progress: float) -> list[str]:
    """Problems visible in the latest logged row (and the run so far); [] when nothing looks wrong.
    `progress` is the fraction of the step budget done."""
    if not rows:
        return []
    last, problems = rows[-1], []
    for key in ("policy_loss", "value_loss", "td_loss", "grad_norm", "qf1_loss", "actor_loss"):
        if key in last and not math.isfinite(last[key]):
            problems.append(f"{key} is {last[key]}: training diverged; lower lr or check rewards and observations")
    kl = last.get("approx_kl")
    if kl is not None and kl > APPROX_KL_MAX:
        problems.append(f"approx_kl {kl:.3f} > {APPROX_KL_MAX}: updates too large, lower lr or clip_eps")
    clipfrac = last.get("clipfrac")
    if clipfrac is not None and clipfrac > CLIPFRAC_MAX:
        problems.append(f"clipfrac {clipfrac:.2f} > {CLIPFRAC_MAX}: most of each update is clipped, lower lr or n_epochs")
    ev = last.get("explained_variance")
    # EV = 1 − Var[G − V] / Var[G] says nothing once the returns barely vary (a solved CartPole: every
    # episode 500 steps); then the value loss has fallen far below its peak, and the critic has learnt
    loss, peak = last.get("value_loss"), max((row.get("value_loss", 0.0) for row in rows), default=0.0)
    fitted = loss is not None and loss < FITTED_LOSS * peak
    if ev is not None and len(rows) >= MIN_UPDATES and ev < 0 and not fitted:
        problems.append(f"explained_variance {ev:.2f} < 0 after {len(rows)} updates: the critic is not learning; "
                        "check vf_coef, reward scale, or normalise rewards")
    problems += value_runaway(rows, last)
    problems += offpolicy_health(rows, last)
    evals = [row for row in rows if "eval_return" in row]
    if evals and "eval_return" in last:
        best = max(evals, key=lambda row: row["eval_return"])
        if late_collapse(best["eval_return"], last["eval_return"]):
            problems.append(f"eval_return fell from {best['eval_return']:.4g} at env step {int(best['step']):,} to "
                            f"{last['eval_return']:.4g}: the policy collapsed; the best agent is kept in best/")
    entropy = last.get("entropy")
    if entropy is not None and entropy < ENTROPY_FLOOR and progress < 0.25 and "alpha" not in last:
        problems.append(f"entropy {entropy:.3f} at {progress:.0%} of the budget: the policy stopped exploring "
                        "early; raise ent_coef or lower lr")
    return problems


def late_collapse(best_return: float, final_return: float) -> bool:
    """The final agent lost much of what the best one during training had: final < best − 0.2·|best|
    (below 80 % of a positive best; for negative returns, more than 20 % further from zero)."""
    return final_return < best_return - COLLAPSE_DROP * abs(best_return)


# the value estimates each family logs, and what to do when they run away
RUNAWAY_FIXES = {"qf1_values": "the critic is running away from the observed returns; lower lr or tau, or use td3 "
                               "or sac (their clipped double-Q target)",
                 "q_values": "the Q-network is diverging (bootstrapping on its own overestimates); update the target "
                             "network less often (raise target_update_interval), lower lr, or set double_q=true"}


def value_runaway(rows: list[dict[str, float]], last: dict[str, float]) -> list[str]:
    """DQN's Q and DDPG/TD3/SAC's critic against the returns actually seen: |mean Q| over Q_RUNAWAY times
    the largest |episodic return| is no estimate of any return (a discounted return is smaller than
    the undiscounted one of a whole episode)."""
    seen = [abs(row["episodic_return"]) for row in rows if math.isfinite(row.get("episodic_return", math.nan))]
    problems = []
    for key, fix in RUNAWAY_FIXES.items():
        q = last.get(key)
        if q is not None and math.isfinite(q) and seen and abs(q) > Q_RUNAWAY * max(max(seen), 1.0):
            problems.append(f"{key} {q:.3g} is over {Q_RUNAWAY:g}× the largest episodic return seen "
                            f"({max(seen):.3g}): {fix}")
    return problems


def offpolicy_health(rows: list[dict[str, float]], last: dict[str, float]) -> list[str]:
    """DDPG, TD3 and SAC: the temperature α and the actor pinned at the action bounds (their critic's
    values: value_runaway)."""
    problems = []
    alpha = last.get("alpha")
    if alpha is not None and alpha < ALPHA_FLOOR:
        problems.append(f"alpha {alpha:.2g} < {ALPHA_FLOOR:g}: the entropy bonus has collapsed and SAC no longer "
                        "explores; raise target_entropy or fix alpha")
    if alpha is not None and alpha > ALPHA_CEILING:
        problems.append(f"alpha {alpha:.3g} > {ALPHA_CEILING:g}: the entropy bonus drowns the reward; lower "
                        "target_entropy, fix alpha, or scale the rewards up")
    saturation = last.get("actor_saturation")
    if saturation is not None and saturation > SATURATION_MAX:
        problems.append(f"actor_saturation {saturation:.2f}: the actor sits at the action bounds (bang-bang); "
                        "check the action scale and the reward, or lower lr")
    return problems
