"""Learning curves: episodic return against env steps, one line per run."""

from __future__ import annotations

import csv
from pathlib import Path

from rung.errors import RungError
from rung.runs import CONFIG_FILE, METRICS_FILE


def read_curve(run_dir: Path) -> tuple[list[float], list[float]]:
    path = run_dir / METRICS_FILE
    if not path.is_file():
        raise RungError(f"{run_dir} has no {METRICS_FILE}")
    steps, returns = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("episodic_return"):
                steps.append(float(row["step"]))
                returns.append(float(row["episodic_return"]))
    return steps, returns


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
        ax.plot(steps, returns, label=label)
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
