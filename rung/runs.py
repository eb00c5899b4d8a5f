"""The run directory and everything written into it while training.

    runs/<algo>-<env>-s<seed>-<time>/
      config.json     resolved config, step budget, seed, env, versions of rung/Gymnasium/PyTorch/Python
      metrics.csv     every logged scalar, one row per log point, against env steps (`step`)
      tb/             TensorBoard event files (`tensorboard --logdir runs`)
      log.txt         events worth a line: where rollout workers run, a worker replaced, …
      agent.json      the trained agent's metadata, and its arrays in agent.safetensors (no pickle)
      best/           with --eval-every: the agent as it was at its best periodic evaluation
      checkpoint.safetensors   the latest checkpoint (rung.checkpoint)
      curve.png       the learning curve, with `rung train --plot`
      eval.json       the final evaluation; written last, so a run without it did not finish
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import platform
import random
import re
import signal
import threading
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
LOG_FILE = "log.txt"
BEST_DIR = "best"
BEST_FILE = "best.json"   # in best/: the env step and evaluation the agent there comes from
log = logging.getLogger("rung.runs")


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


def write_text_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        f.write(text)
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

    def take(self) -> tuple[list[float], list[int]]:
        """Returns and lengths of the episodes finished since the last call, removed from here (a rollout
        worker sends them to its learner, which `add`s them to its own)."""
        taken = self.returns, self.lengths
        self.returns, self.lengths = [], []
        return taken

    def state_dict(self) -> dict[str, np.ndarray]:
        """The running episode count (a checkpoint is taken right after a log point, when the lists are empty)."""
        return {"count": np.array(self.count)}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])

    def pop(self) -> dict[str, float]:
        """Means over the episodes finished since the last call (nothing if none finished), and
        `episodes`, the number finished since the start of the run."""
        out = {"episodes": self.count}
        if self.returns:
            out["episodic_return"] = float(np.mean(self.returns))
            out["episodic_length"] = float(np.mean(self.lengths))
        self.returns, self.lengths = [], []
        return out


class Interrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM arrived; the run saved a checkpoint at `step` and stopped."""

    def __init__(self, step: int, run_dir: Path | None):
        super().__init__(f"checkpoint saved at step {step:,}" +
                         (f"; continue with: rung train --resume {run_dir}" if run_dir else ""))


class TargetReached(Exception):
    """Training ends early at this log point: a periodic evaluation reached its `stop_at` return, or
    a callback returned False. The run then finishes as usual (final evaluation, agent saved)."""


@contextlib.contextmanager
def isolated_rng():
    """Whatever runs inside draws from the global random generators (torch's, NumPy's, Python's) without
    moving them for the training around it: a callback that acts with the agent changes nothing."""
    import torch

    numpy_state, python_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)


class Callbacks:
    """The user's callbacks (rung.train(..., callbacks=[...])): objects with any of
    `on_log(step, metrics, agent)`, `on_eval(step, result, agent)` and `on_checkpoint(step, run_dir)`;
    one that returns False stops training at that log point, through --stop-at's path (a checkpoint
    there, then the final evaluation). They run with isolated_rng, so a run is the same with a
    callback that only looks as without it."""

    def __init__(self, callbacks: list | None):
        self.callbacks = list(callbacks or [])

    def call(self, hook: str, *args) -> bool:
        """Run `hook` of every callback that has it; False if one asked to stop."""
        keep_going = True
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                with isolated_rng():
                    keep_going &= method(*args) is not False
        return keep_going


