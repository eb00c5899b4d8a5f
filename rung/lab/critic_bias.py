"""Critic bias: when the referee overrates, which way is the actor skewed? (the seed's question on the
actor-critic card)

An actor-critic's actor climbs its critic's estimate Q(s, a). A max over noisy estimates is biased
upward (E[max_a (Q + noise)] ≥ max_a Q), and Q-learning's target and DDPG's actor (a learned max) both
take one, so the critic's errors are not random: the actions that look best are the ones it overrates
most, and the policy goes there. TD3 bootstraps from the smaller of two critics (clipped double Q);
SAC keeps that target and adds the entropy term; Double DQN lets the online network pick a' and the
target network score it.

Measured at fixed intervals during training: the critic's Q(s, a) on the states and actions the current
policy visits, against the discounted return that policy actually obtains from them (Monte Carlo
rollouts of the policy, run TAIL steps past the env's time limit so that what lies beyond it does not
bias the truth; for SAC the soft return, with the −α·log π bonus its critic is trained to predict).
"The critic" is the one the actor climbs: DDPG's Q, TD3's Q1, SAC's min(Q1, Q2).

- Continuous: DDPG, TD3 and SAC on Pendulum-v1 with their zoo presets. At every PROBE_EVERY-th state of
  those rollouts a copy of the env also takes a uniformly random first action instead of the actor's,
  then follows the policy: is the critic's error larger at the actor's own actions than at others?
- Discrete: DQN and Double DQN on the maximisation-bias MDP (Sutton & Barto 2018, Example 6.7, with a
  noisy reward): from A, action 0 ("right") ends the episode with 0; every other action ("left") leads
  to B, where every action ends it with a reward drawn from N(−0.1, 1). Going left is worth γ·(−0.1) < 0,
  yet a max over B's noisy estimates looks positive; we measure Q(A, left) against its Monte Carlo
  return, and how often the greedy policy takes the overrated, worse action.
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from rung.envs import ActionScaler
from rung.lab.common import Recorder, claim, curve_band, figure, iqm_ci, save_figure, train

ENV_ID = "Pendulum-v1"
ALGOS = ("ddpg", "td3", "sac")
TAIL = 500          # steps past the time limit: γ^500 ≤ 0.007 at γ = 0.99
PROBE_EVERY = 50    # rollout steps between the states where a random first action is tried
EPISODES = 4        # Monte Carlo rollouts per measurement
BAND = 0.05         # "close to the truth": within 5 % of the start states' value
QUICK_CONTINUOUS = {"learning_starts": 500, "train_freq": 1, "gradient_steps": 1, "net_arch": (64, 64),
                    "batch_size": 128}
MAX_BIAS = {"learning_starts": 200, "train_freq": 1, "target_update_interval": 500, "exploration_fraction": 0.1,
            "epsilon_final": 0.1, "lr": 1e-3, "net_arch": (32,), "buffer_size": 10_000, "gamma": 0.99}
ROLLOUTS_FROM_A = 2000


class MaxBias(gym.Env):
    """Sutton & Barto's maximisation-bias MDP (Example 6.7): state A = 0, B = 1. From A, action 0 ends
    the episode with reward 0 and any other action moves to B with reward 0; from B, every action ends it
    with a reward ~ N(−0.1, noise²)."""

    A, B = 0, 1

    def __init__(self, actions: int = 10, noise: float = 1.0):
        self.observation_space = spaces.Discrete(2)
        self.action_space = spaces.Discrete(actions)
        self.noise, self.state = noise, self.A

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = self.A
        return self.A, {}

    def step(self, action):
        if self.state == self.B:
            return self.B, float(self.np_random.normal(-0.1, self.noise)), True, False, {}
        if int(action) == 0:
            return self.A, 0.0, True, False, {}
        self.state = self.B
        return self.B, 0.0, False, False, {}


# ---------------------------------------------------------------- continuous: DDPG, TD3, SAC

def policy_actions(actor, algo: str, obs: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The policy's unit-box actions [E, A] and their log π [E] (0 for the deterministic actors)."""
    x = torch.as_tensor(obs, dtype=torch.float32)
    if algo == "sac":
        return actor.sample(x)
    actions = actor(x)
    return actions, torch.zeros(len(actions))


