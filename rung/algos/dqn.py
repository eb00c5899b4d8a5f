"""Deep Q-Network (Mnih et al. 2015): the seed's Q-learning with the table replaced by a network Q_θ,
kept stable by its two tricks, experience replay and a frozen target network θ⁻:

    y = r + γ · max_a' Q_θ⁻(s', a')          (y = r when s' is terminal)
    L(θ) = Huber(Q_θ(s, a) − y)              on minibatches drawn uniformly from the replay buffer

Options:
- Double DQN (van Hasselt et al. 2016): y = r + γ · Q_θ⁻(s', argmax_a' Q_θ(s', a')), the online net
  picks the action and the target net scores it, which removes max's upward bias;
- dueling head (Wang et al. 2016): Q(s,a) = V(s) + A(s,a) − mean_a' A(s,a')  (rung.nets.QNetwork);
- n-step returns: y = Σ_{k<n} γ^k r_{t+k} + γ^n · max_a' Q_θ⁻(s_{t+n}, a')  (rung.buffers.ReplayBuffer).

Implementation details, with Stable-Baselines3's meanings so that its configs carry over:
- actions are uniformly random while fewer than `learning_starts` env steps were taken, and updates
  start once more than `learning_starts` were;
- every `train_freq` vector steps, `gradient_steps` updates (−1: one per env transition collected);
- every `target_update_interval` env steps, θ⁻ ← τ·θ + (1 − τ)·θ⁻ (τ = 1 is a hard copy); left unset,
  it is 1/50 of the budget, at most 10,000 (SB3's fixed 10,000 means no target update before 10k steps,
  so a 30k-step run on a sparse task has its reward propagate through θ⁻ twice);
- ε decays linearly from `epsilon` to `epsilon_final` over `exploration_fraction` of the budget;
- the global gradient norm is clipped to `max_grad_norm`; Adam, its step size decaying linearly from
  `lr` to `lr_final` when that is set (not in SB3's DQN, which keeps it constant by default).
- terminated: no bootstrap; truncated by a time limit: bootstrap from the true final obs.
- normalize_obs: a running mean/std of the observations acted on, inside the Q-network (so saved with
  it) and shared by θ⁻, so that online and target nets always read s and s' alike; the replay buffer
  keeps raw observations. normalize_reward: rewards are divided by their root mean square over the
  random steps before learning starts, a scale fixed from then on (every target bootstraps from Q⁻: a
  drifting scale, as PPO's running std of the return, moves all of them). On CartPole paying 1,000 per
  step the fixed scale is exactly 1,000 and the run retraces plain CartPole's step for step at first
  (100k steps, seed 0: 198.8 steps vs CartPole's 187.4; the running std: 225.7; unscaled: 9.4).
  Left unset, both are decided from 1,000 random steps, as for PPO and A2C (config.json says).
- with next-step autoreset (rung.envs.VecEnv) the reset step after each episode counts as a step
  but is never stored as a transition.
Speed, not semantics: θ⁻ only changes between env steps, never inside a burst of gradient steps, so a
burst samples all its minibatches at once and, without Double DQN, computes all their targets in one
forward pass of θ⁻.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from safetensors.torch import load_file, save_file

from rung import masks
from rung.algos.tabular import linear_schedule
from rung.buffers import ReplayBuffer
from rung.checkpoint import restart_seed
from rung.config import param
from rung.devices import built_on_cpu, device_of
from rung.envs import BACKENDS, space_from_json, space_to_json
from rung.errors import RungError
from rung.nets import FlatParameters, QNetwork, make_body, make_obs_norm
from rung.observations import as_tensor, layout, one_batch, unsupported
from rung.optim import Adam
from rung.runs import AGENT_FILE, write_json

NAME = "dqn"
SPACES = ("obs: Box (vectors, or uint8 images with a CNN sized to them), Discrete or MultiDiscrete (one-hot), "
          "or a Dict / Tuple of these; actions: Discrete (maskable)")
USES_ENV_STEPS = True
ROLLOUT_WORKERS = False  # it learns between env steps: nothing to hand to rollout workers
ON_DEVICE = True        # networks: `--device`
TARGET_CHUNK = 4096  # rows per forward pass when computing a burst's targets
# of the budget, the default target_update_interval. 1/200 (rl-zoo3's range is 1/400 – 1/200) let Q
# diverge under noisy rewards (CartPole with N(0, 1) noise, 100k steps: mean Q ≈ 39,000, return 9.3 at
# seeds 0–2); 1/50: returns 76, 64, 268 there, and the same as 1/200 on CartPole (500 ×3) and the sparse
# corridors (docs/benchmarks.md, issue 17)
TARGET_UPDATE_FRACTION = 1 / 50


@dataclass
class Config:
    lr: float = param(1e-4, "Adam learning rate", 0, None, low_inclusive=False)
    lr_final: float | None = param(None, "learning rate at the end of training, linear decay (None: constant)", 0)
    buffer_size: int = param(1_000_000, "replay buffer capacity, in transitions", 1)
    learning_starts: int = param(100, "env steps of random actions before learning starts", 0)
    batch_size: int = param(32, "transitions per gradient step", 1)
    tau: float = param(1.0, "target update rate τ in θ⁻ ← τθ + (1 − τ)θ⁻ (1: hard copy)", 0, 1, low_inclusive=False)
    gamma: float = param(0.99, "discount factor γ", 0, 1)
    train_freq: int = param(4, "vector steps between bursts of gradient steps", 1)
    gradient_steps: int = param(1, "gradient steps per burst (-1: one per env transition collected)", -1)
    target_update_interval: int | None = param(None, "env steps between target-network updates (None: "
                                               "TARGET_UPDATE_FRACTION of the budget, at most 10,000)", 1)
    epsilon: float = param(1.0, "exploration rate ε at the start", 0, 1)
    epsilon_final: float = param(0.05, "exploration rate ε after the decay", 0, 1)
    exploration_fraction: float = param(0.1, "fraction of the budget over which ε decays", 0, 1)
    max_grad_norm: float = param(10.0, "clip the global gradient norm to this", 0, None, low_inclusive=False)
    double_q: bool = param(False, "Double DQN target: the online net picks a', the target net scores it")
    dueling: bool = param(False, "dueling head: Q = V + A − mean A")
    n_step: int = param(1, "n of the n-step return in the target", 1)
    net_arch: tuple[int, ...] = param((64, 64), "hidden sizes of the MLP body (image obs use a CNN sized to the image)")
    n_envs: int = param(1, "number of envs stepped together", 1)
    env_backend: str = param("auto", "vector env backend", choices=BACKENDS)
    checkpoint_replay: bool = param(True, "keep the replay buffer in checkpoints (resume is exact only with it)")
    normalize_obs: bool | None = param(None, "normalise observations by running mean/std (saved with the agent); "
                                             "None: on if 1,000 random steps find them badly scaled (config.json says)")
    normalize_reward: bool | None = param(None, "divide rewards by their RMS over the random steps before learning "
                                                "starts; None: on if 1,000 random steps see |r| > 100 (config.json says)")


def supports(env) -> str | None:
    if not isinstance(env.action_space, spaces.Discrete):
        return f"action space {env.action_space} is not Discrete (DQN takes max over actions)"
    if unsupported(env.observation_space):
        return unsupported(env.observation_space)
    return None


def check(config: Config, steps: int) -> list[str]:
    """Refuse a budget in which no update would ever happen; warn when most of it is random play."""
    first_update = max(config.learning_starts + 1, config.train_freq * config.n_envs)
    if config.gradient_steps == 0:
        raise RungError("gradient_steps=0 would never update the network; use a positive number or -1")
    if first_update > steps:
        raise RungError(f"nothing would ever train: the first update comes after {first_update:,} env steps "
                        f"(learning_starts={config.learning_starts:,}, train_freq={config.train_freq}) but the "
                        f"budget is {steps:,} steps")
    if config.learning_starts > steps // 2:
        return [f"learning_starts={config.learning_starts:,} is more than half of the {steps:,}-step budget: "
                f"most of the run is random play"]
    return []


def target_update_interval(config: Config, steps: int) -> int:
    """The configured interval, or TARGET_UPDATE_FRACTION of the budget capped at SB3's 10,000."""
    if config.target_update_interval is not None:
        return config.target_update_interval
    return min(max(int(steps * TARGET_UPDATE_FRACTION), 1), 10_000)


