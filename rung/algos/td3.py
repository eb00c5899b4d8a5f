"""Twin Delayed DDPG (Fujimoto et al. 2018): DDPG (rung.algos.ddpg) with three changes against the
critic's overestimation, which the actor would otherwise exploit (it climbs to wherever Q is too high):

1. clipped double-Q: two critics, and the target takes the smaller of their two estimates,
       y = r + γ · (1 − terminated) · min_k Q_φk⁻(s', ã')
2. target policy smoothing: the target action is the target actor's plus clipped noise, so that
   the target averages Q over a small neighbourhood instead of trusting one sharp peak,
       ã' = clip(μ_θ⁻(s') + clip(ε, −c, c), −1, 1),   ε ~ N(0, σ̃²)
3. delayed policy updates: the actor and both targets move once every `policy_delay` critic updates,
   so that the actor climbs a critic whose errors have had time to shrink;
       L(θ) = −Q_φ1(s, μ_θ(s))   (the first critic, as in the paper)

Everything else is DDPG's: the networks, collection, the agent, the replay buffer and the flat Adam.
Stable-Baselines3's defaults: policy_delay 2, target_policy_noise 0.2, target_noise_clip 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rung.algos import ddpg
from rung.algos.ddpg import (ActorAgent, Optimised, action_size, actor_loss, batch_tensors, bootstrap_targets,
                             collect, critic_loss, make_buffer, mean_stats, saturation, updates_per_burst)
from rung.algos.tabular import linear_schedule
from rung.checkpoint import restart_seed
from rung.config import param
from rung.devices import built_on_cpu
from rung.envs import ActionScaler
from rung.nets import DeterministicActor, QCritics

NAME = "td3"
SPACES = ddpg.SPACES
USES_ENV_STEPS = True
ROLLOUT_WORKERS = False
ON_DEVICE = True
supports, check = ddpg.supports, ddpg.check


@dataclass
class Config(ddpg.Config):
    """DDPG's settings plus the three of TD3."""
    policy_delay: int = param(2, "critic updates per actor (and target) update", 1)
    target_policy_noise: float = param(0.2, "σ̃ of the smoothing noise on the target action (unit box)", 0)
    target_noise_clip: float = param(0.5, "c: the smoothing noise is clipped to ±c", 0)


def smoothed_target_actions(actions: torch.Tensor, noise_std: float, noise_clip: float) -> torch.Tensor:
    """ã' = clip(μ_θ⁻(s') + clip(ε, −c, c), −1, 1), ε ~ N(0, σ̃²) from torch's RNG."""
    noise = (torch.randn_like(actions) * noise_std).clamp(-noise_clip, noise_clip)   # [B, A]
    return (actions + noise).clamp(-1.0, 1.0)


def clipped_double_q_targets(returns: torch.Tensor, discounts: torch.Tensor, next_q: torch.Tensor) -> torch.Tensor:
    """y = G + γ^m · min_k Q_φk⁻(s', ã'), with next_q [K, B] from the K target critics."""
    return bootstrap_targets(returns, discounts, next_q.min(dim=0).values)            # [B]


def train(envs, config: Config, steps: int, seed: int, logger, device=torch.device("cpu")) -> ActorAgent:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = envs.vector(config.n_envs, config.env_backend)
    n, obs_space, action_space = env.num_envs, env.single_observation_space, env.single_action_space
    with built_on_cpu():   # then moved: the same initial weights on every device
        actor = DeterministicActor(obs_space, action_size(action_space), config.net_arch, config.action_noise)
        critic = QCritics(obs_space, action_size(action_space), config.net_arch, 2)   # twin critics
    actor, critic = Optimised(actor.to(device), config.lr), Optimised(critic.to(device), config.lr)
    buffer = make_buffer(config, steps, env)
    scaler = ActionScaler(action_space)
    lr_final = config.lr if config.lr_final is None else config.lr_final
    counters = {"next_log": logger.every, "update_stats": {}, "critic_updates": 0}
    state = {"actor": actor.net, "critic": critic.net, "actor_target": actor.target, "critic_target": critic.target,
             "actor_optimizer": actor.optimizer, "critic_optimizer": critic.optimizer, "rng": rng,
             "episodes": env.episodes, "buffer": buffer if config.checkpoint_replay else None, "counters": counters}
    agent = ActorAgent(actor.net, obs_space, action_space, config.net_arch, NAME)   # the live actor
    start = logger.begin(state, agent)
    learning_starts = config.learning_starts + (start if start and not config.checkpoint_replay else 0)
    actor_stats = {}

    obs = env.reset(seed=restart_seed(seed, start))
    for it in range(start // n + 1, -(-steps // n) + 1):
        steps_before, global_step = (it - 1) * n, it * n

        # COLLECT: μ_θ(s) + Gaussian noise (uniformly random actions before learning_starts)
        obs = collect(env, actor.net, obs, steps_before < learning_starts, rng, buffer, scaler)

        # UPDATE: the critics every gradient step; the actor and the targets every policy_delay of them
        if global_step > learning_starts and it % config.train_freq == 0:
            actor.optimizer.lr = critic.optimizer.lr = lr = linear_schedule(config.lr, lr_final, 1.0, steps_before / steps)
            bursts = []
            for _ in range(updates_per_burst(config, n)):
                obs_b, actions, returns, next_obs, discounts = batch_tensors(
                    buffer.sample(config.batch_size, rng, config.n_step, config.gamma), device)
                # y = r + γ(1 − terminated) min_k Q_φk⁻(s', ã'),  ã' = clip(μ_θ⁻(s') + clip(ε, −c, c), −1, 1)
                with torch.no_grad():
                    next_actions = smoothed_target_actions(actor.target(next_obs), config.target_policy_noise,
                                                           config.target_noise_clip)
                    targets = clipped_double_q_targets(returns, discounts, critic.target(next_obs, next_actions))
                loss, stats = critic_loss(critic.net(obs_b, actions), targets)
                critic.step(loss, global_step)
                counters["critic_updates"] += 1
                if counters["critic_updates"] % config.policy_delay == 0:
                    # L(θ) = −Q_φ1(s, μ_θ(s)), the critics held fixed
                    policy_actions = actor.net(obs_b)
                    critic.net.requires_grad_(False)
                    loss, actor_stats = actor_loss(critic.net(obs_b, policy_actions)[0])
                    critic.net.requires_grad_(True)
                    actor.step(loss, global_step)
                    actor.update_target(config.tau)
                    critic.update_target(config.tau)
                    actor_stats["actor_saturation"] = saturation(policy_actions)
                bursts.append({**stats, **actor_stats})
            counters["update_stats"] = {**mean_stats(bursts), "lr": lr}

        # LOG
        if global_step >= counters["next_log"] or global_step >= steps:
            logger.log(global_step, {**env.episodes.pop(), **counters["update_stats"]})
            counters["next_log"] += logger.every
            if logger.checkpoint(global_step, state):
                obs = env.reset(seed=restart_seed(seed, global_step))
    env.close()
    return agent
