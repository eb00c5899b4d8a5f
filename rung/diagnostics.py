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


def scale_warnings(obs: np.ndarray, rewards: np.ndarray, normalize_obs: bool, normalize_reward: bool) -> list[str]:
    """Badly scaled observations or rewards, seen in the first rollout, when normalisation is off."""
    problems = []
    flat = obs.reshape(-1, *obs.shape[2:]).reshape(obs.shape[0] * obs.shape[1], -1).astype(np.float64)
    worst = float(max(np.abs(flat.mean(0)).max(), flat.std(0).max())) if flat.size else 0.0
    if not normalize_obs and obs.dtype.kind == "f" and worst > SCALE_LIMIT:   # not pixels, not category codes
        problems.append(f"observations are badly scaled (a component with |mean| or std {worst:.3g} > {SCALE_LIMIT:g}); "
                        "try --set normalize_obs=true")
    largest = float(np.abs(rewards).max()) if rewards.size else 0.0
    if not normalize_reward and largest > REWARD_LIMIT:
        problems.append(f"rewards reach |r| = {largest:.3g} > {REWARD_LIMIT:g} per step; try --set normalize_reward=true")
    return problems


def health(rows: list[dict[str, float]], progress: float) -> list[str]:
    """Problems visible in the latest logged row (and the run so far); [] when nothing looks wrong.
    `progress` is the fraction of the step budget done."""
    if not rows:
        return []
    last, problems = rows[-1], []
    for key in ("policy_loss", "value_loss", "td_loss", "grad_norm"):
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
    entropy = last.get("entropy")
    if entropy is not None and entropy < ENTROPY_FLOOR and progress < 0.25:
        problems.append(f"entropy {entropy:.3f} at {progress:.0%} of the budget: the policy stopped exploring "
                        "early; raise ent_coef or lower lr")
    return problems
