import json
import operator
import os
import subprocess
import sys
from pathlib import Path

import pytest

# benchmarks/learning_sweep.py reruns the learning tests at other seeds, torch thread counts and CPU kernels
# through these variables. Unset (the suite), each test runs at its own seeds and rung's default threads.
SWEEP_SEED = os.environ.get("RUNG_TEST_SEED")
TEST_THREADS = int(os.environ["RUNG_TEST_THREADS"]) if os.environ.get("RUNG_TEST_THREADS") else None
RECORD = os.environ.get("RUNG_TEST_RECORD")   # a JSON-lines file: every learning check's value and threshold

if TEST_THREADS or os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n 2` on 2 cores: each worker (and each `rung` it starts) gets one core's worth of torch
    # threads; two workers with two threads each oversubscribe the CPU and ran the RLHF tests ≈ 5× slower.
    os.environ["OMP_NUM_THREADS"] = str(TEST_THREADS or 1)
    import torch

    torch.set_num_threads(TEST_THREADS or 1)

# Ray runs its workers at niceness 15: next to the other xdist worker's training (niceness 0) a sweep's
# trial actors got a few per cent of a core, and a 4-trial sweep of 2,000-step Q-learning runs took 136 s
# instead of 36 s (measured with two one-thread jobs beside it). Every Ray these tests start, in this
# process or in a `rung` or `ray start` subprocess, reads this variable.
os.environ.setdefault("RAY_worker_niceness", "0")

ROOT = Path(__file__).resolve().parent.parent
# The installed console script, as a user runs it (falls back to the module when not installed).
SCRIPT = Path(sys.executable).parent / "rung"
RUNG = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "rung.cli"]
COMPARISONS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}


def learning_seeds(*seeds: int) -> list:
    """A learning test's seeds: its own in the suite; the sweep's one seed when the sweep reruns it."""
    chosen = [int(SWEEP_SEED)] if SWEEP_SEED is not None else seeds
    return [pytest.param(seed, id=f"seed{seed}") for seed in chosen]


def threads_option() -> list[str]:
    """`--threads N` for a `rung` subprocess when the sweep fixes the thread count; else rung's default."""
    return ["--threads", str(TEST_THREADS)] if TEST_THREADS else []


@pytest.fixture
def expect(request):
    """`expect(what, value, op, threshold)`: a learning check. It asserts `value op threshold` and, under the
    sweep, records the value first, so that the sweep can print each check's worst value over its runs."""
    def check(what: str, value: float, op: str, threshold: float) -> None:
        value = float(value)
        if RECORD:
            with open(RECORD, "a") as f:   # one short appended line per check: safe from two xdist workers
                f.write(json.dumps({"test": request.node.nodeid, "check": what, "value": value, "op": op,
                                    "threshold": threshold, "seed": SWEEP_SEED, "threads": TEST_THREADS}) + "\n")
        assert COMPARISONS[op](value, threshold), f"{what} = {value:g}, needs {op} {threshold:g}"
    return check


def run_cli(*args, cwd=None, check=False, env=None):
    """Run `rung ARGS...` as a subprocess (`env`: variables to add); returns the CompletedProcess (text mode)."""
    env = {**os.environ, **(env or {})}
    proc = subprocess.run(RUNG + [str(a) for a in args], capture_output=True, text=True, cwd=cwd or ROOT, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"rung {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture
def cli():
    return run_cli


def run_main(*args, cwd=None):
    """`rung ARGS...` through rung.cli.main in this process, as a CompletedProcess with its exit code and
    captured stdout/stderr: for commands that stop at a mistake before any training, where a subprocess
    would spend ≈ 2 s importing torch and the rest for nothing. The console script itself is tested by
    the `cli` tests."""
    import contextlib
    import io

    from rung.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.chdir(cwd or ROOT):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:   # argparse's usage errors
            code = exc.code
    return subprocess.CompletedProcess(["rung", *map(str, args)], code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli_mistake():
    return run_main
