"""Soft Actor-Critic (Haarnoja et al. 2018, with the automatic temperature of the 2018 follow-up):
TD3's twin critics (rung.algos.td3) with an entropy term. The policy is stochastic, a tanh-squashed
Gaussian, and it is paid for staying random: each step's reward gets a bonus −α·log π(a|s), so the
actor explores by design instead of by added noise, and α is tuned to keep the entropy near a target.

    a = tanh(u), u ~ N(μ_θ(s), σ_θ(s)²)     log π(a|s) = log N(u) − Σ_i log(1 − tanh²(u_i))
    y = r + γ · (1 − terminated) · (min_k Q_φk⁻(s', a') − α · log π(a'|s')),  a' ~ π(·|s')
    L(φ) = Σ_k (Q_φk(s, a) − y)²                                             (TD3's critic loss)
    L(θ) = α · log π(ã|s) − min_k Q_φk(s, ã),  ã ~ π(·|s) reparameterised  (the actor)
    L(α) = −log α · (log π(ã|s) + H̄)                 raises α when the entropy −log π is below H̄

H̄ (`target_entropy`) defaults to −dim A. Compared with TD3: no target actor (a' comes from the current
policy), no target smoothing (the policy's own noise does it), no delay; the soft target is TD3's
clipped double-Q target with the entropy bonus added. Order within one update as in Stable-Baselines3:
α's loss and step, the critics (with α as it was before its step), the actor, the critic targets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from rung.algos import ddpg
from rung.algos.ddpg import (ActorAgent, Optimised, action_size, batch_tensors, collect, critic_loss, make_buffer,
                             mean_stats, saturation, updates_per_burst)
from rung.algos.tabular import linear_schedule
from rung.algos.td3 import clipped_double_q_targets
from rung.checkpoint import restart_seed
from rung.config import param
from rung.devices import built_on_cpu
from rung.envs import BACKENDS, ActionScaler
from rung.nets import QCritics, SquashedGaussianActor
from rung.optim import Adam

NAME = "sac"
SPACES = ddpg.SPACES
USES_ENV_STEPS = True
ROLLOUT_WORKERS = False
ON_DEVICE = True
supports, check = ddpg.supports, ddpg.check


@dataclass
class Config:
    lr: float = param(3e-4, "Adam learning rate of the actor, the critics and α", 0, None, low_inclusive=False)
    lr_final: float | None = param(None, "learning rate at the end of training, linear decay (None: constant)", 0)
    buffer_size: int = param(1_000_000, "replay buffer capacity, in transitions", 1)
    learning_starts: int = param(100, "env steps of uniformly random actions before learning starts", 0)
    batch_size: int = param(256, "transitions per gradient step", 1)
    tau: float = param(0.005, "Polyak rate τ of the target critics: φ⁻ ← τφ + (1 − τ)φ⁻", 0, 1, low_inclusive=False)
    gamma: float = param(0.99, "discount factor γ", 0, 1)
    train_freq: int = param(1, "vector steps between bursts of gradient steps", 1)
    gradient_steps: int = param(1, "gradient steps per burst (-1: one per env transition collected)", -1)
    alpha: float | None = param(None, "a fixed temperature α (None: tuned automatically toward target_entropy)", 0)
    alpha_init: float = param(1.0, "α at the start when it is tuned", 0, None, low_inclusive=False)
    target_entropy: float | None = param(None, "H̄, the entropy α is tuned toward (None: −dim A)")
    n_step: int = param(1, "n of the n-step return in the target", 1)
    net_arch: tuple[int, ...] = param((256, 256), "hidden sizes of the actor's and the critics' MLPs")
    n_envs: int = param(1, "number of envs stepped together", 1)
    env_backend: str = param("auto", "vector env backend", choices=BACKENDS)
    checkpoint_replay: bool = param(True, "keep the replay buffer in checkpoints (resume is exact only with it)")


def soft_targets(returns: torch.Tensor, discounts: torch.Tensor, next_q: torch.Tensor, next_logp: torch.Tensor,
                 alpha: torch.Tensor | float) -> torch.Tensor:
    """y = G + γ^m · (min_k Q_φk⁻(s', a') − α·log π(a'|s')): TD3's target with the entropy bonus."""
    return clipped_double_q_targets(returns, discounts, next_q - alpha * next_logp)   # [B]


def sac_actor_loss(q_of_policy: torch.Tensor, logp: torch.Tensor, alpha: torch.Tensor | float) -> tuple[torch.Tensor, dict]:
    """L(θ) = mean_B [α·log π(ã|s) − min_k Q_φk(s, ã)], q_of_policy [K, B]."""
    loss = (alpha * logp - q_of_policy.min(dim=0).values).mean()
    return loss, {"actor_loss": loss.detach(), "entropy": -logp.detach().mean()}


def temperature_loss(log_alpha: torch.Tensor, logp: torch.Tensor, target_entropy: float) -> tuple[torch.Tensor, dict]:
    """L(α) = −mean_B log α · (log π(ã|s) + H̄): its gradient −(H̄ − H) lowers log α when the entropy
    H = −log π is above the target H̄ and raises it when below."""
    loss = -(log_alpha * (logp.detach() + target_entropy)).mean()
    return loss, {"alpha_loss": loss.detach()}


