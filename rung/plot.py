"""Learning curves: episodic return against env steps, one line per run, and the greedy evaluations
during training (`--eval-every`) as markers in the same colour."""

from __future__ import annotations

import csv
from pathlib import Path

from rung.errors import RungError
from rung.runs import CONFIG_FILE, METRICS_FILE


def read_curve(run_dir: Path, column: str = "episodic_return") -> tuple[list[float], list[float]]:
    """(steps, values) of the rows of metrics.csv that have `column`."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        raise RungError(f"{run_dir} has no {METRICS_FILE}")
    steps, values = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get(column):
                steps.append(float(row["step"]))
                values.append(float(row[column]))
    return steps, values


def plot_runs(run_dirs: list[str | Path], out: str | Path, title: str | None = None) -> Path:
    """Draw each run's episodic return against env steps into one PNG."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for run_dir in map(Path, run_dirs):
        if not run_dir.is_dir():
            raise RungError(f"run directory {run_dir} does not exist")
        steps, returns = read_curve(run_dir)
        label = run_dir.name
        if (run_dir / CONFIG_FILE).is_file():
            record = json.loads((run_dir / CONFIG_FILE).read_text())
            label = f"{record['algo']} {record['env_id']} seed {record['seed']}"
        line, = ax.plot(steps, returns, label=label)
        eval_steps, eval_returns = read_curve(run_dir, "eval_return")
        if eval_steps:
            ax.plot(eval_steps, eval_returns, "o", color=line.get_color(), markersize=4, label=f"{label}: greedy eval")
    ax.set_xlabel("env steps")
    ax.set_ylabel("episodic return (mean per log interval)")
    ax.set_title(title or "learning curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
