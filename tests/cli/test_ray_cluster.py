"""`--address`: rollout workers and sweeps on an existing Ray cluster, here a head started with
`ray start --head` (token authentication on, as Ray does by default where a token exists)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

RAY = Path(sys.executable).parent / "ray"
TOKEN = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "rung-test-cluster-token-0123456789abcdef"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """(address, the head's log directory) of a 2-CPU Ray head in its own temp dir and process group."""
    temp_dir = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))   # short: Ray's socket paths must fit 107 bytes
    port = free_port()
    head = subprocess.Popen([str(RAY), "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                             "--disable-usage-stats", f"--temp-dir={temp_dir}", "--block"],
                            env={**os.environ, **TOKEN}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while subprocess.run([str(RAY), "status", f"--address={address}"], env={**os.environ, **TOKEN},
                         capture_output=True).returncode != 0:
        assert head.poll() is None and time.monotonic() < deadline, f"the Ray head did not start: {head.stdout.read()}"
        time.sleep(1)
    yield address, temp_dir / "session_latest/logs"
    os.killpg(head.pid, signal.SIGTERM)   # --block: the head stops the processes it started
    try:
        head.wait(1)   # in practice it ignores SIGTERM while --block waits; SIGKILL ends the group
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
    shutil.rmtree(temp_dir, ignore_errors=True)


def test_rollout_workers_run_on_the_cluster_and_leave_it_running(cli, cluster, tmp_path):
    address, head_logs = cluster
    proc = cli("train", "ppo", "CartPole-v1", "--workers", "2", "--address", address, "--steps", "4096",
               "--run-dir", tmp_path / "run", "--quiet", env=TOKEN)
    assert proc.returncode == 0, proc.stderr
    pids = [line.rsplit("pid ", 1)[1].split()[0] for line in (tmp_path / "run/log.txt").read_text().splitlines()
            if "rollout worker" in line and " pid " in line]
    assert len(pids) == 2
    # each worker was a process of that cluster: its log is among the head's
    worker_logs = [name for name in os.listdir(head_logs) if name.startswith("python-core-worker-")]
    assert all(any(name.endswith(f"_{pid}.log") for name in worker_logs) for pid in pids), (pids, worker_logs)
    assert subprocess.run([str(RAY), "status", f"--address={address}"], env={**os.environ, **TOKEN},
                          capture_output=True).returncode == 0   # rung disconnected; it did not stop the cluster


def test_sweep_runs_its_trials_on_the_cluster(cli, cluster, tmp_path):
    address, _ = cluster
    proc = cli("sweep", "qlearning", "FrozenLake-v1", "--grid", "lr=0.1,0.5", "--seeds", "1", "--steps", "1000",
               "--address", address, "--run-dir", tmp_path / "sweep", env=TOKEN, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sweep/summary.json").is_file() and "best: {'lr':" in proc.stdout


def test_a_cluster_that_refuses_the_driver_is_a_one_line_error_that_names_the_token(cli, cluster, tmp_path):
    address, _ = cluster
    proc = cli("train", "ppo", "CartPole-v1", "--workers", "2", "--address", address, "--steps", "4096",
               # Ray retries a refused connection once a second, 20 times; two tries are enough to be refused
               "--run-dir", tmp_path / "run", env={"RAY_AUTH_MODE": "", "RAY_AUTH_TOKEN": "",
                                                   "RAY_gcs_server_port_wait_time_s": "2"})
    assert proc.returncode == 2
    error = [line for line in proc.stderr.splitlines() if line.startswith("rung: error:")]
    assert len(error) == 1 and f"cannot reach a Ray cluster at '{address}'" in error[0]
    assert "set RAY_AUTH_MODE=token" in error[0]


def test_an_address_where_nothing_listens_is_an_error_at_once_before_any_run_directory(cli, tmp_path):
    address = f"127.0.0.1:{free_port()}"   # Ray's own retries would take minutes
    for args in (("train", "ppo", "CartPole-v1", "--workers", "2"), ("sweep", "ppo", "CartPole-v1", "--grid", "lr=1e-3")):
        started = time.monotonic()
        proc = cli(*args, "--address", address, "--run-dir", tmp_path / "run")
        assert proc.returncode == 2 and time.monotonic() - started < 30
        assert f"rung: error: nothing answers at {address} (Connection refused)" in proc.stderr, proc.stderr
        assert not (tmp_path / "run").exists()
