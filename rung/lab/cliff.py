"""Off-policy vs on-policy: Q-learning and SARSA on CliffWalking (Sutton & Barto, example 6.6).

    Q-learning: Q(s,a) ← Q(s,a) + α [r + γ max_a' Q(s',a') − Q(s,a)]   learns the greedy policy's values
    SARSA:      Q(s,a) ← Q(s,a) + α [r + γ Q(s',a') − Q(s,a)]           learns the values of what it does

With ε = 0.1 kept throughout, Q-learning learns the optimal path along the cliff edge (13 steps,
return −13) but, behaving ε-greedily on it, falls off now and then (−100); SARSA learns the value of
the ε-greedy behaviour, which near the edge includes the falls, and prefers a longer safe path. The
seed's claim: off-policy learns the optimal policy and behaves worse while exploring.

Measured: the online return during training (ε-greedy) and the exact return of the greedy policy
(rung.algos.value_iteration.policy_return), over seeds, with the rung presets (α 0.5 → 0, γ 0.99).
"""

from __future__ import annotations

import numpy as np

from rung.algos.value_iteration import policy_return, tabular_model
from rung.envs import make_env
from rung.lab.common import claim, curve_band, figure, iqm_ci, save_figure, train

ENV_ID = "CliffWalking-v1"
ALGOS = ("qlearning", "sarsa")
HORIZON = 100


def run(out, seeds: int, quick: bool) -> tuple[dict, list[dict], list[str]]:
    with make_env(ENV_ID) as env:
        model = tabular_model(env)
    steps = 20_000 if quick else 100_000
    online, greedy, curves, logged = {}, {}, {}, None
    for algo in ALGOS:
        online[algo], greedy[algo], curves[algo] = [], [], []
        for seed in range(seeds):
            agent = train(algo, ENV_ID, steps, seed, eval_episodes=1)
            rows = [r for r in agent.metrics if "episodic_return" in r]
            returns = np.array([r["episodic_return"] for r in rows])
            logged = [r["step"] for r in rows]
            curves[algo].append(returns)
            online[algo].append(float(returns[len(returns) // 2:].mean()))   # second half: settled, still ε = 0.1
            greedy[algo].append(policy_return(model, agent.q.argmax(1), HORIZON))
    length = min(len(c) for cs in curves.values() for c in cs)
    summary = {algo: {"online_return": iqm_ci(online[algo]), "greedy_return": iqm_ci(greedy[algo])} for algo in ALGOS}
    q, s = summary["qlearning"], summary["sarsa"]
    claims = [
        claim("Q-learning (off-policy) learns the optimal path: its greedy policy returns −13",
              q["greedy_return"]["iqm"] == -13.0, greedy_returns=greedy["qlearning"]),
        claim("SARSA (on-policy) learns a safer, longer path: its greedy return is below Q-learning's",
              s["greedy_return"]["iqm"] < q["greedy_return"]["iqm"], sarsa=greedy["sarsa"], qlearning=greedy["qlearning"]),
        claim("While exploring (ε = 0.1), SARSA earns more than Q-learning: its online return is higher, "
              "and the 95 % intervals do not overlap",
              s["online_return"]["low"] > q["online_return"]["high"], sarsa=s["online_return"], qlearning=q["online_return"]),
    ]
    numbers = {"steps": steps, "summary": summary, "online": online, "greedy": greedy, "logged_steps": logged[:length],
               "curves": {algo: [c[:length].tolist() for c in cs] for algo, cs in curves.items()}}

    fig, axes = figure(1, 2)
    for algo in ALGOS:
        mid, low, high = curve_band(np.array([c[:length] for c in curves[algo]]))
        axes[0].plot(logged[:length], mid, label=algo)
        axes[0].fill_between(logged[:length], low, high, alpha=0.2)
    axes[0].set(title="online return (ε-greedy, ε = 0.1)", xlabel="env steps", ylabel="return per episode",
                ylim=(-120, 0))
    for i, algo in enumerate(ALGOS):
        for key, offset, marker in (("online_return", -0.1, "o"), ("greedy_return", 0.1, "s")):
            stat = summary[algo][key]
            axes[1].errorbar(i + offset, stat["iqm"], yerr=[[stat["iqm"] - stat["low"]], [stat["high"] - stat["iqm"]]],
                             fmt=marker, capsize=4, color=f"C{i}", label=f"{algo} {key.split('_')[0]}")
    axes[1].set(title="IQM and 95 % CI over seeds", xticks=[0, 1], xticklabels=ALGOS, ylabel="return")
    for ax in axes:
        ax.legend(fontsize=7)
    return numbers, claims, [save_figure(fig, out, "cliff.png")]
