"""benchmarks/gpu.py --tiny: the GPU check's code paths at toy sizes on the CPU, so the script cannot rot."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_gpu_check_runs_at_toy_sizes_on_the_cpu():
    proc = subprocess.run([sys.executable, "benchmarks/gpu.py", "--tiny", "--device", "cpu"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if " SPS, " in line or "tokens/s" in line]
    assert len(lines) == 3 and all("peak" in line for line in lines), proc.stdout
