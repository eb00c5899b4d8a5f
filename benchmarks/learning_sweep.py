"""Rerun the learning tests over seeds, torch thread counts and CPU kernels; print each check's worst value.

    python benchmarks/learning_sweep.py [--seeds 0-4] [--threads 1 2] [--kernels default avx2]
                                        [-k EXPR] [--out FILE.md] [TEST_PATH ...]

A learning test that holds for one trajectory on one machine is a coin toss on the next: float sums
differ between thread counts and between CPU kernels (AVX-512 here, AVX2 on many machines of this
kind). Each (kernels, threads, seed) is one pytest run of the tests marked `learning`, with
RUNG_TEST_SEED, RUNG_TEST_THREADS and RUNG_TEST_RECORD set (tests/conftest.py): every check made
through the `expect` fixture appends its value and threshold to the record. One-thread runs spread
their tests over two pytest workers (one thread each: 2 cores); two-thread runs use one process, so
no two multi-threaded trainings ever share the CPU. `--kernels avx2` makes PyTorch, MKL and oneDNN
use their AVX2 code on an AVX-512 machine.

The table: per test and check, the threshold, the worst value over every run (the margin is the
distance between them), the spread, and the configurations where the check failed; then every test
that failed without reaching a check (a crash, or an assert outside `expect`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import COMPARISONS  # noqa: E402  (the comparisons the checks themselves make)

ROOT = Path(__file__).resolve().parent.parent
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
WORSE = {">=": min, ">": min, "<=": max, "<": max}   # "==": the value farthest from the threshold


def seed_list(text: str) -> list[int]:
    """'0-4' → [0, 1, 2, 3, 4]; '0,3' → [0, 3]."""
    if "-" in text:
        low, high = map(int, text.split("-"))
        return list(range(low, high + 1))
    return [int(s) for s in text.split(",")]


def test_name(nodeid: str) -> str:
    """The test's id without the sweep's seed parameter: its runs at every seed are one row."""
    name = re.sub(r"-?seed\d+", "", nodeid.split("::", 1)[1])
    return name.replace("[-", "[").replace("[]", "")


def run_config(kernels: str, threads: int, seed: int, paths: list[str], select: str | None, record: Path,
               junit: Path) -> tuple[float, int]:
    env = {**os.environ, "RUNG_TEST_SEED": str(seed), "RUNG_TEST_THREADS": str(threads),
           "RUNG_TEST_RECORD": str(record), **(AVX2 if kernels == "avx2" else {})}
    command = [sys.executable, "-m", "pytest", "-q", "-m", "learning", "-p", "no:cacheprovider",
               f"--junitxml={junit}", *(["-n", "2"] if threads == 1 else []), *(["-k", select] if select else []),
               *paths]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 1):   # 1: some tests failed, which the table shows; anything else broke
        sys.exit(f"pytest exited {proc.returncode} for kernels={kernels} threads={threads} seed={seed}:\n"
                 f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return time.perf_counter() - started, proc.returncode


def failed_tests(junit: Path) -> list[tuple[str, str]]:
    """(test name, first line of the failure) for each failed or erroring test of a pytest run."""
    failed = []
    for case in ElementTree.parse(junit).iter("testcase"):
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if problem is not None:
            failed.append((test_name(f"{case.get('classname')}::{case.get('name')}"), (problem.get("message") or "").splitlines()[0][:120]))
    return failed


def table(records: list[dict], failures: dict[str, list[str]], configs: int) -> str:
    rows = defaultdict(list)
    for r in records:
        rows[(test_name(r["test"]), r["check"], r["op"], r["threshold"])].append(r)
    lines = ["| test | check | threshold | worst | spread | runs | failed at |", "|---|---|---|---|---|---|---|"]
    for (test, check, op, threshold), runs in sorted(rows.items()):
        values = [r["value"] for r in runs]
        worst = WORSE[op](values) if op in WORSE else max(values, key=lambda v: abs(v - threshold))
        failed = [f"{r['kernels']}/{r['threads']}t/s{r['seed']}" for r in runs
                  if not COMPARISONS[op](r["value"], threshold)]
        lines.append(f"| {test} | {check} | {op} {threshold:g} | {worst:.4g} | {min(values):.4g}–{max(values):.4g} "
                     f"| {len(runs)}/{configs} | {', '.join(failed) or '—'} |")
    if failures:
        lines += ["", "Failed runs (a check's failure, a crash, or an assert outside `expect`):"]
        lines += [f"- {test}: {'; '.join(where)}" for test, where in sorted(failures.items())]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", default=["tests"], help="test files or directories (default: tests)")
    parser.add_argument("--seeds", default="0-4", help="seeds, as 0-4 or 0,3 (default 0-4)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts (default 1 2)")
    parser.add_argument("--kernels", nargs="+", default=["default"], choices=["default", "avx2"],
                        help="CPU kernels: this CPU's own, and/or AVX2 (default: default)")
    parser.add_argument("-k", dest="select", help="pytest -k expression: a subset of the learning tests")
    parser.add_argument("--out", help="also write the table to this Markdown file")
    args = parser.parse_args()

    records, failures = [], defaultdict(list)
    configs = [(k, t, s) for k in args.kernels for t in args.threads for s in seed_list(args.seeds)]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (kernels, threads, seed) in enumerate(configs):
            record, junit = Path(tmp) / f"record-{i}.jsonl", Path(tmp) / f"junit-{i}.xml"
            seconds, code = run_config(kernels, threads, seed, args.paths, args.select, record, junit)
            label = f"{kernels}/{threads}t/s{seed}"
            for test, message in failed_tests(junit):
                failures[test].append(f"{label}: {message}")
            print(f"[{i + 1}/{len(configs)}] kernels={kernels} threads={threads} seed={seed}: "
                  f"{'passed' if code == 0 else 'FAILED'} in {seconds:.0f} s", flush=True)
            if record.exists():
                records += [{**json.loads(line), "kernels": kernels} for line in record.read_text().splitlines()]
    text = table(records, failures, len(configs))
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