class Temperature(torch.nn.Module):
    """log α as a parameter (α = exp(log α) stays positive), saved in checkpoints like a network."""

    def __init__(self, alpha: float):
        super().__init__()
        self.log_alpha = torch.nn.Parameter(torch.full((1,), math.log(alpha)))
        self.log_alpha.grad = torch.zeros_like(self.log_alpha)


def train(envs, config: Config, steps: int, seed: int, logger, device=torch.device("cpu")) -> ActorAgent:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = envs.vector(config.n_envs, config.env_backend)
    n, obs_space, action_space = env.num_envs, env.single_observation_space, env.single_action_space
    target_entropy = -float(action_size(action_space)) if config.target_entropy is None else config.target_entropy
    tuned = config.alpha is None
    with built_on_cpu():   # then moved: the same initial weights on every device
        actor = SquashedGaussianActor(obs_space, action_size(action_space), config.net_arch)
        critic = QCritics(obs_space, action_size(action_space), config.net_arch, 2)   # twin critics
        temperature = Temperature(config.alpha_init if tuned else config.alpha)
    actor = Optimised(actor.to(device), config.lr, target=False)
    critic = Optimised(critic.to(device), config.lr)
    temperature.to(device)
    log_alpha = temperature.log_alpha
    alpha_optimizer = Adam(log_alpha, lr=config.lr)
    buffer = make_buffer(config, steps, env)
    scaler = ActionScaler(action_space)
    lr_final = config.lr if config.lr_final is None else config.lr_final
    counters = {"next_log": logger.every, "update_stats": {}}
    state = {"actor": actor.net, "critic": critic.net, "critic_target": critic.target,
             "actor_optimizer": actor.optimizer, "critic_optimizer": critic.optimizer,
             "temperature": temperature, "alpha_optimizer": alpha_optimizer, "rng": rng,
             "episodes": env.episodes, "buffer": buffer if config.checkpoint_replay else None, "counters": counters}
    agent = ActorAgent(actor.net, obs_space, action_space, config.net_arch, NAME)   # the live actor
    start = logger.begin(state, agent)
    learning_starts = config.learning_starts + (start if start and not config.checkpoint_replay else 0)

    obs = env.reset(seed=restart_seed(seed, start))
    for it in range(start // n + 1, -(-steps // n) + 1):
        steps_before, global_step = (it - 1) * n, it * n

        # COLLECT: a ~ π(·|s) (uniformly random actions before learning_starts)
        obs = collect(env, actor.net, obs, steps_before < learning_starts, rng, buffer, scaler)

        # UPDATE: α, the twin critics, the actor, then the critic targets, every gradient step
        if global_step > learning_starts and it % config.train_freq == 0:
            lr = linear_schedule(config.lr, lr_final, 1.0, steps_before / steps)
            actor.optimizer.lr = critic.optimizer.lr = alpha_optimizer.lr = lr
            bursts = []
            for _ in range(updates_per_burst(config, n)):
                obs_b, actions, returns, next_obs, discounts = batch_tensors(
                    buffer.sample(config.batch_size, rng, config.n_step, config.gamma), device)
                policy_actions, logp = actor.net.sample(obs_b)                   # ã ~ π(·|s), reparameterised
                alpha = log_alpha.detach().exp()
                stats = {}
                if tuned:   # L(α) = −log α · (log π(ã|s) + H̄)
                    loss, stats = temperature_loss(log_alpha, logp, target_entropy)
                    log_alpha.grad.zero_()
                    loss.backward()
                    alpha_optimizer.step()
                # y = r + γ(1 − terminated)(min_k Q_φk⁻(s', a') − α log π(a'|s')),  a' ~ π(·|s')
                with torch.no_grad():
                    next_actions, next_logp = actor.net.sample(next_obs)
                    targets = soft_targets(returns, discounts, critic.target(next_obs, next_actions), next_logp, alpha)
                loss, critic_stats = critic_loss(critic.net(obs_b, actions), targets)
                critic.step(loss, global_step)
                # L(θ) = α log π(ã|s) − min_k Q_φk(s, ã), the critics held fixed
                critic.net.requires_grad_(False)
                loss, actor_stats = sac_actor_loss(critic.net(obs_b, policy_actions), logp, alpha)
                critic.net.requires_grad_(True)
                actor.step(loss, global_step)
                critic.update_target(config.tau)
                bursts.append({**stats, **critic_stats, **actor_stats, "alpha": alpha[0],
                               "actor_saturation": saturation(policy_actions)})
            counters["update_stats"] = {**mean_stats(bursts), "lr": lr}

        # LOG
        if global_step >= counters["next_log"] or global_step >= steps:
            logger.log(global_step, {**env.episodes.pop(), **counters["update_stats"]})
            counters["next_log"] += logger.every
            if logger.checkpoint(global_step, state):
                obs = env.reset(seed=restart_seed(seed, global_step))
    env.close()
    return agent
