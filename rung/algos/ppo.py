"""Proximal Policy Optimization (Schulman et al. 2017): the seed's fourth rung.

    r_t(θ) = π_θ(a|s) / π_θold(a|s)
    L_clip = E[ min( r_t·A_t, clip(r_t, 1 − ε, 1 + ε)·A_t ) ]        (maximised)
    loss   = −L_clip + c_v·E[(V(s) − G)²] − c_e·H[π_θ(·|s)]

Advantages A_t by GAE(λ) (rung.returns.gae), returns G = A + V. Each rollout is reused for
`n_epochs` passes of minibatches; the clip keeps every step inside a trust region around π_θold.

Implementation details (those of Stable-Baselines3 / CleanRL unless said):
- N envs × `n_steps` per rollout; next-step autoreset's reset steps are excluded from every loss;
- terminated: no bootstrap; truncated: GAE bootstraps from V(final obs);
- advantages normalised per minibatch (`normalize_advantage`), but not stretched once their spread is under a
  hundredth of the returns' (rung.returns.normalize_advantages: no late collapse); optional value clipping (`clip_value`);
- learning rate and ε anneal linearly to `lr_final` / `clip_eps_final` when those are set;
- global gradient-norm clipping; Adam (eps 1e-5); the epochs stop early once the approximate KL (k3)
  of a minibatch from π_θold exceeds `target_kl` (0.05 by default, a guard against the one over-aggressive
  update; SB3 and CleanRL default to no stop, and every preset pins `target_kl: null` as measured);
- optional observation normalisation (running mean/std inside the network, so saved with the agent
  and frozen in evaluation) and reward scaling by the running std of the discounted return;
- Box actions: Gaussian with state-independent log σ in a unit box mapped to the env's bounds
  (rung.envs.ActionScaler); the unclipped sample is stored for log π.
Logged: policy_loss, value_loss, entropy, approx_kl (k3), old_approx_kl (k1), clipfrac,
explained_variance, grad_norm, learning_rate, clip_eps, episodic_return/length, SPS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from gymnasium import spaces
from safetensors.torch import load_file, save_file

from rung.algos.tabular import linear_schedule
from rung.buffers import check_rollout_budget
from rung.config import param
from rung.devices import built_on_cpu, device_of
from rung.envs import BACKENDS, ActionScaler, space_from_json, space_to_json
from rung.errors import RungError
from rung.nets import ActorCritic, FlatParameters
from rung.observations import as_tensor, one_batch, unsupported
from rung.optim import Adam
from rung.returns import gae, normalize_advantages
from rung.runs import AGENT_FILE, write_json

NAME = "ppo"
SPACES = ("obs: Box (vectors or uint8 images), Discrete or MultiDiscrete (one-hot), or a Dict / Tuple of these; "
          "actions: Discrete or MultiDiscrete (maskable), MultiBinary or Box; memory: recurrent: true")
USES_ENV_STEPS = True
ROLLOUT_WORKERS = True   # `--workers N`: Ray actors step the envs (rung.distributed)
ON_DEVICE = True        # networks: `--device`


@dataclass
class Config:
    lr: float = param(3e-4, "Adam learning rate at the start", 0, None, low_inclusive=False)
    lr_final: float | None = param(None, "learning rate at the end, linear decay (None: constant)", 0)
    n_envs: int = param(8, "envs stepped together", 1)
    n_steps: int = param(256, "steps per env in each rollout", 1)
    batch_size: int = param(64, "minibatch size", 1)
    n_epochs: int = param(10, "passes over each rollout", 1)
    gamma: float = param(0.99, "discount factor γ", 0, 1)
    gae_lambda: float = param(0.95, "GAE λ: 0 is the one-step TD error, 1 the Monte Carlo return", 0, 1)
    clip_eps: float = param(0.2, "PPO clip ε: the ratio is kept in [1 − ε, 1 + ε]", 0, None, low_inclusive=False)
    clip_eps_final: float | None = param(None, "clip ε at the end, linear decay (None: constant)", 0)
    clip_value: float | None = param(None, "clip V's change per update to ± this (None: no value clipping)", 0)
    normalize_advantage: bool = param(True, "normalise advantages in each minibatch")
    ent_coef: float = param(0.0, "entropy bonus coefficient c_e", 0)
    vf_coef: float = param(0.5, "value loss coefficient c_v", 0)
    max_grad_norm: float = param(0.5, "clip the global gradient norm to this", 0, None, low_inclusive=False)
    target_kl: float | None = param(0.05, "stop the epochs early once a minibatch's approx_kl exceeds this (None: "
                                             "never)", 0, low_inclusive=False)
    net_arch: tuple[int, ...] = param((64, 64), "hidden sizes of the MLP bodies")
    activation: str = param("tanh", "activation of the MLP bodies", choices=("tanh", "relu"))
    shared_body: bool = param(False, "actor and critic share one body (else two bodies, as SB3's MlpPolicy)")
    log_std_init: float = param(0.0, "initial log σ of the Gaussian policy in the env's action units (Box actions; "
                                            "capped at the box: rung.nets.initial_log_std)")
    ortho_init: bool = param(True, "orthogonal initialisation (gains √2 bodies, 0.01 actor, 1 critic), as SB3")
    normalize_obs: bool | None = param(None, "normalise observations by running mean/std (saved with the agent); "
                                             "None: on if 1,000 random steps find them badly scaled (config.json says)")
    normalize_reward: bool | None = param(None, "divide rewards by the running std of the discounted return; None: on "
                                                "if 1,000 random steps see |r| > 100 (config.json says)")
    recurrent: bool = param(False, "an LSTM between the encoder and the MLP bodies, for partially observed envs; minibatches "
                                   "are whole env rollouts (batch_size // n_steps envs each)")
    lstm_size: int = param(64, "hidden units of the LSTM (recurrent: true)", 1)
    env_backend: str = param("auto", "vector env backend", choices=BACKENDS)


def supports(env) -> str | None:
    if unsupported(env.observation_space):
        return unsupported(env.observation_space)
    if not isinstance(env.action_space, (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, spaces.Box)):
        return f"action space {env.action_space} is not Discrete, MultiDiscrete, MultiBinary or Box"
    return None


def check(config: Config, steps: int) -> list[str]:
    check_rollout_budget(config.n_envs, config.n_steps, steps)
    rollout = config.n_envs * config.n_steps
    if config.batch_size > rollout:
        return [f"batch_size={config.batch_size} is larger than a rollout ({rollout}): one minibatch per epoch"]
    return []


def clipped_surrogate_loss(logp: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor,
                           clip_eps: float) -> tuple[torch.Tensor, dict]:
    """−E[min(r·A, clip(r, 1 − ε, 1 + ε)·A)], with r = π_θ/π_θold; also the KL estimators and clip fraction."""
    log_ratio = logp - logp_old                                                   # [B]
    # r_t(θ) = π_θ(a|s) / π_θold(a|s)
    ratio = log_ratio.exp()                                                       # [B]
    # L = E[min(r·A, clip(r, 1−ε, 1+ε)·A)]
    surrogate = torch.min(ratio * advantages, ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantages)
    with torch.no_grad():
        stats = {"approx_kl": ((ratio - 1) - log_ratio).mean(),                  # k3 = E[(r − 1) − log r]
                 "old_approx_kl": (-log_ratio).mean(),                            # k1 = E[−log r]
                 "clipfrac": ((ratio - 1).abs() > clip_eps).float().mean()}
    return -surrogate.mean(), stats


def value_loss(values: torch.Tensor, values_old: torch.Tensor, returns: torch.Tensor,
               clip_value: float | None) -> torch.Tensor:
    """E[(V(s) − G)²] as in A2C (Stable-Baselines3's scale, so vf_coef carries over); with clipping, per
    sample the larger of that and the error of V_old + clip(V − V_old, ±c)."""
    loss = (values - returns).pow(2)                                              # [B]
    if clip_value is not None:
        clipped = values_old + (values - values_old).clamp(-clip_value, clip_value)
        loss = torch.max(loss, (clipped - returns).pow(2))
    return loss.mean()


def explained_variance(predicted: np.ndarray, target: np.ndarray) -> float:
    """1 − Var[G − V] / Var[G]: 1 is a perfect critic, 0 no better than a constant, < 0 worse."""
    var = np.var(target)
    return float("nan") if var == 0 else float(1 - np.var(target - predicted) / var)


class PolicyAgent:
    """Acts with an ActorCritic: the mode of π (deterministic) or a sample, mapped to the env's bounds."""

    def __init__(self, policy: ActorCritic, obs_space: spaces.Box, action_space: spaces.Space, meta: dict,
                 algo: str = NAME):
        self.policy, self.obs_space, self.action_space, self.meta, self.algo = policy, obs_space, action_space, meta, algo
        self.scaler = ActionScaler(action_space)
        self.env_id, self.env_kwargs, self.wrappers = "", {}, []
        self.memory, self.starts = None, None   # a recurrent policy's state per env, between calls

    def act(self, obs, deterministic: bool = True, action_mask: np.ndarray | None = None):
        masks = None if action_mask is None else np.asarray(action_mask, dtype=bool)[None]
        action = self.act_batch(one_batch(obs, self.obs_space), deterministic, masks)[0]
        return int(action) if isinstance(self.action_space, spaces.Discrete) else action

    @torch.inference_mode()
    def act_batch(self, obs: np.ndarray, deterministic: bool = True, action_masks: np.ndarray | None = None) -> np.ndarray:
        """The mode of π(·|s) (a sample when not `deterministic`), over the legal actions only when
        `action_masks` are given (rung.masks)."""
        device = device_of(self.policy)
        masks = None if action_masks is None else as_tensor(np.asarray(action_masks), device)
        if self.policy.lstm is None:
            dist, _ = self.policy(as_tensor(obs, device), masks)
        else:   # each env's memory carried from call to call, forgotten where begin_episodes says
            if self.memory is None or self.memory[0].shape[1] != len(obs):
                self.memory, self.starts = self.policy.initial_state(len(obs)), np.ones(len(obs), dtype=bool)
            dist, _, self.memory = self.policy.sequence(as_tensor(obs, device), self.memory,
                                                        as_tensor(self.starts, device)[None], masks)
            self.starts = np.zeros(len(obs), dtype=bool)
        return self.scaler((dist.mode if deterministic else dist.sample()).cpu().numpy())

    def begin_episodes(self, starts: np.ndarray) -> None:
        """The envs (a bool per env) whose next observation begins an episode: a recurrent policy's memory
        of them is zeroed before it acts there (rung.evaluate calls this; feed-forward policies ignore it)."""
        if self.starts is not None and len(self.starts) == len(starts):
            self.starts = self.starts | starts

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file(self.policy.state_dict(), str(directory / "agent.safetensors"))
        meta = {"algo": self.algo, "kind": "actor_critic", **self.meta,
                "obs_space": space_to_json(self.obs_space), "action_space": space_to_json(self.action_space),
                "env_id": self.env_id, "env_kwargs": self.env_kwargs,
                "wrappers": self.wrappers}
        write_json(directory / AGENT_FILE, meta)

    @classmethod
    def load(cls, directory: str | Path) -> "PolicyAgent":
        directory = Path(directory)
        meta = json.loads((directory / AGENT_FILE).read_text())
        obs_space, action_space = space_from_json(meta["obs_space"]), space_from_json(meta["action_space"])
        net = {k: meta.get(k) for k in ("net_arch", "activation", "shared_body", "normalize_obs", "lstm_size")}
        with built_on_cpu():   # agents load on the CPU, whichever device they were trained on
            policy = ActorCritic(obs_space, action_space, tuple(net["net_arch"]), net["activation"], net["shared_body"],
                                 normalize_obs=net["normalize_obs"], lstm_size=net["lstm_size"])
        policy.load_state_dict(load_file(str(directory / "agent.safetensors")))
        agent = cls(policy, obs_space, action_space, net, meta["algo"])
        agent.env_id, agent.env_kwargs, agent.wrappers = meta["env_id"], meta["env_kwargs"], meta.get("wrappers", [])
        return agent


def minibatches(policy: ActorCritic, buffer, b_obs, b_masks, batch_size: int, rng: np.random.Generator):
    """One epoch's minibatches: (indices into the valid steps, (π, V) on them). Feed-forward: shuffled
    steps, `batch_size` at a time. Recurrent: shuffled envs, batch_size // T at a time, each env's whole
    rollout replayed through the LSTM from the state stored at its start (the steps of an env stay in
    order, or the memory would be meaningless)."""
    size, device = len(b_obs), device_of(policy)
    if policy.lstm is None:
        order = as_tensor(rng.permutation(size), device)
        for start in range(0, size, batch_size):
            idx = order[start:start + batch_size]
            yield idx, policy(b_obs[idx], None if b_masks is None else b_masks[idx])
        return
    T, n = buffer.valid.shape
    position = np.full(T * n, -1)
    position[buffer.valid.reshape(-1)] = np.arange(size)          # row of the valid steps' arrays, per (t, env)
    envs_per_batch = max(1, batch_size // T)
    order = rng.permutation(n)
    h0, c0 = buffer.first_memory
    for start in range(0, n, envs_per_batch):
        envs = np.sort(order[start:start + envs_per_batch])
        rows = position.reshape(T, n)[:, envs].reshape(-1)          # [T·E] time-major, −1 where invalid
        valid = as_tensor(rows >= 0, device)
        full = as_tensor(np.maximum(rows, 0), device)               # invalid rows read any valid step: dropped below
        starts = as_tensor(buffer.starts[:, envs] | (rows < 0).reshape(T, -1), device)
        masks = None if b_masks is None else b_masks[full]                  # [T·E, K]
        dist, values, _ = policy.sequence(b_obs[full], (h0[:, envs], c0[:, envs]), starts,
                                          None if masks is None else masks[valid], keep=valid)
        yield as_tensor(rows[rows >= 0], device), (dist, values)


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
    optimizer = Adam(flat.param, lr=config.lr, eps=1e-5)
    buffer, action_shape = rollouts.buffer, rollouts.buffer.actions.shape[2:]
    lr_final = config.lr if config.lr_final is None else config.lr_final
    clip_final = config.clip_eps if config.clip_eps_final is None else config.clip_eps_final
    iterations = steps // (n * T)

    state = {"policy": policy, "optimizer": optimizer, "rng": rng, "reward_scaler": rollouts.reward_scaler,
             "episodes": env.episodes}
    meta = {"net_arch": list(config.net_arch), "activation": config.activation, "shared_body": config.shared_body,
            "normalize_obs": config.normalize_obs, "lstm_size": config.lstm_size if config.recurrent else None}
    agent = PolicyAgent(policy, obs_space, action_space, meta)   # acts with the live weights
    start = logger.begin(state, agent)
    rollouts.restart(start)
    for iteration in range(start // (n * T), iterations):
        progress = iteration / iterations
        lr = linear_schedule(config.lr, lr_final, 1.0, progress)
        clip_eps = linear_schedule(config.clip_eps, clip_final, 1.0, progress)
        optimizer.lr = lr

        # COLLECT: T steps of N envs with π_θold
        last_values = rollouts.collect(policy, rng)

        # ADVANTAGES: GAE(λ), bootstrapping from V(final obs) on truncation only
        advantages, returns = gae(buffer.rewards, buffer.values, buffer.next_values(last_values),
                                  buffer.terminated, buffer.truncated, config.gamma, config.gae_lambda)

        # UPDATE: n_epochs passes of shuffled minibatches over the valid steps (of whole env rollouts, when
        # the policy remembers: each replayed from its first state, its memory zeroed where episodes begin)
        keep = buffer.valid.reshape(-1)
        b_obs = as_tensor(buffer.obs.reshape(n * T, *buffer.obs.shape[2:])[keep], device)
        b_actions = as_tensor(buffer.actions.reshape(n * T, *action_shape)[keep], device)
        b_logp = as_tensor(buffer.logp.reshape(-1)[keep], device)
        b_values = as_tensor(buffer.values.reshape(-1)[keep], device)
        b_adv = as_tensor(advantages.reshape(-1)[keep], device)
        b_returns = as_tensor(returns.reshape(-1)[keep], device)
        b_masks = None if buffer.masks is None else as_tensor(buffer.masks.reshape(n * T, -1)[keep], device)
        returns_std = float(np.std(returns[buffer.valid]))
        totals, count, stop = {}, 0, False
        for _ in range(config.n_epochs):
            for idx, (dist, values) in minibatches(policy, buffer, b_obs, b_masks, config.batch_size, rng):
                adv = b_adv[idx]
                if config.normalize_advantage and len(idx) > 1:
                    adv = normalize_advantages(adv, returns_std)
                policy_loss, stats = clipped_surrogate_loss(dist.log_prob(b_actions[idx]), b_logp[idx], adv, clip_eps)
                v_loss = value_loss(values, b_values[idx], b_returns[idx], config.clip_value)
                entropy = dist.entropy().mean()
                # loss = −L_clip + c_v·L_V − c_e·H
                loss = policy_loss + config.vf_coef * v_loss - config.ent_coef * entropy
                grad_norm = flat.apply(loss, optimizer, config.max_grad_norm, (iteration + 1) * n * T)
                batch_stats = {**stats, "policy_loss": policy_loss.detach(), "value_loss": v_loss.detach(),
                               "entropy": entropy.detach(), "grad_norm": grad_norm}
                for key, value in batch_stats.items():
                    totals[key] = totals.get(key, 0.0) + value
                count += 1
                if config.target_kl is not None and stats["approx_kl"] > config.target_kl:
                    stop = True
                    break
            if stop:
                break

        if policy.obs_norm is not None:  # only now, so π_θold and π_θ saw identically normalised inputs
            policy.obs_norm.update(as_tensor(buffer.obs[buffer.valid], device))

        # LOG
        global_step = (iteration + 1) * n * T
        logger.log(global_step, {**env.episodes.pop(), **{k: float(v) / count for k, v in totals.items()},
                                 "explained_variance": explained_variance(buffer.values[buffer.valid],
                                                                          returns[buffer.valid]),
                                 "learning_rate": lr, "clip_eps": clip_eps, "epochs_stopped_early": float(stop)})
        if logger.checkpoint(global_step, state):
            rollouts.restart(global_step)
    rollouts.close()
    return agent
