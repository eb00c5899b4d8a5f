"""Advantage actor-critic, A2C (Mnih et al. 2016, the synchronous variant): the seed's third rung.

    A_t = r_t + γ·V(s_{t+1}) − V(s_t)          (one step; n-step returns / GAE(λ) in general)
    loss = −E[log π_θ(a|s)·A] + c_v·E[(V(s) − G)²] − c_e·H[π_θ(·|s)]

The first term is REINFORCE's loss (reinforce.policy_gradient_loss) with the Monte Carlo return G
replaced by the advantage, which the critic V(s) makes far less noisy; the critic learns by regression
on the bootstrapped return G = A + V. One gradient step per rollout of `n_steps` × N envs.

Implementation details (Stable-Baselines3's defaults):
- actor and critic have two bodies by default, or share one (`shared_body`, the seed's picture; the
  default presets of CartPole, Acrobot and MountainCar do), two heads either way;
- advantages by GAE with λ = `gae_lambda` (1.0: n-step returns), bootstrapping from V(final obs) on
  truncation only; no advantage normalisation unless `normalize_advantage`;
- RMSprop (α 0.99, ε 1e-5) as in SB3, or Adam; global gradient-norm clipping 0.5;
- 4 envs unless a preset says otherwise (SB3 steps the envs it is given, usually 1): on the unseen
  tasks of benchmarks/unseen.py 8 envs left a 50k-step run too few updates (PointMass 0/5 → 5/5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rung.algos.ppo import PolicyAgent, explained_variance, supports
from rung.algos.reinforce import policy_gradient_loss
from rung.algos.tabular import linear_schedule
from rung.buffers import check_rollout_budget
from rung.config import param
from rung.devices import built_on_cpu
from rung.envs import BACKENDS
from rung.errors import RungError
from rung.nets import ActorCritic, FlatParameters
from rung.observations import as_tensor
from rung.optim import Adam, RMSprop
from rung.returns import gae, normalize_advantages

NAME = "a2c"
SPACES = ("obs: Box (vectors or uint8 images), Discrete or MultiDiscrete (one-hot), or a Dict / Tuple of these; "
          "actions: Discrete or MultiDiscrete (maskable), MultiBinary or Box; memory: recurrent: true")
USES_ENV_STEPS = True
ROLLOUT_WORKERS = True   # `--workers N`: Ray actors step the envs (rung.distributed)
ON_DEVICE = True        # networks: `--device`
__all__ = ["Config", "check", "supports", "train", "value_loss"]


@dataclass
class Config:
    lr: float = param(7e-4, "learning rate at the start", 0, None, low_inclusive=False)
    lr_final: float | None = param(None, "learning rate at the end, linear decay (None: constant)", 0)
    n_envs: int = param(4, "envs stepped together", 1)
    n_steps: int = param(5, "steps per env in each rollout (the n of n-step returns)", 1)
    gamma: float = param(0.99, "discount factor γ", 0, 1)
    gae_lambda: float = param(1.0, "GAE λ (1.0: plain n-step returns)", 0, 1)
    normalize_advantage: bool = param(False, "normalise advantages over each rollout")
    ent_coef: float = param(0.0, "entropy bonus coefficient c_e", 0)
    vf_coef: float = param(0.5, "value loss coefficient c_v", 0)
    max_grad_norm: float = param(0.5, "clip the global gradient norm to this", 0, None, low_inclusive=False)
    optimizer: str = param("rmsprop", "rmsprop (α 0.99, ε 1e-5, as SB3) or adam", choices=("rmsprop", "adam"))
    net_arch: tuple[int, ...] = param((64, 64), "hidden sizes of the MLP body")
    activation: str = param("tanh", "activation of the MLP body", choices=("tanh", "relu"))
    shared_body: bool = param(False, "actor and critic share one body (the seed's picture; presets use it where it "
                                     "measured better) or have two, as SB3's MlpPolicy")
    log_std_init: float = param(0.0, "initial log σ of the Gaussian policy in the env's action units (Box actions; "
                                            "capped at the box: rung.nets.initial_log_std)")
    ortho_init: bool = param(True, "orthogonal initialisation (gains √2 bodies, 0.01 actor, 1 critic), as SB3")
    normalize_obs: bool | None = param(None, "normalise observations by running mean/std (saved with the agent); "
                                             "None: on if 1,000 random steps find them badly scaled (config.json says)")
    normalize_reward: bool | None = param(None, "divide rewards by the running std of the discounted return; None: on "
                                                "if 1,000 random steps see |r| > 100 (config.json says)")
    recurrent: bool = param(False, "an LSTM between the encoder and the MLP body, for partially observed envs")
    lstm_size: int = param(64, "hidden units of the LSTM (recurrent: true)", 1)
    env_backend: str = param("auto", "vector env backend", choices=BACKENDS)


def check(config: Config, steps: int) -> list[str]:
    check_rollout_budget(config.n_envs, config.n_steps, steps)
    return []


def value_loss(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """E[(V(s) − G)²]: the critic's regression on the bootstrapped return."""
    return (values - returns).pow(2).mean()


