"""Deep Deterministic Policy Gradient (Lillicrap et al. 2016): the DQN rung for continuous actions.
A table or a Q-network cannot take max_a over a continuous action (a robot's joint torques), so an
actor μ_θ(s) learns to output the maximising action and the critic Q_φ scores it, fusing the
actor-critic rung with DQN's replay buffer and target networks:

    y = r + γ · (1 − terminated) · Q_φ⁻(s', μ_θ⁻(s'))      (a time-limit truncation bootstraps)
    L(φ) = (Q_φ(s, a) − y)²                                 the critic: Q-learning's TD regression
    L(θ) = −Q_φ(s, μ_θ(s))                                  the actor climbs the critic's surface
    θ⁻ ← τθ + (1 − τ)θ⁻,  φ⁻ ← τφ + (1 − τ)φ⁻              Polyak-averaged targets, every update

Off-policy: every transition stays in the replay buffer and is reused by many updates, which a policy
gradient cannot do (it needs samples from the current π).

Implementation details (Stable-Baselines3's meanings, so that its configs carry over):
- the actor works in the unit box [−1, 1]^A (tanh output); rung.envs.ActionScaler maps actions to the
  env's bounds, asymmetric ones included, and the buffer stores the unit-box actions;
- exploration: μ_θ(s) + N(0, action_noise²), clipped to the box; uniformly random actions while fewer
  than `learning_starts` env steps were taken;
- every `train_freq` vector steps, `gradient_steps` updates (−1: one per env transition collected);
- the replay buffer, the flat parameters, Adam and the target update are the DQN rung's
  (rung.buffers.ReplayBuffer, rung.nets.FlatParameters, rung.optim.Adam, dqn.polyak_update);
- no gradient clipping (SB3 has none for this family); one learning rate for actor and critic.
The pieces here (networks, collection, the agent) are what TD3 (rung.algos.td3) and SAC build on.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from gymnasium import spaces
from safetensors.torch import load_file, save_file

from rung.algos import dqn
from rung.algos.dqn import polyak_update
from rung.algos.tabular import linear_schedule
from rung.buffers import ReplayBatch, ReplayBuffer
from rung.checkpoint import restart_seed
from rung.config import param
from rung.devices import built_on_cpu, device_of
from rung.envs import BACKENDS, ActionScaler, space_from_json, space_to_json
from rung.nets import DeterministicActor, FlatParameters, QCritics, SquashedGaussianActor
from rung.observations import as_tensor, layout, one_batch, unsupported
from rung.optim import Adam
from rung.runs import AGENT_FILE, write_json

NAME = "ddpg"
SPACES = ("obs: Box (vectors, or uint8 images with a CNN sized to them), Discrete or MultiDiscrete (one-hot), "
          "or a Dict / Tuple of these; actions: Box with finite bounds")
USES_ENV_STEPS = True
ROLLOUT_WORKERS = False  # it learns between env steps: nothing to hand to rollout workers
ON_DEVICE = True        # networks: `--device`
SATURATED = 0.99         # |μ| above this in the unit box: the actor sits at an action bound


@dataclass
class Config:
    lr: float = param(1e-3, "Adam learning rate of the actor and the critic", 0, None, low_inclusive=False)
    lr_final: float | None = param(None, "learning rate at the end of training, linear decay (None: constant)", 0)
    buffer_size: int = param(1_000_000, "replay buffer capacity, in transitions", 1)
    learning_starts: int = param(100, "env steps of uniformly random actions before learning starts", 0)
    batch_size: int = param(256, "transitions per gradient step", 1)
    tau: float = param(0.005, "Polyak rate τ of the targets: θ⁻ ← τθ + (1 − τ)θ⁻", 0, 1, low_inclusive=False)
    gamma: float = param(0.99, "discount factor γ", 0, 1)
    train_freq: int = param(1, "vector steps between bursts of gradient steps", 1)
    gradient_steps: int = param(1, "gradient steps per burst (-1: one per env transition collected)", -1)
    action_noise: float = param(0.1, "σ of the Gaussian exploration noise, in the unit action box", 0)
    n_step: int = param(1, "n of the n-step return in the target", 1)
    net_arch: tuple[int, ...] = param((400, 300), "hidden sizes of the actor's and the critic's MLPs")
    n_envs: int = param(1, "number of envs stepped together", 1)
    env_backend: str = param("auto", "vector env backend", choices=BACKENDS)
    checkpoint_replay: bool = param(True, "keep the replay buffer in checkpoints (resume is exact only with it)")


def supports(env) -> str | None:
    space = env.action_space
    if not isinstance(space, spaces.Box):
        return f"action space {space} is not a Box (the actor outputs continuous actions)"
    if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        return f"action space {space} has infinite bounds (the actor's tanh output is mapped onto finite ones)"
    return unsupported(env.observation_space)


# the same budget checks as DQN's: no update ever, or mostly random play (the fields mean the same)
check = dqn.check


def bootstrap_targets(returns: torch.Tensor, discounts: torch.Tensor, next_q: torch.Tensor) -> torch.Tensor:
    """y = G + γ^m · Q⁻(s', a'), where the replay buffer's `discounts` hold γ^m, or 0 when the episode
    terminated within the m steps (a truncation keeps γ^m: the state was not terminal)."""
    return returns + discounts * next_q                                           # [B]


def critic_loss(q: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """L(φ) = Σ_k mean_B (Q_φk(s, a) − y)² over the K critics q [K, B] (K = 1 for DDPG, 2 for TD3 and SAC)."""
    per_critic = ((q - targets) ** 2).mean(dim=1)                                 # [K]
    stats = {f"qf{k + 1}_values": q[k].detach().mean() for k in range(len(q))}
    stats.update({f"qf{k + 1}_loss": per_critic[k].detach() for k in range(len(q))})
    return per_critic.sum(), stats


def actor_loss(q_of_policy: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """L(θ) = −mean_B Q_φ(s, μ_θ(s)): the critic's gradient in a, pushed back into the actor."""
    loss = -q_of_policy.mean()
    return loss, {"actor_loss": loss.detach()}