def rollout(envs: list, obs: np.ndarray, actor, algo: str, steps: int, first_actions: np.ndarray | None = None,
            probe_every: int | None = None, probe_until: int = 0) -> dict:
    """Step every env `steps` times with the policy (the first step with `first_actions` if given).
    Returns obs [E, T, O], unit-box actions [E, T, A], rewards and log π [E, T] (zero after an episode
    ends, and log π zero for a forced first action), and with `probe_every` the (env copy, obs) pairs
    taken at every probe_every-th step before `probe_until`."""
    scaler = ActionScaler(envs[0].action_space)
    n, probes = len(envs), []
    out = {"obs": [], "actions": [], "rewards": np.zeros((n, steps)), "logp": np.zeros((n, steps))}
    alive = np.ones(n, dtype=bool)
    for t in range(steps):
        if probe_every and t < probe_until and t % probe_every == 0:
            probes += [(copy.deepcopy(env), obs[i].copy()) for i, env in enumerate(envs)]
        actions, logp = policy_actions(actor, algo, obs)
        actions = actions.numpy()
        if t == 0 and first_actions is not None:
            actions, logp = first_actions, torch.zeros(n)
        out["obs"].append(obs.copy())
        out["actions"].append(actions)
        out["logp"][:, t] = np.where(alive, logp.numpy(), 0.0)
        for i, env in enumerate(envs):
            if alive[i]:
                obs[i], reward, terminated, truncated, _ = env.step(scaler(actions[i:i + 1])[0])
                out["rewards"][i, t] = reward
                alive[i] = not (terminated or truncated)
    out["obs"], out["actions"] = np.stack(out["obs"], 1), np.stack(out["actions"], 1)
    out["probes"] = probes
    return out


def soft_q_returns(rewards: np.ndarray, logp: np.ndarray, gamma: float, alpha: float) -> np.ndarray:
    """The Monte Carlo value of each (s_t, a_t) [E, T] under the policy that produced the rollout:
    Q(s_t, a_t) = r_t + Σ_{k>t} γ^{k−t} (r_k − α·log π(a_k|s_k)); with α = 0 the plain discounted return."""
    bonus = rewards - alpha * logp                          # r_k − α log π_k
    soft = np.zeros_like(bonus)
    running = np.zeros(len(bonus))
    for t in range(bonus.shape[1] - 1, -1, -1):
        running = bonus[:, t] + gamma * running             # S_t = u_t + γ S_{t+1}
        soft[:, t] = running
    return soft + alpha * logp                              # a_t is given: its own −α log π is not counted


def climbed_q(critic, algo: str, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """The critic the actor climbs: DDPG's Q, TD3's Q1, SAC's min(Q1, Q2)."""
    q = critic(torch.as_tensor(obs, dtype=torch.float32), torch.as_tensor(actions, dtype=torch.float32))  # [K, B]
    return (q.min(dim=0).values if algo == "sac" else q[0]).numpy()


def measure_actor_critic(algo: str, state: dict, gamma: float, seed: int) -> dict:
    """Critic estimate vs Monte Carlo truth on the policy's own rollouts, and at the probe states for
    the actor's action and for a uniformly random one."""
    actor, critic = state["actor"], state["critic"]
    alpha = float(state["temperature"].log_alpha.detach().exp()) if algo == "sac" else 0.0
    horizon = gym.spec(ENV_ID).max_episode_steps
    envs = [gym.make(ENV_ID, max_episode_steps=horizon + TAIL) for _ in range(EPISODES)]
    obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)])
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(), torch.no_grad():    # measuring must not move training's random stream
        torch.manual_seed(seed)
        path = rollout(envs, obs, actor, algo, horizon + TAIL, probe_every=PROBE_EVERY, probe_until=horizon)
        truth = soft_q_returns(path["rewards"], path["logp"], gamma, alpha)[:, :horizon]
        estimate = climbed_q(critic, algo, path["obs"][:, :horizon].reshape(-1, path["obs"].shape[-1]),
                             path["actions"][:, :horizon].reshape(-1, path["actions"].shape[-1]))
        estimate = estimate.reshape(truth.shape)
        # probes: the same states, a random first action, then the policy
        probe_envs = [env for env, _ in path["probes"]]
        probe_obs = np.stack([o for _, o in path["probes"]])
        random_actions = rng.uniform(-1, 1, (len(probe_envs), path["actions"].shape[-1])).astype(np.float32)
        probe = rollout(probe_envs, probe_obs, actor, algo, TAIL, first_actions=random_actions)
        random_truth = soft_q_returns(probe["rewards"], probe["logp"], gamma, alpha)[:, 0]
        random_estimate = climbed_q(critic, algo, probe_obs, random_actions)
    policy_error = (estimate - truth)[:, ::PROBE_EVERY]                  # the actor's action at the probe states
    # the scale: the value of the start states, ≈ an episode's discounted return (the swing-up lies ahead);
    # the mean over all visited states is near 0 once the pendulum is balanced, too small to divide by
    scale = float(np.abs(truth[:, 0]).mean())
    return {"estimate": float(estimate.mean()), "truth": float(truth.mean()), "start_truth": float(truth[:, 0].mean()),
            "bias": float((estimate - truth).mean()), "relative_bias": float((estimate - truth).mean()) / scale,
            "probe_policy_bias": float(policy_error.mean()) / scale,
            "probe_random_bias": float((random_estimate - random_truth).mean()) / scale}


