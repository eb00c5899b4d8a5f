"""Stability: does PPO's trust region make learning robust to the step size? (the seed's claims on
A2C's fragility and PPO's clipped ratio)

A2C takes one gradient step per rollout with whatever size the learning rate gives; a large step can
move the policy far enough that its new data is useless, and it may never recover. PPO reuses each
rollout for several epochs but clips the ratio r = π_θ/π_θold to [1 − ε, 1 + ε], so no update moves the
action probabilities much beyond that trust region. Without the clip (ε huge) PPO's repeated epochs
on the same data should be *less* stable than A2C.

Experiment, on CartPole with rung's default presets and a constant learning rate: A2C, PPO and PPO
without clipping over a learning-rate grid × seeds, and PPO over a grid of ε at a large learning rate.
A run *collapses* when, after learning something (a peak return ≥ 100), its return falls below half its
peak and stays there for the last tenth of training (returns smoothed over 5 log points).
"""

from __future__ import annotations

import numpy as np

from rung.lab.common import claim, figure, iqm_ci, save_figure, train

ENV_ID = "CartPole-v1"
NO_CLIP = 1e6
VARIANTS = {"a2c": ("a2c", {}), "ppo": ("ppo", {}), "ppo, no clip": ("ppo", {"clip_eps": NO_CLIP})}


def returns_curve(agent) -> np.ndarray:
    values = np.array([r["episodic_return"] for r in agent.metrics if "episodic_return" in r])
    width = min(5, len(values))
    return np.convolve(values, np.ones(width) / width, mode="valid")


def collapsed(curve: np.ndarray) -> bool:
    peak = curve.max()
    tail = curve[-max(1, len(curve) // 10):]
    return bool(peak >= 100 and (tail < peak / 2).all())


def run(out, seeds: int, quick: bool) -> tuple[dict, list[dict], list[str]]:
    steps = 10_000 if quick else 100_000
    lrs = [1e-3, 3e-2] if quick else [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
    eps_grid = [0.1, 0.3, NO_CLIP] if quick else [0.05, 0.1, 0.2, 0.3, 0.5, 1.0, NO_CLIP]
    eps_lr = 1e-2

    def trial(algo: str, overrides: dict, seed: int) -> dict:
        # constant learning rate and clip: the presets' annealing to 0 would itself stabilise the end
        constant = {"lr_final": None, **({"clip_eps_final": None} if algo == "ppo" else {})}
        agent = train(algo, ENV_ID, steps, seed, {**constant, **overrides}, eval_episodes=20)
        curve = returns_curve(agent)
        return {"collapsed": collapsed(curve), "final": float(curve[-1]), "peak": float(curve.max()),
                "eval": agent.eval["mean_return"]}

    grid = {(name, lr): [trial(algo, {**extra, "lr": lr}, seed) for seed in range(seeds)]
            for name, (algo, extra) in VARIANTS.items() for lr in lrs}
    eps_sweep = {eps: [trial("ppo", {"lr": eps_lr, "clip_eps": eps}, seed) for seed in range(seeds)] for eps in eps_grid}

    def rate(trials):
        return float(np.mean([t["collapsed"] for t in trials]))

    collapse = {name: [rate(grid[(name, lr)]) for lr in lrs] for name in VARIANTS}
    final = {name: [iqm_ci([t["final"] for t in grid[(name, lr)]]) for lr in lrs] for name in VARIANTS}
    top = lrs[-2:]
    ppo_top = float(np.mean([collapse["ppo"][lrs.index(lr)] for lr in top]))
    a2c_top = float(np.mean([collapse["a2c"][lrs.index(lr)] for lr in top]))
    noclip_top = float(np.mean([collapse["ppo, no clip"][lrs.index(lr)] for lr in top]))
    claims = [
        claim(f"PPO collapses less often than A2C at the two largest learning rates ({top[0]:g}, {top[1]:g})",
              ppo_top < a2c_top, ppo=ppo_top, a2c=a2c_top, seeds=seeds),
        claim("The clip is what protects PPO: without it, PPO collapses more often at those learning rates",
              noclip_top > ppo_top, ppo=ppo_top, ppo_no_clip=noclip_top),
        claim(f"At lr {eps_lr:g}, PPO's final return is higher with a clip ε ≤ 0.3 than with no clip",
              iqm_ci([t["final"] for e in eps_grid if e <= 0.3 for t in eps_sweep[e]])["iqm"]
              > iqm_ci([t["final"] for t in eps_sweep[NO_CLIP]])["iqm"],
              **{f"eps={e:g}": iqm_ci([t["final"] for t in eps_sweep[e]])["iqm"] for e in eps_grid}),
    ]
    numbers = {"steps": steps, "lrs": lrs, "collapse_rate": collapse, "final_return": final,
               "trials": {f"{name} lr={lr:g}": trials for (name, lr), trials in grid.items()},
               "eps_lr": eps_lr, "eps_sweep": {f"{e:g}": trials for e, trials in eps_sweep.items()}}

    fig, axes = figure(1, 3)
    for name in VARIANTS:
        axes[0].plot(lrs, collapse[name], "o-", label=name)
        mids = [f["iqm"] for f in final[name]]
        axes[1].plot(lrs, mids, "o-", label=name)
        axes[1].fill_between(lrs, [f["low"] for f in final[name]], [f["high"] for f in final[name]], alpha=0.15)
    axes[0].set(title="collapse rate", xlabel="learning rate", xscale="log", ylim=(-0.05, 1.05))
    axes[1].set(title="final return (IQM, 95 % CI)", xlabel="learning rate", xscale="log")
    labels = [f"{e:g}" if e != NO_CLIP else "none" for e in eps_grid]
    axes[2].bar(labels, [iqm_ci([t["final"] for t in eps_sweep[e]])["iqm"] for e in eps_grid], color="C1")
    axes[2].plot(labels, [500 * rate(eps_sweep[e]) for e in eps_grid], "ko-", label="collapse rate × 500")
    axes[2].set(title=f"PPO at lr {eps_lr:g}: final return vs clip ε", xlabel="ε")
    for ax in axes:
        ax.legend(fontsize=7)
    return numbers, claims, [save_figure(fig, out, "stability.png")]