def action_size(space: spaces.Box) -> int:
    return int(np.prod(space.shape))


def make_buffer(config, steps: int, env) -> ReplayBuffer:
    """A replay buffer of unit-box actions, flat [A] float32."""
    return ReplayBuffer(min(config.buffer_size, steps), env.num_envs, *layout(env.single_observation_space),
                        (action_size(env.single_action_space),), np.float32)


class Optimised:
    """A network as the learner holds it: its flat parameters, their Adam, and (with `target`) a frozen
    copy for the targets, also flat so that a Polyak update is one lerp over one tensor."""

    def __init__(self, net: torch.nn.Module, lr: float, target: bool = True):
        self.target = copy.deepcopy(net).requires_grad_(False) if target else None
        self.net, self.flat = net, FlatParameters(net)
        self.target_flat = FlatParameters(self.target) if target else None
        self.optimizer = Adam(self.flat.param, lr=lr)

    def step(self, loss: torch.Tensor, step: int) -> None:
        self.flat.apply(loss, self.optimizer, None, step)

    def update_target(self, tau: float) -> None:
        polyak_update(self.target_flat.param, self.flat.param, tau)


def collect(env, actor, obs, random_actions: bool, rng: np.random.Generator, buffer: ReplayBuffer,
            scaler: ActionScaler):
    """One vector step: uniformly random unit-box actions (`random_actions`), else the actor's exploring
    ones; the buffer stores the unit-box action, the env gets it mapped to its bounds. Returns s'."""
    n, shape = env.num_envs, env.single_action_space.shape
    if random_actions:
        actions = rng.uniform(-1.0, 1.0, (n, buffer.actions.shape[-1])).astype(np.float32)
    else:
        with torch.inference_mode():
            actions = actor.explore(as_tensor(obs, device_of(actor))).cpu().numpy()   # [N, A]
    next_obs, rewards, terminated, truncated, valid = env.step(scaler(actions.reshape(n, *shape)))
    buffer.add(obs, actions, rewards, next_obs, terminated, truncated, valid)
    return next_obs