def actor_critic_run(algo: str, steps: int, seed: int, quick: bool) -> dict:
    snapshots = []
    every = steps // (5 if quick else 20)

    def snapshot(step: int, state: dict) -> None:
        snapshots.append({"step": step, **measure_actor_critic(algo, state, gamma, 10_000 * (seed + 1) + step)})

    from rung.api import resolve

    config = QUICK_CONTINUOUS if quick else {}
    preset = "zoo"
    gamma = resolve(algo, ENV_ID, steps, seed, preset=preset, overrides=config).config.gamma
    agent = train(algo, ENV_ID, steps, seed, config, Recorder(steps, snapshot, every=every), eval_episodes=10,
                  preset=preset)
    return {"eval": agent.eval["mean_return"], "snapshots": snapshots}


# ---------------------------------------------------------------- discrete: DQN, Double DQN

def measure_max_bias(state: dict, gamma: float, seed: int) -> dict:
    """Q(A, left) = max_{a ≠ 0} Q(A, a) and Q(A, right) against Monte Carlo returns of going left and then
    acting greedily (right's return is 0 exactly), and whether the greedy policy goes left."""
    with torch.no_grad():
        q = state["q_net"](torch.tensor([MaxBias.A, MaxBias.B])).numpy()          # [2 states, actions]
    left = 1 + int(np.argmax(q[MaxBias.A, 1:]))
    env = MaxBias()
    env.reset(seed=seed)
    returns = []
    for _ in range(ROLLOUTS_FROM_A):
        env.reset()
        env.step(left)
        _, reward, *_ = env.step(int(np.argmax(q[MaxBias.B])))
        returns.append(gamma * reward)                      # G = 0 + γ·r_B
    return {"left_estimate": float(q[MaxBias.A, left]), "left_truth": float(np.mean(returns)),
            "right_estimate": float(q[MaxBias.A, 0]), "goes_left": bool(q[MaxBias.A, left] > q[MaxBias.A, 0])}


