import os
import subprocess
import sys
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n 2` on 2 cores: each worker (and each `rung` it starts) gets one core's worth of torch
    # threads; two workers with two threads each oversubscribe the CPU and ran the RLHF tests ≈ 5× slower.
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent
# The installed console script, as a user runs it (falls back to the module when not installed).
SCRIPT = Path(sys.executable).parent / "rung"
RUNG = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "rung.cli"]


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