def batch_tensors(batch: ReplayBatch, device: torch.device):
    """(s, a, G, s', γ^m) of a replay batch as tensors on `device` (on the CPU without copies where NumPy
    allows)."""
    return tuple(as_tensor(array, device) for array in (batch.obs, batch.actions, batch.returns, batch.next_obs,
                                                        batch.discounts))


def updates_per_burst(config, n_envs: int) -> int:
    return config.gradient_steps if config.gradient_steps > 0 else config.train_freq * n_envs


def mean_stats(bursts: list[dict]) -> dict[str, float]:
    return {key: float(sum(stats[key] for stats in bursts)) / len(bursts) for key in bursts[0]}


def saturation(actions: torch.Tensor) -> torch.Tensor:
    """Fraction of action components within 1 % of a bound of the unit box."""
    return (actions.detach().abs() > SATURATED).float().mean()


class ActorAgent:
    """Acts with an actor: its deterministic action (μ(s), or tanh of the Gaussian's mean for SAC), or its
    exploring one when not `deterministic`, mapped to the env's bounds."""

    ACTORS: ClassVar[dict] = {"deterministic": DeterministicActor, "squashed_gaussian": SquashedGaussianActor}

    def __init__(self, actor, obs_space: spaces.Space, action_space: spaces.Box, net_arch: tuple, algo: str):
        self.actor, self.obs_space, self.action_space, self.net_arch, self.algo = actor, obs_space, action_space, net_arch, algo
        self.scaler = ActionScaler(action_space)
        self.env_id, self.env_kwargs, self.wrappers = "", {}, []

    def act(self, obs, deterministic: bool = True, action_mask=None) -> np.ndarray:
        return self.act_batch(one_batch(obs, self.obs_space), deterministic)[0]

    @torch.inference_mode()
    def act_batch(self, obs: np.ndarray, deterministic: bool = True, action_masks=None) -> np.ndarray:
        x = as_tensor(obs, device_of(self.actor))
        actions = self.actor(x) if deterministic else self.actor.explore(x)            # [N, A] in [−1, 1]
        return self.scaler(actions.cpu().numpy().reshape(len(actions), *self.action_space.shape))

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file(self.actor.state_dict(), str(directory / "agent.safetensors"))
        kind = next(name for name, cls in self.ACTORS.items() if isinstance(self.actor, cls))
        meta = {"algo": self.algo, "kind": "actor", "actor": kind, "net_arch": list(self.net_arch),
                "noise_std": getattr(self.actor, "noise_std", None),
                "obs_space": space_to_json(self.obs_space), "action_space": space_to_json(self.action_space),
                "env_id": self.env_id, "env_kwargs": self.env_kwargs, "wrappers": self.wrappers}
        write_json(directory / AGENT_FILE, meta)

    @classmethod
    def load(cls, directory: str | Path) -> "ActorAgent":
        directory = Path(directory)
        meta = json.loads((directory / AGENT_FILE).read_text())
        obs_space, action_space = space_from_json(meta["obs_space"]), space_from_json(meta["action_space"])
        net_arch, size = tuple(meta["net_arch"]), action_size(action_space)
        with built_on_cpu():   # agents load on the CPU, whichever device they were trained on
            if meta["actor"] == "deterministic":
                actor = DeterministicActor(obs_space, size, net_arch, meta["noise_std"])
            else:
                actor = SquashedGaussianActor(obs_space, size, net_arch)
        actor.load_state_dict(load_file(str(directory / "agent.safetensors")))
        agent = cls(actor, obs_space, action_space, net_arch, meta["algo"])
        agent.env_id, agent.env_kwargs, agent.wrappers = meta["env_id"], meta["env_kwargs"], meta.get("wrappers", [])
        return agent


