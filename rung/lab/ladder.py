"""The ladder side by side: DQN, REINFORCE, A2C and PPO on CartPole with the same budget of env steps,
each with its rung default preset (the budget overridden), return against env steps and against
wall-clock time.

What the seed's ladder predicts: REINFORCE, on-policy with the raw return, is the noisiest and
slowest per sample; a critic (A2C) and then the clipped, data-reusing update (PPO) learn more from the
same samples; DQN reuses every sample many times through its replay buffer.
"""

from __future__ import annotations

import numpy as np

from rung.lab.common import claim, curve_band, figure, iqm_ci, save_figure, train

ENV_ID = "CartPole-v1"
ALGOS = ("dqn", "reinforce", "a2c", "ppo")
SOLVED = 475.0


def run(out, seeds: int, quick: bool) -> tuple[dict, list[dict], list[str]]:
    steps = 8_000 if quick else 100_000
    grid = np.linspace(0, steps, 51)
    results = {}
    for algo in ALGOS:
        results[algo] = []
        for seed in range(seeds):
            agent = train(algo, ENV_ID, steps, seed, eval_episodes=20)
            rows = [r for r in agent.metrics if "episodic_return" in r]
            at, returns, seconds = (np.array([r[k] for r in rows]) for k in ("step", "episodic_return", "time"))
            results[algo].append({"eval": agent.eval["mean_return"], "seconds": agent.seconds,
                                  "curve": np.interp(grid, at, returns, left=returns[0]).tolist(),
                                  "time_curve": [seconds.tolist(), returns.tolist()],
                                  "area": float(np.interp(grid, at, returns, left=returns[0]).mean())})
    summary = {algo: {"eval": iqm_ci([r["eval"] for r in rs]), "area": iqm_ci([r["area"] for r in rs]),
                      "seconds": float(np.median([r["seconds"] for r in rs]))} for algo, rs in results.items()}
    areas = {algo: s["area"]["iqm"] for algo, s in summary.items()}
    evals = {algo: s["eval"]["iqm"] for algo, s in summary.items()}
    claims = [
        claim("REINFORCE learns least per sample: the smallest area under the return curve",
              min(areas, key=areas.get) == "reinforce", area=areas),
        claim("A critic helps: A2C's area under the curve is larger than REINFORCE's",
              areas["a2c"] > areas["reinforce"], area=areas),
        claim(f"PPO solves CartPole (greedy eval ≥ {SOLVED:g}) within the budget", evals["ppo"] >= SOLVED, eval=evals),
    ]
    numbers = {"steps": steps, "grid": grid.tolist(), "summary": summary, "runs": results}

    fig, axes = figure(1, 2)
    for i, algo in enumerate(ALGOS):
        mid, low, high = curve_band(np.array([r["curve"] for r in results[algo]]))
        axes[0].plot(grid, mid, color=f"C{i}", label=f"{algo} (eval {evals[algo]:.0f})")
        axes[0].fill_between(grid, low, high, color=f"C{i}", alpha=0.15)
        for j, r in enumerate(results[algo]):
            axes[1].plot(*r["time_curve"], color=f"C{i}", alpha=0.7, label=algo if j == 0 else None)
    axes[0].set(title=f"CartPole, {steps:,} env steps each (IQM, IQR band)", xlabel="env steps", ylabel="return")
    axes[1].set(title="the same runs against wall-clock time", xlabel="seconds", xscale="log")
    for ax in axes:
        ax.legend(fontsize=7)
    return numbers, claims, [save_figure(fig, out, "ladder.png")]
