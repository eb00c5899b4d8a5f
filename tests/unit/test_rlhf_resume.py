"""An RLHF stage killed mid-run and resumed (`rung rlhf STAGE --resume RUN_DIR`) ends with the same
metrics, summary and weights as an uninterrupted run, bit for bit on the CPU: the policy-optimisation
stages (PPO, GRPO; RLOO shares GRPO's loop) and pretraining, the reward model and DPO."""

import json

import pytest
import torch

from rung.errors import RungError
from rung.rlhf import pipeline


class Killed(Exception):
    """Stands for the process dying right after a checkpoint was written."""


@pytest.fixture(scope="module")
def adder(tmp_path_factory):
    directory = tmp_path_factory.mktemp("adder")
    pipeline.pretrain_stage(directory / "base", task="arithmetic", steps=150, seed=0)
    return directory / "base"


def kill_after_checkpoint(monkeypatch, saves: int) -> None:
    after = pipeline.StageCheckpoint.after
    written = []

    def after_then_die(self, update, state):
        after(self, update, state)
        if (update + 1) % self.every == 0:
            written.append(update)
            if len(written) == saves:
                raise Killed
    monkeypatch.setattr(pipeline.StageCheckpoint, "after", after_then_die)


@pytest.mark.parametrize("method, overrides", [("ppo", {"updates": 23, "batch_size": 16, "minibatch_size": 8}),
                                               ("grpo", {"updates": 23, "prompts_per_update": 4, "group_size": 4})])
def test_a_killed_stage_resumes_to_the_same_end(adder, method, overrides, tmp_path, monkeypatch):
    torch.set_num_threads(1)
    pipeline.start_stage(tmp_path / "straight", method, adder, seed=1, overrides=overrides)
    with monkeypatch.context() as patch:
        kill_after_checkpoint(patch, saves=2)
        with pytest.raises(Killed):
            pipeline.start_stage(tmp_path / "resumed", method, adder, seed=1, overrides=overrides)
    assert not (tmp_path / "resumed/summary.json").exists()
    assert pipeline.StageCheckpoint(tmp_path / "resumed").next_update() == 20
    pipeline.resume_stage(tmp_path / "resumed")
    for name in ("metrics.csv", "samples.jsonl", "model.safetensors"):
        assert (tmp_path / "straight" / name).read_bytes() == (tmp_path / "resumed" / name).read_bytes(), name
    straight, resumed = (json.loads((tmp_path / run / "summary.json").read_text()) for run in ("straight", "resumed"))
    assert straight == resumed
    with pytest.raises(RungError, match="nothing to resume"):
        pipeline.resume_stage(tmp_path / "resumed")


def kill_and_resume(tmp_path, monkeypatch, start, checkpoint_at: int) -> None:
    """`start(run_dir)` once straight, once killed after its first checkpoint and resumed."""
    start(tmp_path / "straight")
    with monkeypatch.context() as patch:
        kill_after_checkpoint(patch, saves=1)
        with pytest.raises(Killed):
            start(tmp_path / "resumed")
    assert not (tmp_path / "resumed/summary.json").exists()
    assert pipeline.StageCheckpoint(tmp_path / "resumed").next_update() == checkpoint_at
    pipeline.resume_stage(tmp_path / "resumed")


def test_killed_pretraining_reward_and_dpo_stages_resume_to_the_same_end(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setattr(pipeline, "STEP_CHECKPOINT_EVERY", 20)
    kill_and_resume(tmp_path / "base", monkeypatch, lambda run_dir: pipeline.start_stage(
        run_dir, "pretrain", seed=2, task="reviews", steps=50, lr=None, model=None), checkpoint_at=20)
    base = tmp_path / "base/straight"
    for stage, settings in (("reward", {}), ("dpo", {"overrides": {"epochs": 1, "batch_size": 16}})):
        kill_and_resume(tmp_path / stage, monkeypatch, lambda run_dir: pipeline.start_stage(
            run_dir, stage, base, seed=2, pairs=400, label_noise=0.1, **settings), checkpoint_at=20)
    for stage in ("base", "reward", "dpo"):
        for name in ("model.safetensors", "summary.json", *(["metrics.csv"] if stage == "dpo" else [])):
            straight, resumed = (tmp_path / stage / run / name for run in ("straight", "resumed"))
            assert straight.read_bytes() == resumed.read_bytes(), f"{stage}/{name}"
