"""`rung rlhf demo` end to end: every stage writes its run directory and the table is printed (its own
module, so that it runs apart from the tests sharing tests.conftest.review_models: the demo builds its
own models in a subprocess)."""

import json

import pytest

from tests.conftest import learning_seeds, threads_option

pytestmark = pytest.mark.learning


@pytest.mark.parametrize("seed", learning_seeds(0))
def test_rlhf_demo_writes_a_run_directory_per_stage_and_prints_the_table(cli, tmp_path, seed, expect):
    proc = cli("rlhf", "demo", "--run-dir", tmp_path / "demo", "--seed", seed, *threads_option(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for policy in ("base", "best-of-16", "PPO", "GRPO", "RLOO", "DPO"):
        assert any(line.startswith(policy) for line in proc.stdout.splitlines()), proc.stdout
    summary = json.loads((tmp_path / "demo/reward_model/summary.json").read_text())
    expect("reward model's held-out accuracy", summary["heldout_accuracy"], ">=", 0.85)
    for stage in ("ppo", "grpo", "rloo"):
        summary = json.loads((tmp_path / f"demo/{stage}/summary.json").read_text())
        assert {"gold_before", "gold_after", "proxy_before", "proxy_after", "kl"} <= summary.keys()
        expect(f"{stage}: gold gain", summary["gold_after"] - summary["gold_before"], ">", 0)
        assert summary["kl"] > 0
        header = (tmp_path / f"demo/{stage}/metrics.csv").read_text().splitlines()[0].split(",")
        assert {"update", "objective/kl", "objective/scores"} <= set(header)
        samples = [json.loads(line) for line in (tmp_path / f"demo/{stage}/samples.jsonl").read_text().splitlines()]
        assert [s["update"] for s in samples] == list(range(0, 40, 5)) and all(s["sample"] for s in samples)
    summary = json.loads((tmp_path / "demo/dpo/summary.json").read_text())
    expect("dpo: gold gain", summary["gold_after"] - summary["gold_before"], ">", 0)
    assert {"proxy_after", "implicit_accuracy", "kl"} <= summary.keys()
    header = (tmp_path / "demo/dpo/metrics.csv").read_text().splitlines()[0].split(",")
    assert {"update", "loss", "rewards/margins", "rewards/accuracies"} <= set(header)
