"""Why does improving an estimate with an estimate converge? (the seed's question on bootstrapping)

Q-learning's target r + γ max_a' Q(s',a') is built from the table being learned. The Bellman
optimality operator T is a γ-contraction in the max-norm,

    ‖T Q − T Q'‖∞ ≤ γ ‖Q − Q'‖∞,   so   ‖T Q − Q*‖∞ ≤ γ ‖Q − Q*‖∞   (Q* = T Q*),

so each exact sweep (value iteration) shrinks the distance to Q* by at least γ from *any* start, and
Q-learning is a sampled, step-size-averaged version of the same sweep (it converges given every pair
is visited infinitely often and Σα = ∞, Σα² < ∞).

Experiment, on FrozenLake 4×4 (slippery): value iteration and Q-learning from four initial tables —
zero, optimistic (every entry 1, the largest possible return), inverted (1 − Q*: the best action looks
worst) and random (uniform in [−1, 2]) — measuring ‖Q − Q*‖∞ over non-terminal states and the exact
success probability of the greedy policy (rung.algos.value_iteration.policy_return, no sampling).
"""

from __future__ import annotations

import numpy as np

from rung.algos.value_iteration import bellman_optimality, policy_return, tabular_model, value_iteration
from rung.envs import make_env
from rung.lab.common import Recorder, claim, curve_band, figure, iqm_ci, save_figure, train

ENV_ID = "FrozenLake-v1"
GAMMA = 0.95
HORIZON = 100          # FrozenLake's time limit
INITS = ("zero", "optimistic", "inverted", "random")


def initial_table(kind: str, q_star: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if kind == "zero":
        return np.zeros_like(q_star)
    if kind == "optimistic":
        return np.ones_like(q_star)
    if kind == "inverted":
        return 1.0 - q_star
    return rng.uniform(-1.0, 2.0, size=q_star.shape)


def run(out, seeds: int, quick: bool) -> tuple[dict, list[dict], list[str]]:
    with make_env(ENV_ID) as env:
        model = tabular_model(env)
        desc = env.unwrapped.desc.ravel()
    live = np.array([c not in (b"H", b"G") for c in desc])          # holes and the goal end the episode
    q_star, _ = value_iteration(model, GAMMA)
    optimal_success = policy_return(model, q_star.argmax(1), HORIZON)

    def distance(q: np.ndarray) -> float:
        return float(np.abs(q - q_star)[live].max())

    # exact sweeps from each start: the contraction itself
    sweeps = 60
    vi_distance = {}
    for kind in INITS:
        q = initial_table(kind, q_star, np.random.default_rng(0))
        path = [distance(q)]
        for _ in range(sweeps):
            q = bellman_optimality(model, q, GAMMA)
            q[~live] = q_star[~live]   # terminal rows are never read by the operator; keep them out of the norm
            path.append(distance(q))
        vi_distance[kind] = np.array(path)
    worst_ratio = max(float(np.max(p[1:] / np.maximum(p[:-1], 1e-300))) for p in vi_distance.values())

    # Q-learning from each start (sampled, α decaying to 0)
    steps = 40_000 if quick else 400_000
    config = {"gamma": GAMMA, "lr": 0.1, "lr_final": 0.0, "epsilon": 1.0, "epsilon_final": 0.1,
              "exploration_fraction": 0.3}
    curves = {kind: {"distance": [], "success": []} for kind in INITS}
    logged_steps = None
    for kind in INITS:
        for seed in range(seeds):
            table = initial_table(kind, q_star, np.random.default_rng(1000 + seed))
            distances, successes, at = [], [], []

            def snapshot(step, state):
                at.append(step)
                distances.append(distance(state["q"]))
                successes.append(policy_return(model, state["q"].argmax(1), HORIZON))

            def initial(state):
                state["q"][:] = table
                snapshot(0, state)

            train("qlearning", ENV_ID, steps, seed, config, Recorder(steps, snapshot, initial, every=steps // 50),
                  eval_episodes=1)
            curves[kind]["distance"].append(distances)
            curves[kind]["success"].append(successes)
            logged_steps = at

    numbers = {"gamma": GAMMA, "steps": steps, "optimal_success": optimal_success, "value_iteration_worst_ratio": worst_ratio,
               "value_iteration_distance": {k: v.tolist() for k, v in vi_distance.items()}, "logged_steps": logged_steps}
    final = {}
    for kind in INITS:
        d, s = np.array(curves[kind]["distance"]), np.array(curves[kind]["success"])
        final[kind] = {"distance_start": float(d[:, 0].mean()), "distance_end": iqm_ci(d[:, -1]),
                       "success_end": iqm_ci(s[:, -1])}
        numbers[f"qlearning_{kind}"] = {"distance": d.tolist(), "success": s.tolist()}
    numbers["final"] = final

    claims = [
        claim(f"Each exact Bellman sweep shrinks the max-norm distance to Q* by a factor of at most γ = {GAMMA}, "
              "from every initial table (the contraction)",
              worst_ratio <= GAMMA + 1e-9, worst_ratio=worst_ratio, gamma=GAMMA),
        claim("Q-learning, bootstrapping from its own estimates, ends at least 5× closer to Q* than it started, "
              "from every initial table (IQM over seeds)",
              all(f["distance_end"]["iqm"] * 5 <= f["distance_start"] for f in final.values()),
              **{k: {"start": f["distance_start"], "end": f["distance_end"]["iqm"]} for k, f in final.items()}),
        claim("Its greedy policy reaches ≥ 90 % of the optimal success probability from every initial table",
              all(f["success_end"]["iqm"] >= 0.9 * optimal_success for f in final.values()),
              optimal=optimal_success, **{k: f["success_end"]["iqm"] for k, f in final.items()}),
    ]

    fig, axes = figure(1, 3)
    for kind in INITS:
        axes[0].semilogy(vi_distance[kind], label=kind)
        for ax, key in ((axes[1], "distance"), (axes[2], "success")):
            mid, low, high = curve_band(np.array(curves[kind][key]))
            ax.plot(logged_steps, mid, label=kind)
            ax.fill_between(logged_steps, low, high, alpha=0.2)
    axes[0].semilogy(vi_distance["inverted"][0] * GAMMA ** np.arange(sweeps + 1), "k--", lw=0.8,
                 label="γ^k · ‖Q_0 − Q*‖∞, inverted start")
    axes[0].set(title="value iteration: ‖Q_k − Q*‖∞", xlabel="sweep k")
    axes[1].set(title="Q-learning: ‖Q − Q*‖∞ (IQM, IQR band)", xlabel="env steps", yscale="log")
    axes[2].axhline(optimal_success, color="k", ls="--", lw=0.8, label="optimal")
    axes[2].set(title="greedy success probability (exact)", xlabel="env steps", ylim=(0, 1))
    for ax in axes:
        ax.legend(fontsize=7)
    for ax in axes[1:]:
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    return numbers, claims, [save_figure(fig, out, "bootstrapping.png")]
