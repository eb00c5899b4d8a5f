"""Plumbing shared by the experiments: training with a recorder, claims, aggregation over seeds, and
the result file.

Every experiment returns numbers and claims; a claim is {"claim", "holds", "evidence"} with `holds`
computed from the evidence, never written by hand. Across seeds, numbers are aggregated with the
interquartile mean (IQM) and a 95 % stratified-bootstrap confidence interval (rliable; Agarwal et al.
2021): the IQM is the mean of the middle half of the runs, less sensitive to one lucky or failed seed
than the mean and less wasteful than the median.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from rung.errors import RungError
from rung.runs import Logger, write_json

RESULT_FILE = "result.json"


class Recorder(Logger):
    """A Logger that keeps what the lab needs of a run: `snapshot(step, state)` is called at every log
    point with the learner's state (the same dict a checkpoint saves: Q-tables, weights …), and
    `initial(state)`, if given, replaces the starting state (the way a checkpoint would be restored)."""

    def __init__(self, total_steps: int, snapshot: Callable[[int, dict], None] | None = None,
                 initial: Callable[[dict], None] | None = None, every: int | None = None):
        super().__init__(total_steps, every=every)
        self.snapshot, self.initial = snapshot, initial

    def begin(self, state: dict, agent=None) -> int:
        self.agent = agent
        if self.initial is not None:
            self.initial(state)
        return 0

    def checkpoint(self, step: int, state: dict) -> bool:
        if self.snapshot is not None:
            self.snapshot(step, state)
        return False


def train(algo: str, env_id: str, steps: int, seed: int, config: dict | None = None, recorder: Recorder | None = None,
          eval_episodes: int = 20, env_kwargs: dict | None = None, preset: str | None = None):
    """rung.train without a run directory, with the recorder as its logger, on one torch thread; the
    agent has `.metrics` (the logged rows) and `.eval`, and `.seconds` of wall time."""
    from rung.api import resolve, run

    settings = resolve(algo, env_id, steps, seed, preset=preset, overrides=config, env_kwargs=env_kwargs,
                       eval_episodes=eval_episodes, threads=1)   # one torch thread: small nets, comparable times
    started = time.perf_counter()
    agent = run(settings, None, progress=False, logger=recorder or Recorder(steps))
    agent.seconds = time.perf_counter() - started
    return agent


def claim(text: str, holds: bool, **evidence) -> dict:
    return {"claim": text, "holds": bool(holds), "evidence": to_json(evidence)}


def to_json(value):
    """NumPy scalars and arrays as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_json(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def iqm_ci(values, reps: int = 2000, seed: int = 0) -> dict:
    """IQM over runs [n] and its 95 % bootstrap interval (rliable's stratified bootstrap)."""
    if len(values) == 1:   # every resample of one run is that run: the interval is the point (no bootstrap needed)
        value = float(np.asarray(values, dtype=float).item())
        return {"iqm": value, "low": value, "high": value, "n": 1}
    try:
        from rliable import library, metrics
    except ImportError:
        raise RungError("rung lab aggregates with rliable: pip install 'rung[lab]'") from None
    scores = {"x": np.asarray(values, dtype=float).reshape(-1, 1)}
    with warnings.catch_warnings():   # arch deprecates the RandomState that rliable passes it
        warnings.simplefilter("ignore", FutureWarning)
        point, interval = library.get_interval_estimates(
            scores, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps, random_state=np.random.RandomState(seed))
    return {"iqm": float(point["x"][0]), "low": float(interval["x"][0, 0]), "high": float(interval["x"][1, 0]),
            "n": len(scores["x"])}


def curve_band(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM and the 25th–75th percentile band of curves [runs, points], per point (a fast summary for
    plots; claims use iqm_ci)."""
    from scipy.stats import trim_mean

    return trim_mean(curves, 0.25, axis=0), np.percentile(curves, 25, axis=0), np.percentile(curves, 75, axis=0)


def write_result(out: Path, name: str, seeds: int, quick: bool, numbers: dict, claims: list[dict],
                 figures: list[str], seconds: float) -> dict:
    result = {"experiment": name, "seeds": seeds, "quick": quick, "seconds": round(seconds, 1),
              "figures": figures, "claims": claims, "numbers": to_json(numbers)}
    write_json(out / RESULT_FILE, result)
    return result


def figure(rows: int = 1, cols: int = 2, width: float = 5.0, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    return fig, axes.ravel()


def save_figure(fig, out: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return name