def decide_from_budget(config: Config, steps: int) -> dict[str, dict]:
    """Values rung chooses for the fields left at None, with why (config.json's `decided`)."""
    if config.target_update_interval is not None:
        return {}
    value = target_update_interval(config, steps)
    return {"target_update_interval": {"value": value, "why": f"{TARGET_UPDATE_FRACTION:.2%} of the {steps:,}-step "
                                                              f"budget (at most 10,000)"}}


def td_targets(returns: torch.Tensor, discounts: torch.Tensor, next_q_target: torch.Tensor,
               next_q_online: torch.Tensor | None = None, next_masks: torch.Tensor | None = None) -> torch.Tensor:
    """y = G + γ^m · Q_θ⁻(s', a*), with a* = argmax_a' Q_θ⁻(s', a') (DQN) or argmax_a' Q_θ(s', a')
    (Double DQN, when `next_q_online` is given), a' ranging over the legal actions of s' when
    `next_masks` [B, A] are given (rung.masks). `discounts` already holds 0 for terminal s'."""
    chooser = next_q_target if next_q_online is None else next_q_online
    if next_masks is not None:
        chooser = chooser.masked_fill(~next_masks, -torch.inf)
    best = chooser.argmax(dim=1, keepdim=True)                                  # [B, 1]
    return returns + discounts * next_q_target.gather(1, best).squeeze(1)      # [B]


