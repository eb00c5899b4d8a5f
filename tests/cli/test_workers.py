"""`rung train --workers N`: PPO solves CartPole with its envs stepped by two Ray actors, and a run
whose worker process is killed completes and says so in its log."""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.conftest import ROOT, RUNG, learning_seeds, threads_option


@pytest.mark.learning
@pytest.mark.parametrize("seed", learning_seeds(0))
def test_ppo_with_two_workers_solves_cartpole(cli, tmp_path, seed, expect):
    proc = cli("train", "ppo", "CartPole-v1", "--workers", "2", "--run-dir", tmp_path / "run", "--quiet",
               "--seed", seed, *threads_option())
    assert proc.returncode == 0, proc.stderr
    expect("eval return", json.loads((tmp_path / "run/eval.json").read_text())["mean_return"], ">=", 475)
    log = (tmp_path / "run/log.txt").read_text()
    assert "rollout worker 0: envs 0–15" in log and "rollout worker 1: envs 16–31" in log
    assert "bytes of weights to each worker" in log


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_killing_a_worker_process_mid_run(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(RUNG + ["train", "ppo", "CartPole-v1", "--workers", "2", "--steps", "60000",
                                    "--run-dir", str(run_dir), "--quiet"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        log = run_dir / "log.txt"
        wait_for(lambda: log.is_file() and "rollout worker 1:" in log.read_text(), 120, "the workers to start")
        metrics = run_dir / "metrics.csv"
        wait_for(lambda: metrics.is_file() and len(metrics.read_text().splitlines()) > 3, 60, "training to start")
        line = next(line for line in log.read_text().splitlines() if "rollout worker 1:" in line)
        pid = int(line.rsplit("pid ", 1)[1].split()[0])
        assert proc.poll() is None, "the run ended before the worker could be killed"
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "final evaluation" in out
    warning = f"rollout worker 1 (envs 16–31, pid {pid} on "
    assert f"rung: warning: {warning}" in err
    assert warning in log.read_text() and "partial rollout is dropped" in log.read_text()
    assert json.loads(metrics.read_text().splitlines()[-1].split(",", 1)[0]) == 58 * 1024   # every update ran
    assert (run_dir / "eval.json").is_file()
