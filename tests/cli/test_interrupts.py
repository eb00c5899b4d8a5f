"""Crashes, Ctrl-C and bad checkpoints, through the real command line."""

import json
import random
import signal
import subprocess
import time

import pytest

from rung.checkpoint import load
from tests.conftest import RUNG

TRAIN = ["train", "ppo", "CartPole-v1", "--steps", "60000", "--checkpoint-every", "2048", "--quiet",
         "--eval-episodes", "5"]


def start(*args, cwd):
    return subprocess.Popen(RUNG + [str(a) for a in args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_sigint_checkpoints_exits_130_and_resume_completes(cli, tmp_path):
    run_dir = tmp_path / "run"
    proc = start(*TRAIN, "--run-dir", run_dir, cwd=tmp_path)   # 60,000 steps: ≈ 8 s, the signal comes after ≈ 1
    while not (run_dir / "metrics.csv").is_file():
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "checkpoint saved at step" in err and f"rung train --resume {run_dir}" in err
    arrays, meta = load(run_dir / "checkpoint.safetensors")
    assert 0 < meta["step"] < 60_000
    done = cli("train", "--resume", run_dir, "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((run_dir / "eval.json").read_text())["episodes"] == 5
    assert int(float((run_dir / "metrics.csv").read_text().splitlines()[-1].split(",")[0])) >= 59_000


def test_sigkill_at_ten_random_moments_always_leaves_a_resumable_run(cli, tmp_path):
    """Checkpoints every 2,048 steps (a few per second), so some kills land during a checkpoint write."""
    rng = random.Random(0)
    run_dir = tmp_path / "run"
    command = [*TRAIN, "--run-dir", run_dir]
    for kill in range(10):
        proc = start(*command, cwd=tmp_path)
        time.sleep(rng.uniform(1.5, 4.0))   # imports take ≈ 1.5 s; then training
        proc.kill()
        proc.wait()
        if not (run_dir / "config.json").is_file():
            continue  # killed before the run began: nothing to resume yet
        command = ["train", "--resume", run_dir, "--quiet"]
        if not (run_dir / "checkpoint.safetensors").is_file():
            continue  # killed between creating the directory and the step-0 checkpoint: resume starts over
        if (run_dir / "eval.json").is_file():
            break  # it finished before the kill: nothing left to resume
        arrays, meta = load(run_dir / "checkpoint.safetensors")   # loadable every time
        assert meta["step"] % 2048 == 0
    if not (run_dir / "eval.json").is_file():
        done = cli(*command, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert json.loads((run_dir / "eval.json").read_text())["mean_return"] > 0


@pytest.mark.parametrize("damage, words", [
    ("truncate", "is not a readable rung checkpoint"),
    ("garbage", "is not a readable rung checkpoint"),
    ("foreign", "belongs to another run (algo 'a2c'"),
])
def test_a_bad_checkpoint_is_a_one_line_error(cli, tmp_path, damage, words):
    run_dir = tmp_path / "run"
    cli("train", "ppo", "CartPole-v1", "--steps", "4096", "--run-dir", run_dir, "--quiet", "--eval-episodes", "1",
        check=True)
    (run_dir / "eval.json").unlink()  # as if it had crashed
    path = run_dir / "checkpoint.safetensors"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "garbage":
        path.write_bytes(b"\x80\x04not a checkpoint at all")
    else:
        other = tmp_path / "other"
        cli("train", "a2c", "CartPole-v1", "--steps", "4000", "--run-dir", other, "--quiet", "--eval-episodes", "1",
            check=True)
        path.write_bytes((other / "checkpoint.safetensors").read_bytes())
    proc = cli("train", "--resume", run_dir, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_resume_of_a_run_that_died_before_its_first_checkpoint_starts_over(cli, tmp_path):
    run_dir = tmp_path / "run"
    cli("train", "qlearning", "FrozenLake-v1", "--steps", "3000", "--run-dir", run_dir, "--quiet", check=True)
    for name in ("eval.json", "checkpoint.safetensors"):
        (run_dir / name).unlink()
    proc = cli("train", "--resume", run_dir, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "no checkpoint yet: starting the run from the beginning" in proc.stderr
    steps = [int(line.split(",")[0]) for line in (run_dir / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == sorted(steps) and steps[-1] == 3000 and len(steps) == len(set(steps))