def dqn_loss(q_taken: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """L(θ) = Huber(Q_θ(s,a) − y), the mean over the minibatch."""
    loss = F.smooth_l1_loss(q_taken, targets)
    return loss, {"td_loss": loss.detach(), "q_values": q_taken.detach().mean()}


class QAgent:
    """Acts greedily with a Q-network (ε-greedy with `epsilon` when not deterministic)."""

    def __init__(self, q_net: QNetwork, obs_space: spaces.Space, net_arch: tuple, dueling: bool, epsilon: float = 0.05,
                 algo: str = NAME):
        self.q_net, self.obs_space, self.net_arch, self.dueling = q_net, obs_space, tuple(net_arch), dueling
        self.epsilon, self.algo = epsilon, algo
        self.env_id, self.env_kwargs, self.wrappers = "", {}, []

    def act(self, obs, deterministic: bool = True, action_mask: np.ndarray | None = None) -> int:
        masks = None if action_mask is None else np.asarray(action_mask, dtype=bool)[None]
        return int(self.act_batch(one_batch(obs, self.obs_space), deterministic, masks)[0])

    @torch.inference_mode()
    def act_batch(self, obs: np.ndarray, deterministic: bool = True, action_masks: np.ndarray | None = None) -> np.ndarray:
        """argmax_a Q(s, a) (ε-greedy when not `deterministic`), over the legal actions only when
        `action_masks` [N, A] are given (rung.masks)."""
        device = device_of(self.q_net)
        q = self.q_net(as_tensor(obs, device))
        legal = None if action_masks is None else as_tensor(np.asarray(action_masks), device)
        if legal is not None:
            q = q.masked_fill(~legal, -torch.inf)
        actions = q.argmax(dim=1)
        if not deterministic:  # ε-greedy from torch's RNG, which rung.evaluate seeds
            explore = torch.rand(len(actions), device=device) < self.epsilon
            if legal is None:
                random = torch.randint(self.q_net.head.out_features, actions.shape, device=device)
            else:   # uniform among the legal actions: the largest of uniform keys on them
                random = torch.rand(q.shape, device=device).masked_fill(~legal, -1.0).argmax(dim=1)
            actions = torch.where(explore, random, actions)
        return actions.cpu().numpy()

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file(self.q_net.state_dict(), str(directory / "agent.safetensors"))
        meta = {"algo": self.algo, "kind": "q_network", "obs_space": space_to_json(self.obs_space),
                "n_actions": self.q_net.head.out_features,
                "net_arch": list(self.net_arch), "dueling": self.dueling, "epsilon": self.epsilon,
                "normalize_obs": self.q_net.obs_norm is not None,
                "env_id": self.env_id, "env_kwargs": self.env_kwargs,
                "wrappers": self.wrappers}
        write_json(directory / AGENT_FILE, meta)

    @classmethod
    def load(cls, directory: str | Path) -> "QAgent":
        directory = Path(directory)
        meta = json.loads((directory / AGENT_FILE).read_text())
        if "obs_space" in meta:
            obs_space = space_from_json(meta["obs_space"])
        else:   # agents saved before the space was
            dtype = np.dtype(meta["obs_dtype"])
            low, high = (0, 255) if dtype == np.uint8 else (-np.inf, np.inf)
            obs_space = spaces.Box(low, high, tuple(meta["obs_shape"]), dtype)
        with built_on_cpu():   # agents load on the CPU, whichever device they were trained on
            q_net = q_network(obs_space, tuple(meta["net_arch"]), meta["n_actions"], meta["dueling"],
                              meta.get("normalize_obs", False))
        q_net.load_state_dict(load_file(str(directory / "agent.safetensors")))
        agent = cls(q_net, obs_space, meta["net_arch"], meta["dueling"], meta["epsilon"], meta["algo"])
        agent.env_id, agent.env_kwargs, agent.wrappers = meta["env_id"], meta["env_kwargs"], meta.get("wrappers", [])
        return agent


def q_network(obs_space: spaces.Space, net_arch: tuple, n_actions: int, dueling: bool, normalize_obs: bool) -> QNetwork:
    return QNetwork(make_body(obs_space, net_arch), n_actions, dueling, make_obs_norm(obs_space) if normalize_obs else None)


def polyak_update(target: torch.Tensor, online: torch.Tensor, tau: float) -> None:
    """θ⁻ ← τ·θ + (1 − τ)·θ⁻, on the flat parameter tensors (rung.nets.FlatParameters): one op."""
    with torch.no_grad():
        if tau == 1.0:
            target.copy_(online)  # exact copy: lerp with weight 1 can differ in the last bit
        else:
            target.lerp_(online, tau)


def update_burst(q_net, target_net, flat: FlatParameters, optimizer, buffer: ReplayBuffer, config: Config, n_updates: int,
                 rng: np.random.Generator, step: int, reward_scale: float = 1.0) -> dict[str, float]:
    """`n_updates` gradient steps on minibatches sampled up front (θ⁻ is fixed during the burst), the
    sampled reward sums divided by `reward_scale` (q_values is logged in the env's units); `step` is the env
    step, for the message if training diverges."""
    B, device = config.batch_size, device_of(q_net)
    rows, envs = buffer.sample_indices(n_updates * B, rng)
    batch = buffer.gather(rows, envs, config.n_step, config.gamma)
    if reward_scale != 1.0:
        batch.returns = (batch.returns / reward_scale).astype(np.float32)
    actions = as_tensor(batch.actions, device).long().view(n_updates, B, 1)                   # [U, B, 1]
    returns = as_tensor(batch.returns, device).view(n_updates, B)                             # [U, B]
    discounts = as_tensor(batch.discounts, device).view(n_updates, B)                         # [U, B]
    next_masks = None if batch.next_masks is None else as_tensor(batch.next_masks, device)    # [U·B, A]
    with torch.no_grad():
        next_q_target = torch.cat([target_net(as_tensor(batch.next_obs[i:i + TARGET_CHUNK], device))
                                   for i in range(0, n_updates * B, TARGET_CHUNK)])            # [U·B, A]
        next_q_target = next_q_target.view(n_updates, B, -1)                                  # [U, B, A]
        if not config.double_q:
            targets = td_targets(returns.view(-1), discounts.view(-1), next_q_target.view(n_updates * B, -1),
                                 next_masks=next_masks)
            targets = targets.view(n_updates, B)                                              # [U, B]
    totals = {"td_loss": torch.zeros((), device=device), "q_values": torch.zeros((), device=device)}
    for u in range(n_updates):
        if config.double_q:
            with torch.no_grad():
                next_q_online = q_net(as_tensor(batch.next_obs[u * B:(u + 1) * B], device))      # [B, A]
                y = td_targets(returns[u], discounts[u], next_q_target[u], next_q_online,
                               None if next_masks is None else next_masks.view(n_updates, B, -1)[u])
        else:
            y = targets[u]
        q_taken = q_net(as_tensor(batch.obs[u * B:(u + 1) * B], device)).gather(1, actions[u]).squeeze(1)  # [B]
        loss, stats = dqn_loss(q_taken, y)
        flat.apply(loss, optimizer, config.max_grad_norm, step)
        for key in totals:
            totals[key] += stats[key]
    stats = {key: float(value) / n_updates for key, value in totals.items()}
    stats["q_values"] *= reward_scale   # in the env's reward units, comparable with the returns (the health line's rule)
    return stats


def update_obs_norm(q_net: QNetwork, unnormed: list) -> None:
    """Merge the observations acted on since the last call into the network's running statistics
    (in one batch: a torch update per env step would cost more than the step)."""
    if unnormed:
        q_net.obs_norm.update(as_tensor(np.concatenate(unnormed), device_of(q_net)))
        unnormed.clear()


def train(envs, config: Config, steps: int, seed: int, logger, device=torch.device("cpu")) -> QAgent:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = envs.vector(config.n_envs, config.env_backend)
    n, obs_space = env.num_envs, env.single_observation_space
    n_actions = int(env.single_action_space.n)
    with built_on_cpu():   # then moved: the same initial weights on every device
        q_net = q_network(obs_space, config.net_arch, n_actions, config.dueling, config.normalize_obs).to(device)
    target_net = copy.deepcopy(q_net).requires_grad_(False)
    target_net.obs_norm = q_net.obs_norm   # one set of statistics: θ and θ⁻ read observations alike
    unnormed = []   # observations acted on since the statistics were last updated
    flat, target_flat = FlatParameters(q_net), FlatParameters(target_net)
    optimizer = Adam(flat.param, lr=config.lr)
    buffer = ReplayBuffer(min(config.buffer_size, steps), n, *layout(obs_space))
    target_every = max(target_update_interval(config, steps) // n, 1)
    lr_final = config.lr if config.lr_final is None else config.lr_final
    counters = {"next_log": logger.every, "update_stats": {}}
    state = {"q_net": q_net, "target_net": target_net, "optimizer": optimizer, "rng": rng, "episodes": env.episodes,
             "buffer": buffer if config.checkpoint_replay else None, "counters": counters}
    agent = QAgent(q_net, obs_space, config.net_arch, config.dueling, config.epsilon_final)  # the live network
    start = logger.begin(state, agent)
    # resumed without its replay buffer: fill it again before learning
    learning_starts = config.learning_starts + (start if start and not config.checkpoint_replay else 0)

    obs = env.reset(seed=restart_seed(seed, start))
    for it in range(start // n + 1, -(-steps // n) + 1):
        steps_before, global_step = (it - 1) * n, it * n
        epsilon = linear_schedule(config.epsilon, config.epsilon_final, config.exploration_fraction, steps_before / steps)

        # COLLECT: ε-greedy actions (uniformly random before learning_starts), among the legal ones if masked
        legal = env.action_masks                                                  # [N, A] or None
        explore = rng.random(n) < (1.0 if steps_before < learning_starts else epsilon)
        actions = rng.integers(n_actions, size=n) if legal is None else masks.random_legal(legal, rng)
        if not explore.all():
            greedy = agent.act_batch(obs, action_masks=legal)
            actions = np.where(explore, actions, greedy)
        next_obs, rewards, terminated, truncated, valid = env.step(actions)
        buffer.add(obs, actions, rewards, next_obs, terminated, truncated, valid, env.action_masks)
        if q_net.obs_norm is not None:
            unnormed.append(obs)
        obs = next_obs

        # UPDATE: a burst of gradient steps every train_freq vector steps, once past learning_starts
        if it % config.train_freq == 0:
            update_obs_norm(q_net, unnormed)
            if global_step > learning_starts:
                n_updates = config.gradient_steps if config.gradient_steps > 0 else config.train_freq * n
                optimizer.lr = lr = linear_schedule(config.lr, lr_final, 1.0, steps_before / steps)
                if config.normalize_reward and "reward_scale" not in counters:   # the first update: fix the scale
                    counters["reward_scale"] = buffer.reward_rms()
                scale = {"reward_scale": counters["reward_scale"]} if config.normalize_reward else {}
                counters["update_stats"] = {**update_burst(q_net, target_net, flat, optimizer, buffer, config, n_updates,
                                                           rng, global_step, counters.get("reward_scale", 1.0)),
                                            "lr": lr, **scale}
        if it % target_every == 0:
            polyak_update(target_flat.param, flat.param, config.tau)

        # LOG
        if global_step >= counters["next_log"] or global_step >= steps:
            update_obs_norm(q_net, unnormed)   # nothing pending in a checkpoint, and the agent is up to date
            logger.log(global_step, {**env.episodes.pop(), **counters["update_stats"], "epsilon": epsilon})
            counters["next_log"] += logger.every
            if logger.checkpoint(global_step, state):
                obs = env.reset(seed=restart_seed(seed, global_step))
    env.close()
    return agent