def train(envs, config: Config, steps: int, seed: int, logger, device=torch.device("cpu")) -> ActorAgent:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = envs.vector(config.n_envs, config.env_backend)
    n, obs_space, action_space = env.num_envs, env.single_observation_space, env.single_action_space
    with built_on_cpu():   # then moved: the same initial weights on every device
        actor = DeterministicActor(obs_space, action_size(action_space), config.net_arch, config.action_noise)
        critic = QCritics(obs_space, action_size(action_space), config.net_arch, 1)
    actor, critic = Optimised(actor.to(device), config.lr), Optimised(critic.to(device), config.lr)
    buffer = make_buffer(config, steps, env)
    scaler = ActionScaler(action_space)
    lr_final = config.lr if config.lr_final is None else config.lr_final
    counters = {"next_log": logger.every, "update_stats": {}}
    state = {"actor": actor.net, "critic": critic.net, "actor_target": actor.target, "critic_target": critic.target,
             "actor_optimizer": actor.optimizer, "critic_optimizer": critic.optimizer, "rng": rng,
             "episodes": env.episodes, "buffer": buffer if config.checkpoint_replay else None, "counters": counters}
    agent = ActorAgent(actor.net, obs_space, action_space, config.net_arch, NAME)   # the live actor
    start = logger.begin(state, agent)
    # resumed without its replay buffer: fill it again before learning
    learning_starts = config.learning_starts + (start if start and not config.checkpoint_replay else 0)

    obs = env.reset(seed=restart_seed(seed, start))
    for it in range(start // n + 1, -(-steps // n) + 1):
        steps_before, global_step = (it - 1) * n, it * n

        # COLLECT: μ_θ(s) + Gaussian noise (uniformly random actions before learning_starts)
        obs = collect(env, actor.net, obs, steps_before < learning_starts, rng, buffer, scaler)

        # UPDATE: a burst of gradient steps every train_freq vector steps, once past learning_starts
        if global_step > learning_starts and it % config.train_freq == 0:
            actor.optimizer.lr = critic.optimizer.lr = lr = linear_schedule(config.lr, lr_final, 1.0, steps_before / steps)
            bursts = []
            for _ in range(updates_per_burst(config, n)):
                obs_b, actions, returns, next_obs, discounts = batch_tensors(
                    buffer.sample(config.batch_size, rng, config.n_step, config.gamma), device)
                # y = r + γ(1 − terminated) Q_φ⁻(s', μ_θ⁻(s'))
                with torch.no_grad():
                    targets = bootstrap_targets(returns, discounts, critic.target(next_obs, actor.target(next_obs))[0])
                loss, stats = critic_loss(critic.net(obs_b, actions), targets)
                critic.step(loss, global_step)
                # L(θ) = −Q_φ(s, μ_θ(s)); the critic is held fixed (no gradient into φ)
                policy_actions = actor.net(obs_b)
                critic.net.requires_grad_(False)
                loss, actor_stats = actor_loss(critic.net(obs_b, policy_actions)[0])
                critic.net.requires_grad_(True)
                actor.step(loss, global_step)
                actor.update_target(config.tau)
                critic.update_target(config.tau)
                bursts.append({**stats, **actor_stats, "actor_saturation": saturation(policy_actions)})
            counters["update_stats"] = {**mean_stats(bursts), "lr": lr}

        # LOG
        if global_step >= counters["next_log"] or global_step >= steps:
            logger.log(global_step, {**env.episodes.pop(), **counters["update_stats"]})
            counters["next_log"] += logger.every
            if logger.checkpoint(global_step, state):
                obs = env.reset(seed=restart_seed(seed, global_step))
    env.close()
    return agent