class Logger:
    """Receives scalars against env steps, and decides when the algorithm checkpoints. This base one
    keeps the scalars in memory and writes no file (Python API use); RunLogger also writes
    metrics.csv, TensorBoard and checkpoints, and drives the progress bar.

    With `periodic` (rung.evaluate.PeriodicEval), the agent the algorithm hands to `begin` is also
    evaluated at the first log point at or past each multiple of `periodic.every` env steps: the row
    gets `eval_return` and `eval_length`, the best agent so far is kept (RunLogger: in best/), and
    reaching `periodic.stop_at` ends training there (`callbacks` can end it too: Callbacks). Evaluating uses its own envs and leaves every
    random generator of the run alone, so it changes nothing in training.

    Checkpoints are taken at log points: the first at or past each multiple of `checkpoint_every` env
    steps (default: a tenth of the budget), and, unless `exact_resume`, whenever `checkpoint_minutes`
    have passed since the last one. Saving does not disturb a run. A resumed run restarts its envs'
    episodes at the checkpoint's step; with `exact_resume`, every checkpoint restarts them in the
    uninterrupted run too, so that a run crashed and resumed any number of times is bit-identical to
    one that never crashed (rung.checkpoint)."""

    def __init__(self, total_steps: int, every: int | None = None, checkpoint_every: int | None = None,
                 checkpoint_minutes: float | None = None, exact_resume: bool = False, periodic=None,
                 callbacks: list | None = None):
        self.total_steps = total_steps
        self.every = every or max(total_steps // 100, 1)
        self.checkpoint_every = checkpoint_every or max(total_steps // 10, 1)
        self.checkpoint_seconds = None if exact_resume or not checkpoint_minutes else 60 * checkpoint_minutes
        self.exact_resume = exact_resume
        self.last_checkpoint, self.last_checkpoint_time = 0, time.monotonic()
        self.stop_requested = False
        self.run_dir: Path | None = None
        self.rows: list[dict[str, float]] = []
        self.start = self.last_time = time.perf_counter()
        self.last_step = 0
        self.periodic, self.agent = periodic, None
        self.best_eval = -np.inf
        self.callbacks = Callbacks(callbacks)
        self.stop_here = False   # a callback or the stop_at target ended training: stop at the next checkpoint call

    def log(self, step: int, scalars: dict[str, float]) -> dict[str, float]:
        now = time.perf_counter()
        row = {"step": step, **scalars, "time": now - self.start,
               "SPS": (step - self.last_step) / max(now - self.last_time, 1e-9)}
        evaluating = (self.periodic is not None and self.agent is not None
                      and step // self.periodic.every != self.last_step // self.periodic.every)
        if evaluating:
            row.update(self.periodic.run(self.agent))
            now = time.perf_counter()   # evaluating is not training: its time stays out of the next SPS
        self.last_time, self.last_step = now, step
        self.rows.append(row)
        self.write(row)
        if evaluating:
            self.judge(row)
        if not self.callbacks.call("on_log", step, dict(row), self.agent):
            self.stop_early(step, "a callback's on_log returned False")
        if evaluating and not self.callbacks.call("on_eval", step, {k: row[k] for k in ("eval_return", "eval_length")},
                                                  self.agent):
            self.stop_early(step, "a callback's on_eval returned False")
        return row

    def stop_early(self, step: int, why: str) -> None:
        if not self.stop_here:
            log.info(f"{why} at env step {step:,}: training stops")
        self.stop_here = True

    def write(self, row: dict[str, float]) -> None:
        """In memory: nothing is written."""

    def judge(self, row: dict[str, float]) -> None:
        """After a periodic evaluation: keep the best agent so far; stop once the target is reached."""
        if row["eval_return"] > self.best_eval:
            self.best_eval = row["eval_return"]
            self.save_best(row)
        target = self.periodic.stop_at
        if target is not None and row["eval_return"] >= target:
            self.stop_early(row["step"], f"eval return {row['eval_return']:g} ≥ {target:g}")

    def save_best(self, row: dict[str, float]) -> None:
        """In memory: nothing is written."""

    def checkpoint(self, step: int, state: dict) -> bool:
        """Called by the algorithm at each log point with its state (rung.checkpoint names the kinds);
        saves it when a checkpoint is due. True when the caller must restart its envs' episodes here,
        resetting them with `rung.checkpoint.restart_seed(seed, step)` (only with `exact_resume`).
        After a SIGINT or SIGTERM it saves and raises Interrupted instead; after an early stop (stop_at,
        a callback) it saves and raises TargetReached."""
        if step >= self.total_steps:
            if self.stop_here:
                raise TargetReached(step)
            return False
        by_steps = step // self.checkpoint_every != self.last_checkpoint // self.checkpoint_every
        by_time = (self.checkpoint_seconds is not None
                   and time.monotonic() - self.last_checkpoint_time >= self.checkpoint_seconds)
        if not (by_steps or by_time or self.stop_requested or self.stop_here):
            return False
        self.last_checkpoint, self.last_checkpoint_time = step, time.monotonic()
        self.save(step, state)
        self.callbacks.call("on_checkpoint", step, self.run_dir)
        if self.stop_requested:
            raise Interrupted(step, self.run_dir)
        if self.stop_here:
            raise TargetReached(step)
        return self.exact_resume

    def save(self, step: int, state: dict) -> None:
        """In memory: nothing is written."""

    def begin(self, state: dict, agent=None) -> int:
        """Called by the algorithm once its state exists, with the agent it will return (acting with the
        live weights; periodic evaluations use it): the env step to start from. A fresh run starts at 0
        (and writes a step-0 checkpoint, so that a crash at any moment leaves one); a resumed run loads
        its checkpoint into `state` and starts at its step."""
        self.agent = agent
        self.save(0, state)
        return 0

    def recent_return(self) -> float | None:
        """Mean episodic return of the last 5 log points that had finished episodes."""
        values = [r["episodic_return"] for r in self.rows[-50:] if "episodic_return" in r][-5:]
        return float(np.mean(values)) if values else None

    def finish(self) -> None:
        """Training ended normally (perhaps before its budget, as value iteration does)."""

    def close(self) -> None:
        pass


class RunLogger(Logger):
    """Writes metrics.csv, TensorBoard events and checkpoints into the run directory. With `resume`, it
    continues a run from its checkpoint: metrics rows logged after the checkpoint are dropped (they
    will be logged again), and TensorBoard purges its events past that step. SIGINT and SIGTERM make
    the run checkpoint at its next log point and stop (a second signal stops it at once)."""

    def __init__(self, run_dir: Path, total_steps: int, every: int | None = None, progress: bool = True,
                 checkpoint_every: int | None = None, checkpoint_minutes: float | None = None,
                 exact_resume: bool = False, header: dict | None = None, resume: bool = False, periodic=None,
                 callbacks: list | None = None):
        super().__init__(total_steps, every, checkpoint_every, checkpoint_minutes, exact_resume, periodic, callbacks)
        from torch.utils.tensorboard import SummaryWriter

        from rung.checkpoint import CHECKPOINT_FILE

        self.run_dir, self.header = run_dir, dict(header or {})
        self.checkpoint_path = run_dir / CHECKPOINT_FILE
        self.csv_path = run_dir / METRICS_FILE
        self.columns: list[str] = []
        self.resume_from = None
        if resume and not self.checkpoint_path.is_file():  # it died before its step-0 checkpoint
            import warnings

            from rung.errors import RungWarning

            warnings.warn(f"{run_dir} has no checkpoint yet: starting the run from the beginning", RungWarning)
            self.keep_rows_until(-1)
            resume = False
        if resume:
            self.resume_from = self.read_checkpoint()
            self.last_checkpoint = self.last_step = self.resume_from[1]["step"]
            self.keep_rows_until(self.last_step)
            self.best_eval = self.saved_best_eval()
        self.tb = SummaryWriter(str(run_dir / "tb"), purge_step=self.last_step + 1 if resume else None)
        self.events = RunLog(run_dir / LOG_FILE)
        self.progress = ProgressBar(total_steps) if progress else None
        self.previous_handlers = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.previous_handlers[signum] = signal.signal(signum, self.request_stop)

    def request_stop(self, signum, frame) -> None:
        if self.stop_requested:  # a second signal: stop now
            raise KeyboardInterrupt
        self.stop_requested = True

    def saved_best_eval(self) -> float:
        """On resume, the return best/ must beat: the best evaluation logged up to the checkpoint, or the
        one best/ came from if that is higher (saved after the checkpoint, before the crash: with exact
        resume the replay reaches the same number; without, best/ keeps an agent that did score it)."""
        record = self.run_dir / BEST_DIR / BEST_FILE
        saved = json.loads(record.read_text())["eval_return"] if record.is_file() else -np.inf
        return max([row["eval_return"] for row in self.rows if "eval_return" in row] + [saved])

    def read_checkpoint(self) -> tuple[dict, dict]:
        from rung.checkpoint import load

        arrays, meta = load(self.checkpoint_path)
        for key, expected in self.header.items():
            expected = json.loads(json.dumps(expected))  # as the header stores it (tuples become lists)
            if key != "versions" and meta.get(key) != expected:
                raise RungError(f"{self.checkpoint_path} belongs to another run ({key} {meta.get(key)!r}, "
                                f"this run has {expected!r})")
        return arrays, meta

    def keep_rows_until(self, step: int) -> None:
        """metrics.csv without the rows logged after the checkpoint at `step` (the rest kept verbatim)."""
        if not self.csv_path.is_file():
            return
        lines = self.csv_path.read_text().splitlines(keepends=True)
        width = lines[0].count(",") if lines else 0

        def before_checkpoint(line: str) -> bool:  # a line cut short by a crash is dropped too
            first = line.split(",", 1)[0]
            return line.endswith("\n") and line.count(",") == width and first.isdigit() and int(first) <= step
        write_text_atomically(self.csv_path, "".join(lines[:1] + [line for line in lines[1:] if before_checkpoint(line)]))
        with open(self.csv_path, newline="") as f:
            reader = csv.DictReader(f)
            self.columns = list(reader.fieldnames or [])
            self.rows = [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in reader]

    def save(self, step: int, state: dict) -> None:
        from rung.checkpoint import save

        save(self.checkpoint_path, step, state, self.header)

    def begin(self, state: dict, agent=None) -> int:
        if self.resume_from is None:
            return super().begin(state, agent)
        self.agent = agent
        from rung.checkpoint import restore

        arrays, meta = self.resume_from
        try:
            restore(state, arrays, meta["values"])
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise RungError(f"{self.checkpoint_path} does not fit this run's learner "
                            f"({type(exc).__name__}: {exc})") from None
        self.resume_from = None
        return meta["step"]

    def write(self, row: dict[str, float]) -> None:
        step = row["step"]
        new_columns = [k for k in row if k not in self.columns]
        if new_columns:  # a new metric appeared: rewrite the file with the wider header
            self.columns += new_columns
            text = io.StringIO()
            writer = csv.DictWriter(text, self.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows)
            write_text_atomically(self.csv_path, text.getvalue())
        else:
            with open(self.csv_path, "a", newline="") as f:
                csv.DictWriter(f, self.columns, lineterminator="\n").writerow(row)
        for key, value in row.items():
            if key != "step":
                self.tb.add_scalar(key, value, step)
        if self.progress:
            problems = health(self.rows, step / self.total_steps)
            self.progress.update(step, self.recent_return(), row["SPS"], problems[0] if problems else "")

    def save_best(self, row: dict[str, float]) -> None:
        """best/ holds the agent of the best periodic evaluation and best.json says which (written beside,
        then swapped in)."""
        import shutil

        best, fresh = self.run_dir / BEST_DIR, self.run_dir / f"{BEST_DIR}.tmp"
        shutil.rmtree(fresh, ignore_errors=True)
        self.agent.save(fresh)
        write_json(fresh / BEST_FILE, {k: row[k] for k in ("step", "eval_return", "eval_length")})
        shutil.rmtree(best, ignore_errors=True)
        fresh.rename(best)

    def finish(self) -> None:
        if self.progress and self.rows:
            self.progress.finish(self.rows[-1]["step"])

    def close(self) -> None:
        for signum, handler in self.previous_handlers.items():
            signal.signal(signum, handler)
        self.tb.close()
        self.events.close()
        if self.progress:
            self.progress.close()


class RunLog:
    """While a run lasts, what rung logs (logger "rung", INFO and above: where rollout workers run, a
    worker replaced, …) is appended to the run's log.txt with a time stamp."""

    def __init__(self, path: Path):
        self.logger = logging.getLogger("rung")
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.previous_level = self.logger.level
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self.handler)

    def close(self) -> None:
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.previous_level)
        self.handler.close()


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