def max_bias_run(double_q: bool, steps: int, seed: int, snapshots_per_run: int) -> dict:
    snapshots = []

    def snapshot(step: int, state: dict) -> None:
        snapshots.append({"step": step, **measure_max_bias(state, MAX_BIAS["gamma"], 10_000 * (seed + 1) + step)})

    train("dqn", f"{__name__}:MaxBias", steps, seed, {**MAX_BIAS, "double_q": double_q},
          Recorder(steps, snapshot, every=steps // snapshots_per_run), eval_episodes=10)
    return {"snapshots": snapshots}


# ---------------------------------------------------------------- the experiment

def late(snapshots: list[dict], key: str, steps: int) -> float:
    """Mean of `key` over the snapshots in the last quarter of training (the zoo presets of DDPG and TD3
    only start learning at half the budget: the second half would begin with an untrained critic)."""
    return float(np.mean([s[key] for s in snapshots if s["step"] > 0.75 * steps]))


def run(out, seeds: int, quick: bool) -> tuple[dict, list[dict], list[str]]:
    steps = 1_500 if quick else 20_000
    dqn_steps = 2_000 if quick else 20_000
    continuous = {algo: [actor_critic_run(algo, steps, seed, quick) for seed in range(seeds)] for algo in ALGOS}
    discrete = {name: [max_bias_run(double_q, dqn_steps, seed, 10 if quick else 40) for seed in range(seeds)]
                for name, double_q in (("dqn", False), ("double dqn", True))}
    return analyse(out, continuous, discrete, steps, dqn_steps)


def analyse(out, continuous: dict, discrete: dict, steps: int, dqn_steps: int) -> tuple[dict, list[dict], list[str]]:
    """Claims, numbers and figures from the measured snapshots (runs[algo][seed]["snapshots"])."""
    bias = {algo: iqm_ci([late(r["snapshots"], "relative_bias", steps) for r in runs]) for algo, runs in continuous.items()}
    probe = {algo: {kind: iqm_ci([late(r["snapshots"], f"probe_{kind}_bias", steps) for r in runs])
                    for kind in ("policy", "random")} for algo, runs in continuous.items()}
    left_bias = {name: iqm_ci([late(r["snapshots"], "left_estimate", dqn_steps) - late(r["snapshots"], "left_truth", dqn_steps)
                               for r in runs]) for name, runs in discrete.items()}
    goes_left = {name: float(np.mean([late(r["snapshots"], "goes_left", dqn_steps) for r in runs]))
                 for name, runs in discrete.items()}
    relative = {algo: b["iqm"] for algo, b in bias.items()}
    claims = [
        claim("DDPG's critic overrates its policy's return by more than TD3's (last quarter of training)",
              relative["ddpg"] > relative["td3"], relative_bias=relative),
        claim(f"TD3's clipped twin target keeps its critic within ±{BAND:.0%} of the start states' true value",
              abs(relative["td3"]) <= BAND, relative_bias=relative["td3"], band=BAND),
        claim("Off the actor's path the critic knows least: at the same states, every critic overrates a random "
              "action by more than the actor's own",
              all(p["random"]["iqm"] > p["policy"]["iqm"] for p in probe.values()),
              **{f"{algo} {kind}": p[kind]["iqm"] for algo, p in probe.items() for kind in p}),
        claim("DQN overrates going left (toward the noisy rewards) by more than Double DQN does",
              left_bias["dqn"]["iqm"] > left_bias["double dqn"]["iqm"],
              **{name: b["iqm"] for name, b in left_bias.items()}),
        claim("The overrated action is the one taken: DQN's greedy policy goes left, the worse action, more often "
              "than Double DQN's", goes_left["dqn"] > goes_left["double dqn"], fraction_left=goes_left),
    ]
    numbers = {"steps": steps, "dqn_steps": dqn_steps, "relative_bias": bias, "probe_bias": probe,
               "left_bias": left_bias, "fraction_left": goes_left,
               "eval": {algo: iqm_ci([r["eval"] for r in runs]) for algo, runs in continuous.items()},
               "runs": {"continuous": continuous, "discrete": discrete}}
    return numbers, claims, [plot_continuous(out, continuous, relative, probe), plot_discrete(out, discrete, goes_left)]


def plot_continuous(out, continuous: dict, relative: dict, probe: dict) -> str:
    fig, axes = figure(1, 4, width=4.2)
    for ax, algo in zip(axes, ALGOS):
        steps = [s["step"] for s in continuous[algo][0]["snapshots"]]
        for key, style in (("estimate", "-"), ("truth", "--")):
            mid, low, high = curve_band(np.array([[s[key] for s in r["snapshots"]] for r in continuous[algo]]))
            ax.plot(steps, mid, style, color="C0" if key == "estimate" else "k", label=key)
            ax.fill_between(steps, low, high, color="C0" if key == "estimate" else "k", alpha=0.15)
        ax.set(title=f"{algo}: critic vs return ({relative[algo]:+.0%} late)", xlabel="env steps",
               ylabel="mean Q / Monte Carlo return")
        ax.legend(fontsize=7)
    x = np.arange(len(ALGOS))
    for offset, kind in ((-0.2, "policy"), (0.2, "random")):
        axes[3].bar(x + offset, [probe[a][kind]["iqm"] for a in ALGOS], width=0.4, label=f"{kind} action")
    axes[3].axhline(0, color="k", lw=0.8)
    axes[3].set(xticks=x, xticklabels=ALGOS, title="probe states: (Q − return) / start value")
    axes[3].legend(fontsize=7)
    return save_figure(fig, out, "critic_bias.png")


def plot_discrete(out, discrete: dict, goes_left: dict) -> str:
    fig, axes = figure(1, 2)
    for i, (name, runs) in enumerate(discrete.items()):
        steps = [s["step"] for s in runs[0]["snapshots"]]
        mid, low, high = curve_band(np.array([[s["left_estimate"] for s in r["snapshots"]] for r in runs]))
        axes[0].plot(steps, mid, color=f"C{i}", label=f"{name}: Q(A, left)")
        axes[0].fill_between(steps, low, high, color=f"C{i}", alpha=0.15)
        axes[1].plot(steps, np.mean([[s["goes_left"] for s in r["snapshots"]] for r in runs], axis=0), color=f"C{i}",
                     label=f"{name} ({goes_left[name]:.0%} late)")
    truth = np.mean([[s["left_truth"] for s in r["snapshots"]] for runs in discrete.values() for r in runs], axis=0)
    axes[0].plot(steps, truth, "k--", label="Monte Carlo return of left")
    axes[0].axhline(0, color="grey", lw=0.8)
    axes[0].set(title="maximisation-bias MDP: the estimate of going left", xlabel="env steps")
    axes[1].set(title="greedy policy goes left (the worse action)", xlabel="env steps", ylabel="fraction of seeds",
                ylim=(-0.05, 1.05))
    for ax in axes:
        ax.legend(fontsize=7)
    return save_figure(fig, out, "max_bias.png")
