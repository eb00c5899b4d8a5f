"""The README's Python example and quick-start commands stay true."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import learning_seeds, threads_option

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_python_example_runs(tmp_path):
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "'mean_return': 1.0" in proc.stdout
    assert (tmp_path / "runs/readme-example/agent.safetensors").is_file()


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    quick_start = README.split("## Quick start")[1].split("\n## ")[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quick_start, re.S)
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert "rung train" in commands[0]
    ci = (Path(__file__).resolve().parent.parent / ".ci/run").read_text()
    assert commands[1] in ci


@pytest.mark.learning
@pytest.mark.parametrize("seed", learning_seeds(0))
def test_main_command_trains_a_solved_cartpole_and_draws_its_curve(tmp_path, seed, expect):
    quick_start = README.split("## Quick start")[1].split("\n## ")[0]
    main_command = re.findall(r"```bash\n(.*?)\n```", quick_start, re.S)[0]
    rung_part = main_command.split("&& .venv/bin/rung ")[1].split()
    proc = subprocess.run([str(Path(sys.executable).parent / "rung"), *rung_part, "--run-dir", "run", "--quiet",
                           "--seed", str(seed), *threads_option()], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    expect("eval return", float(re.search(r"mean return ([\d.]+)", proc.stdout).group(1)), ">=", 475)
    assert (tmp_path / "run/curve.png").stat().st_size > 10_000
