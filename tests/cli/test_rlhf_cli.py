"""`rung rlhf STAGE`: each stage is a run directory the next one reads; mistakes are one-line errors."""

import json


def test_verifiable_task_stages_pretrain_then_grpo_and_rloo(cli, tmp_path):
    proc = cli("rlhf", "pretrain", "--task", "arithmetic", "--steps", "300", "--run-dir", tmp_path / "adder",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "adder/summary.json").read_text())["task"] == "arithmetic"
    for method in ("grpo", "rloo"):
        proc = cli("rlhf", method, "--policy", tmp_path / "adder", "--set", "updates=6", "group_size=4",
                   "--run-dir", tmp_path / method, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        summary = json.loads((tmp_path / method / "summary.json").read_text())
        assert {"accuracy_before", "accuracy_after", "kl"} <= summary.keys()
        assert summary["config"]["updates"] == 6 and summary["config"]["max_new_tokens"] == 8
        rows = (tmp_path / method / "metrics.csv").read_text().splitlines()
        assert len(rows) == 7 and "gold/mean" in rows[0]
        assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / method / "tb").iterdir())
        assert "accuracy_after" in proc.stdout


def test_stage_mistakes_are_one_line_errors(cli, cli_mistake, tmp_path):
    proc = cli("rlhf", "pretrain", "--task", "arithmetic", "--steps", "5", "--run-dir", tmp_path / "adder",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cases = [
        (("rlhf", "ppo", "--policy", tmp_path / "nowhere"), "holds no model"),
        (("rlhf", "reward", "--policy", tmp_path / "adder"), "works on the reviews task"),
        (("rlhf", "dpo", "--policy", tmp_path / "adder"), "works on the reviews task"),
        (("rlhf", "grpo", "--policy", tmp_path / "adder", "--reward-model", tmp_path / "adder"), "exact reward"),
        (("rlhf", "grpo", "--policy", tmp_path / "adder", "--set", "beta_typo=1"), "unknown config key"),
        (("rlhf", "pretrain", "--task", "poetry"), "unknown task"),
        (("rlhf", "grpo", "--set", "updates=3"), "needs --policy DIR (or --resume RUN_DIR)"),
        (("rlhf", "grpo", "--resume", tmp_path / "nowhere"), "not a stage started by `rung rlhf`"),
        (("rlhf", "pretrain", "--resume", tmp_path / "adder"), "with its own settings; drop --run-dir"),
        (("rlhf", "grpo", "--policy", tmp_path / "adder", "--lora", "r=4"), "LoRA adapters go on a Hugging Face"),
    ]
    for args, message in cases:
        proc = cli_mistake(*args, "--run-dir", tmp_path / "out", cwd=tmp_path)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    proc = cli("rlhf", "grpo", "--resume", tmp_path / "adder", cwd=tmp_path)
    assert proc.returncode == 2 and "is a pretrain stage: continue it with rung rlhf pretrain --resume" in proc.stderr
