"""REINFORCE (Williams 1992): the seed's second rung, the policy gradient with Monte Carlo returns.

    ∇θ J(θ) = E[ ∇θ log π_θ(a|s) · G ]          loss = −E[ log π_θ(a|s) · G ]

G is the discounted return of the rest of the episode, so each update needs whole episodes, and its
variance is high: the seed's motivation for a baseline. Options:
- `normalize_returns` (as in the seed): G ← (G − mean G) / std G over the batch, a crude baseline;
- `baseline`: a learned V(s) ("REINFORCE with baseline"), weights A = G − V(s), V trained by
  regression on G; A2C (a2c.py) takes this further by bootstrapping G itself from V.

Implementation details:
- each iteration resets the N envs and runs every env for exactly `episodes_per_env` whole
  episodes; steps an env takes after its last episode are not used (taking the first k episodes of
  every env, whatever their length, keeps the batch unbiased) — rung.collection.Episodes, or Ray
  workers playing them with `--workers N` (rung.distributed);
- a time-limit truncation ends G there (bootstrapping from V(final obs) when `baseline` is on);
- `shared_body` off gives the baseline V(s) a body of its own: its regression on raw returns (−100 a
  step on Acrobot) otherwise dominates the shared body's gradient;
- `normalize_obs`: running mean/std inside the network, updated after each update (as A2C);
- Adam; optional global gradient-norm clipping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rung.algos.ppo import PolicyAgent, explained_variance
from rung.algos.ppo import supports  # same spaces as PPO
from rung.algos.tabular import linear_schedule
from rung.checkpoint import restart_seed
from rung.config import param
from rung.devices import built_on_cpu
from rung.envs import BACKENDS
from rung.nets import ActorCritic, FlatParameters
from rung.observations import as_tensor
from rung.optim import Adam
from rung.returns import discounted_returns, normalize_advantages

NAME = "reinforce"
SPACES = ("obs: Box (vectors or uint8 images), Discrete or MultiDiscrete (one-hot), or a Dict / Tuple of these; "
          "actions: Discrete or MultiDiscrete (maskable), MultiBinary or Box")
USES_ENV_STEPS = True
ROLLOUT_WORKERS = True   # `--workers N`: Ray actors step the envs (rung.distributed)
ON_DEVICE = True        # networks: `--device`
__all__ = ["Config", "check", "policy_gradient_loss", "supports", "train"]


@dataclass
class Config:
    lr: float = param(1e-2, "Adam learning rate", 0, None, low_inclusive=False)
    lr_final: float | None = param(None, "learning rate at the end, linear decay (None: constant)", 0)
    n_envs: int = param(8, "envs stepped together", 1)
    episodes_per_env: int = param(1, "whole episodes each env plays per update", 1)
    gamma: float = param(0.99, "discount factor γ", 0, 1)
    normalize_returns: bool = param(True, "normalise the weights (G, or G − V) over each batch")
    baseline: bool = param(False, "learn V(s) and weight by A = G − V(s) instead of G")
    shared_body: bool = param(True, "the baseline V(s) shares the policy's body (the seed's one network) or has its "
                                    "own, so that V's regression on raw returns cannot swamp the policy's gradient")
    vf_coef: float = param(0.5, "value loss coefficient (with baseline)", 0)
    ent_coef: float = param(0.0, "entropy bonus coefficient", 0)
    max_grad_norm: float | None = param(None, "clip the global gradient norm to this (None: no clipping)", 0)
    net_arch: tuple[int, ...] = param((128,), "hidden sizes of the MLP body")
    activation: str = param("relu", "activation of the MLP body", choices=("tanh", "relu"))
    env_backend: str = param("auto", "vector env backend", choices=BACKENDS)
    normalize_obs: bool | None = param(None, "normalise observations by running mean/std (saved with the agent); "
                                             "None: on if 1,000 random steps find them badly scaled (config.json says)")


def check(config: Config, steps: int) -> list[str]:
    return []


def policy_gradient_loss(logp: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """−E[log π_θ(a|s) · w]: w = G (REINFORCE), G − V(s) (with a baseline) or the advantage A (A2C)."""
    loss = -(logp * weights).mean()
    return loss, {"policy_loss": loss.detach()}


def train(envs, config: Config, steps: int, seed: int, logger, device=torch.device("cpu")) -> PolicyAgent:
    torch.manual_seed(seed)
    collector = envs.episodes(config.n_envs, config.env_backend, config.episodes_per_env)
    env = collector.env
    obs_space, action_space = env.single_observation_space, env.single_action_space
    with built_on_cpu():   # then moved: the same initial weights on every device
        policy = ActorCritic(obs_space, action_space, config.net_arch, config.activation,
                             shared=config.shared_body, ortho=False, normalize_obs=config.normalize_obs).to(device)
    flat = FlatParameters(policy)
    optimizer = Adam(flat.param, lr=config.lr)
    lr_final = config.lr if config.lr_final is None else config.lr_final
    state = {"policy": policy, "optimizer": optimizer, "episodes": env.episodes}
    meta = {"net_arch": list(config.net_arch), "activation": config.activation, "shared_body": config.shared_body,
            "normalize_obs": config.normalize_obs}
    agent = PolicyAgent(policy, obs_space, action_space, meta, algo=NAME)   # acts with the live weights
    global_step = logger.begin(state, agent)
    reset_seed = restart_seed(seed, global_step)  # later iterations continue the envs' own RNG

    while global_step < steps:
        optimizer.lr = lr = linear_schedule(config.lr, lr_final, 1.0, global_step / steps)

        # COLLECT: whole episodes with the current policy
        batch = collector.collect(policy, reset_seed)
        reset_seed = None
        T, n = batch["rewards"].shape
        global_step += int(batch["steps"])
        used = batch["used"]

        # RETURNS: G_t = r_t + γ·G_{t+1}, cut at the episode's end (V(final obs) after a truncation)
        masks = as_tensor(batch["action_masks"].reshape(T * n, -1), device) if "action_masks" in batch else None
        dist, values = policy(as_tensor(batch["obs"][:T].reshape(T * n, *batch["obs"].shape[2:]), device), masks)
        values = values.view(T, n)
        if config.baseline:
            with torch.no_grad():
                last_values = policy(as_tensor(batch["obs"][T], device))[1]
            next_values = torch.cat([values[1:].detach(), last_values[None]]).cpu().numpy()
        else:
            next_values = np.zeros((T, n), np.float32)
        returns = as_tensor(discounted_returns(batch["rewards"], next_values, batch["terminated"],
                                               batch["truncated"], config.gamma), device)

        # UPDATE: one gradient step on −E[log π(a|s)·w] over the used steps (+ V's regression on G)
        mask = as_tensor(used, device)
        actions = as_tensor(batch["actions"].reshape(T * n, *batch["actions"].shape[2:]), device)
        logp = dist.log_prob(actions).view(T, n)[mask]                              # [B]
        weights = returns[mask] - (values[mask].detach() if config.baseline else 0.0)  # G or G − V(s)
        if config.normalize_returns and len(weights) > 1:
            weights = normalize_advantages(weights, float(returns[mask].std()))
        loss, stats = policy_gradient_loss(logp, weights)
        entropy = dist.entropy().view(T, n)[mask].mean()
        loss = loss - config.ent_coef * entropy
        if config.baseline:
            v_loss = (values[mask] - returns[mask]).pow(2).mean()
            loss = loss + config.vf_coef * v_loss
            stats["value_loss"] = v_loss.detach()
        grad_norm = flat.apply(loss, optimizer, config.max_grad_norm, global_step)
        if policy.obs_norm is not None:  # after the update: the loss saw the statistics the episodes were played with
            policy.obs_norm.update(as_tensor(batch["obs"][:T][used], device))

        # LOG
        row = {**env.episodes.pop(), **{k: float(v) for k, v in stats.items()}, "entropy": float(entropy.detach()),
               "grad_norm": float(grad_norm), "learning_rate": lr}
        if config.baseline:
            row["explained_variance"] = explained_variance(values[mask].detach().cpu().numpy(), returns[mask].cpu().numpy())
        logger.log(min(global_step, steps), row)
        if logger.checkpoint(global_step, state):  # exact resume: the next episodes start from its seed
            reset_seed = restart_seed(seed, global_step)
    collector.close()
    return agent
