"""The run directory and everything written into it while training.

    runs/<algo>-<env>-s<seed>-<time>/
      config.json     resolved config, step budget, seed, env, versions of rung/Gymnasium/PyTorch/Python
      metrics.csv     every logged scalar, one row per log point, against env steps (`step`)
      tb/             TensorBoard event files (`tensorboard --logdir runs`)
      agent.json      the trained agent's metadata, and its arrays in agent.safetensors (no pickle)
      eval.json       the final evaluation; written last, so a run without it did not finish
"""

from __future__ import annotations

import csv
import json
import os
import platform
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from rung.diagnostics import health
from rung.errors import RungError

AGENT_FILE = "agent.json"
EVAL_FILE = "eval.json"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"


def versions() -> dict[str, str]:
    """Versions of everything that changes results."""
    import gymnasium
    import torch

    from rung import __version__

    return {"rung": __version__, "gymnasium": gymnasium.__version__, "torch": torch.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically: a reader sees the old file or the whole new one, never half of it."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=_json_default)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def default_run_dir(algo: str, env_id: str, seed: int, base: str | Path = "runs") -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", env_id.split(":")[-1])
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return Path(base) / f"{algo}-{slug}-s{seed}-{stamp}"


def create_run_dir(path: str | Path) -> Path:
    """Make a new, empty run directory; refuse to write into a finished or non-empty one."""
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise RungError(f"run directory {path} already exists and is not empty; pick another --run-dir")
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_run_dir(path: str | Path) -> Path:
    """A run directory a user points at must exist and hold a trained agent."""
    path = Path(path)
    if not path.is_dir():
        raise RungError(f"run directory {path} does not exist")
    if not (path / AGENT_FILE).is_file():
        raise RungError(f"{path} holds no trained agent ({AGENT_FILE} is missing: the run did not finish)")
    return path


class EpisodeStats:
    """Episode returns and lengths finished between two log points."""

    def __init__(self):
        self.returns, self.lengths = [], []
        self.count = 0

    def add(self, episode_return: float, episode_length: int) -> None:
        self.returns.append(float(episode_return))
        self.lengths.append(int(episode_length))
        self.count += 1

    def pop(self) -> dict[str, float]:
        """Means over the episodes finished since the last call (nothing if none finished)."""
        out = {"episodes": self.count}
        if self.returns:
            out["episodic_return"] = float(np.mean(self.returns))
            out["episodic_length"] = float(np.mean(self.lengths))
        self.returns, self.lengths = [], []
        return out


class Logger:
    """Receives scalars against env steps. This base one only keeps them in memory (Python API use);
    RunLogger also writes metrics.csv and TensorBoard and drives the progress bar."""

    def __init__(self, total_steps: int, every: int | None = None):
        self.total_steps = total_steps
        self.every = every or max(total_steps // 100, 1)
        self.rows: list[dict[str, float]] = []
        self.start = self.last_time = time.perf_counter()
        self.last_step = 0

    def log(self, step: int, scalars: dict[str, float]) -> dict[str, float]:
        now = time.perf_counter()
        row = {"step": step, **scalars, "time": now - self.start,
               "SPS": (step - self.last_step) / max(now - self.last_time, 1e-9)}
        self.last_time, self.last_step = now, step
        self.rows.append(row)
        return row

    def recent_return(self) -> float | None:
        """Mean episodic return of the last 5 log points that had finished episodes."""
        values = [r["episodic_return"] for r in self.rows[-50:] if "episodic_return" in r][-5:]
        return float(np.mean(values)) if values else None

    def finish(self) -> None:
        """Training ended normally (perhaps before its budget, as value iteration does)."""

    def close(self) -> None:
        pass


class RunLogger(Logger):
    def __init__(self, run_dir: Path, total_steps: int, every: int | None = None, progress: bool = True):
        super().__init__(total_steps, every)
        from torch.utils.tensorboard import SummaryWriter

        self.csv_path = run_dir / METRICS_FILE
        self.columns: list[str] = []
        self.tb = SummaryWriter(str(run_dir / "tb"))
        self.progress = ProgressBar(total_steps) if progress else None

    def log(self, step: int, scalars: dict[str, float]) -> dict[str, float]:
        row = super().log(step, scalars)
        new_columns = [k for k in row if k not in self.columns]
        if new_columns:  # a new metric appeared: rewrite the file with the wider header
            self.columns += new_columns
            with open(self.csv_path, "w", newline="") as f:
                writer = csv.DictWriter(f, self.columns)
                writer.writeheader()
                writer.writerows(self.rows)
        else:
            with open(self.csv_path, "a", newline="") as f:
                csv.DictWriter(f, self.columns).writerow(row)
        for key, value in row.items():
            if key != "step":
                self.tb.add_scalar(key, value, step)
        if self.progress:
            problems = health(self.rows, step / self.total_steps)
            self.progress.update(step, self.recent_return(), row["SPS"], problems[0] if problems else "")
        return row

    def finish(self) -> None:
        if self.progress and self.rows:
            self.progress.finish(self.rows[-1]["step"])

    def close(self) -> None:
        self.tb.close()
        if self.progress:
            self.progress.close()


class ProgressBar:
    """A rich progress bar on stderr: steps done, speed, and the recent mean episodic return."""

    def __init__(self, total: int):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                            TimeRemainingColumn(), console=Console(stderr=True), transient=False)
        self.task = self.bar.add_task("train", total=total, info="")
        self.bar.start()

    def update(self, step: int, recent_return: float | None, sps: float, problem: str = "") -> None:
        info = f"{sps:,.0f} steps/s"
        if recent_return is not None:
            info += f"  return {recent_return:.3f}"
        if problem:
            info += f"  [yellow]{problem}[/yellow]"
        self.bar.update(self.task, completed=step, info=info)

    def finish(self, step: int) -> None:
        self.bar.update(self.task, total=step, completed=step)

    def close(self) -> None:
        self.bar.stop()
