"""Sample reuse: value-based and off-policy methods learn from each transition many times; a policy
gradient needs samples from the current policy and uses each for one update (PPO stretches that to a
few epochs on the newest rollout, then throws it away). The seed's claim, measured: PPO against SAC and
TD3 on the same continuous task, return against env steps and against wall-clock time.

Setup: Pendulum-v1, each algorithm with its preset (PPO: rung's default, which is rl-zoo3's without
gSDE; SAC and TD3: zoo), PPO over its preset's budget and the off-policy pair over theirs (about a tenth
of it). Training returns (the exploring policy's episodes) are logged along the way; "reaching" a
return means the IQM over seeds of the smoothed training curve crossing it. Reuse per transition =
transitions sampled by the updates / env steps (PPO: its epochs; SAC, TD3: batch size × gradient steps
per env step, the replay buffer's doing).
"""

from __future__ import annotations

import numpy as np

from rung.lab.common import claim, curve_band, figure, iqm_ci, save_figure, train

ENV_ID = "Pendulum-v1"
TARGET = -400.0   # a return every preset passes on its way to ≈ −200
STEPS = {"ppo": 200_000, "sac": 20_000, "td3": 20_000}
PRESETS = {"ppo": "default", "sac": "zoo", "td3": "zoo"}
QUICK_STEPS = {"ppo": 20_000, "sac": 2_000, "td3": 2_000}
QUICK_OFF_POLICY = {"learning_starts": 500, "train_freq": 1, "gradient_steps": 1, "net_arch": (64, 64), "batch_size": 128}
SMOOTH = 5        # log points in the moving average of the training return


def reuse(algo: str, config) -> float:
    """Transitions sampled by the updates per env step collected."""
    if algo == "ppo":
        return float(config.n_epochs)
    per_step = config.gradient_steps if config.gradient_steps > 0 else config.train_freq * config.n_envs
    return config.batch_size * per_step / (config.train_freq * config.n_envs)


def smoothed(values: list[float]) -> np.ndarray:
    """The moving average over SMOOTH log points, its first value repeated in front to keep the length."""
    values = np.asarray(values, dtype=float)
    width = min(SMOOTH, len(values))
    mean = np.convolve(values, np.ones(width) / width, mode="valid")
    return np.concatenate([np.full(width - 1, mean[0]), mean])


def first_crossing(x: np.ndarray, y: np.ndarray, level: float) -> float | None:
    above = np.nonzero(y >= level)[0]
    return float(x[above[0]]) if len(above) else None


def run(out, seeds: int, quick: bool) -> tuple[dict, list[dict], list[str]]:
    from rung.api import resolve

    budgets = QUICK_STEPS if quick else STEPS
    results, reuses = {}, {}
    for algo, steps in budgets.items():
        config = QUICK_OFF_POLICY if quick and algo != "ppo" else None
        reuses[algo] = reuse(algo, resolve(algo, ENV_ID, steps, 0, preset=PRESETS[algo], overrides=config).config)
        results[algo] = []
        for seed in range(seeds):
            agent = train(algo, ENV_ID, steps, seed, config, eval_episodes=10, preset=PRESETS[algo])
            rows = [r for r in agent.metrics if "episodic_return" in r]
            at, returns, seconds = (np.array([r[k] for r in rows], dtype=float) for k in ("step", "episodic_return", "time"))
            results[algo].append({"eval": agent.eval["mean_return"], "seconds": agent.seconds, "steps": at.tolist(),
                                  "returns": returns.tolist(), "times": seconds.tolist()})

    # every run of one algorithm on its own grid of env steps and of seconds, so seeds can be aggregated
    curves = {}
    for algo, runs in results.items():
        grid = np.linspace(0, budgets[algo], 41)[1:]
        by_step = np.array([np.interp(grid, r["steps"], smoothed(r["returns"])) for r in runs])
        time_grid = np.linspace(0, np.median([r["times"][-1] for r in runs]), 41)[1:]
        by_time = np.array([np.interp(time_grid, r["times"], smoothed(r["returns"])) for r in runs])
        mid_step, mid_time = curve_band(by_step)[0], curve_band(by_time)[0]
        curves[algo] = {"grid": grid.tolist(), "by_step": by_step.tolist(), "time_grid": time_grid.tolist(),
                        "by_time": by_time.tolist(), "steps_to_target": first_crossing(grid, mid_step, TARGET),
                        "seconds_to_target": first_crossing(time_grid, mid_time, TARGET)}
    to_target = {algo: c["steps_to_target"] for algo, c in curves.items()}
    seconds = {algo: c["seconds_to_target"] for algo, c in curves.items()}
    seconds_per_step = {algo: float(np.median([r["seconds"] for r in runs])) / budgets[algo]
                        for algo, runs in results.items()}
    claims = [
        claim(f"SAC and TD3 reach a training return of {TARGET:g} in fewer env steps than PPO",
              all(to_target[a] is not None for a in ("sac", "td3"))
              and all(to_target[a] < (to_target["ppo"] or np.inf) for a in ("sac", "td3")),
              steps_to_target=to_target),
        claim("Each transition is reused more by the off-policy methods: sampled by their updates many more times "
              "than PPO's epochs", min(reuses["sac"], reuses["td3"]) > 10 * reuses["ppo"], reuse=reuses),
        claim("The reuse is paid for in compute: SAC and TD3 spend more wall time per env step than PPO",
              min(seconds_per_step["sac"], seconds_per_step["td3"]) > seconds_per_step["ppo"],
              seconds_per_step=seconds_per_step),
        claim(f"Sample efficiency still wins the race on one CPU thread: SAC reaches {TARGET:g} in less wall-clock "
              "time than PPO", (seconds["sac"] or np.inf) < (seconds["ppo"] or np.inf), seconds_to_target=seconds),
    ]
    numbers = {"budgets": budgets, "presets": PRESETS, "target": TARGET, "reuse": reuses,
               "seconds_per_step": seconds_per_step, "steps_to_target": to_target,
               "eval": {algo: iqm_ci([r["eval"] for r in runs]) for algo, runs in results.items()},
               "curves": curves, "runs": results}

    fig, axes = figure(1, 2)
    for i, (algo, c) in enumerate(curves.items()):
        for ax, x, y in ((axes[0], c["grid"], c["by_step"]), (axes[1], c["time_grid"], c["by_time"])):
            mid, low, high = curve_band(np.array(y))
            ax.plot(x, mid, color=f"C{i}", label=f"{algo} (reuse ×{reuses[algo]:g})")
            ax.fill_between(x, low, high, color=f"C{i}", alpha=0.15)
    for ax in axes:
        ax.axhline(TARGET, color="grey", lw=0.8, ls="--")
        ax.legend(fontsize=7)
    axes[0].set(title="Pendulum: training return against env steps (IQM, IQR band)", xlabel="env steps",
                xscale="log", ylabel="return")
    axes[1].set(title="the same runs against wall-clock time (1 thread)", xlabel="seconds", xscale="log")
    return numbers, claims, [save_figure(fig, out, "sample_reuse.png")]