def train(envs, config: Config, steps: int, seed: int, logger, device=torch.device("cpu")) -> PolicyAgent:
    if config.recurrent and envs.workers:
        raise RungError("a recurrent policy carries its memory between steps in this process: drop --workers")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    rollouts = envs.rollouts(config.n_envs, config.env_backend, config.n_steps, config.gamma, config.normalize_obs,
                             config.normalize_reward, seed)
    env = rollouts.env
    n, T = env.num_envs, config.n_steps
    obs_space, action_space = env.single_observation_space, env.single_action_space
    with built_on_cpu():   # then moved: the same initial weights on every device
        policy = ActorCritic(obs_space, action_space, config.net_arch, config.activation, config.shared_body,
                             config.log_std_init, config.ortho_init, normalize_obs=config.normalize_obs,
                             lstm_size=config.lstm_size if config.recurrent else None).to(device)
    flat = FlatParameters(policy)
    if config.optimizer == "rmsprop":
        optimizer = RMSprop(flat.param, lr=config.lr, alpha=0.99, eps=1e-5)
    else:
        optimizer = Adam(flat.param, lr=config.lr, eps=1e-5)
    buffer, action_shape = rollouts.buffer, rollouts.buffer.actions.shape[2:]
    lr_final = config.lr if config.lr_final is None else config.lr_final
    iterations = steps // (n * T)
    stats_sum, count = {}, 0

    state = {"policy": policy, "optimizer": optimizer, "rng": rng, "reward_scaler": rollouts.reward_scaler,
             "episodes": env.episodes}
    meta = {"net_arch": list(config.net_arch), "activation": config.activation, "shared_body": config.shared_body,
            "normalize_obs": config.normalize_obs, "lstm_size": config.lstm_size if config.recurrent else None}
    agent = PolicyAgent(policy, obs_space, action_space, meta, algo=NAME)   # acts with the live weights
    start = logger.begin(state, agent)
    rollouts.restart(start)
    for iteration in range(start // (n * T), iterations):
        optimizer.lr = lr = linear_schedule(config.lr, lr_final, 1.0, iteration / iterations)

        # COLLECT: T steps of N envs
        last_values = rollouts.collect(policy, rng)

        # ADVANTAGES: A = G − V(s) with G the n-step / GAE(λ) return
        advantages, returns = gae(buffer.rewards, buffer.values, buffer.next_values(last_values),
                                  buffer.terminated, buffer.truncated, config.gamma, config.gae_lambda)

        # UPDATE: one gradient step on the whole rollout (valid steps only; replayed from its first state
        # through the LSTM when the policy remembers)
        valid = buffer.valid.reshape(-1)
        keep = as_tensor(valid, device)
        masks = None if buffer.masks is None else as_tensor(buffer.masks.reshape(n * T, -1)[valid], device)
        if policy.lstm is None:
            dist, values = policy(as_tensor(buffer.obs.reshape(n * T, *buffer.obs.shape[2:])[valid], device), masks)
        else:
            dist, values, _ = policy.sequence(as_tensor(buffer.obs.reshape(n * T, *buffer.obs.shape[2:]), device),
                                              buffer.first_memory, as_tensor(buffer.starts, device), masks, keep=keep)
        actions = as_tensor(buffer.actions.reshape(n * T, *action_shape)[valid], device)
        adv = as_tensor(advantages.reshape(-1)[valid], device)
        if config.normalize_advantage and len(adv) > 1:
            adv = normalize_advantages(adv, float(np.std(returns[buffer.valid])))
        # REINFORCE's −E[log π(a|s)·w] with w = A
        policy_loss, stats = policy_gradient_loss(dist.log_prob(actions), adv)
        v_loss = value_loss(values, as_tensor(returns.reshape(-1)[valid], device))
        entropy = dist.entropy().mean()
        loss = policy_loss + config.vf_coef * v_loss - config.ent_coef * entropy
        grad_norm = flat.apply(loss, optimizer, config.max_grad_norm, (iteration + 1) * n * T)
        for key, value in {**stats, "value_loss": v_loss.detach(), "entropy": entropy.detach(),
                           "grad_norm": grad_norm}.items():
            stats_sum[key] = stats_sum.get(key, 0.0) + float(value)
        count += 1

        if policy.obs_norm is not None:  # only now, so π_θold and π_θ saw identically normalised inputs
            policy.obs_norm.update(as_tensor(buffer.obs[buffer.valid], device))

        # LOG (every logger.every env steps: one update is too small to log alone)
        global_step = (iteration + 1) * n * T
        if global_step // logger.every != (global_step - n * T) // logger.every or iteration == iterations - 1:
            logger.log(global_step, {**env.episodes.pop(), **{k: v / count for k, v in stats_sum.items()},
                                     "explained_variance": explained_variance(buffer.values[buffer.valid],
                                                                              returns[buffer.valid]),
                                     "learning_rate": lr})
            stats_sum, count = {}, 0
            if logger.checkpoint(global_step, state):
                rollouts.restart(global_step)
    rollouts.close()
    return agent
