"""The control algorithms on the configured device (issue 18): with torch's default device set to "meta",
any tensor the code makes without naming a device lands on meta, and the first operation that mixes
it with the CPU networks fails (as does reading it back). So a run passes here only if every tensor is
made on the networks' device, as it must be for `--device cuda`: training, acting (greedy and
exploring, with action masks), the LSTM's memory, one-hot and Dict encoders, checkpoints, the
evaluations during training and the final one."""

import json

import pytest
import torch

import rung
from rung.devices import for_learner
from rung.errors import RungError
from rung.evaluate import evaluate
from tests.cli.fixtures.space_envs import LockedJumps, PixelChaseDict
from tests.unit.test_resume import crash_at_second_checkpoint

RUNS = [
    ("dqn", LockedJumps, {"learning_starts": 20, "batch_size": 8, "train_freq": 1, "double_q": True}),
    ("dqn", PixelChaseDict, {"learning_starts": 20, "batch_size": 8, "dueling": True}),
    ("reinforce", LockedJumps, {"baseline": True, "n_envs": 2}),
    ("a2c", "CartPole-v1", {"n_envs": 2, "normalize_obs": True, "normalize_reward": True}),
    ("a2c", LockedJumps, {"n_envs": 2, "recurrent": True, "lstm_size": 8}),
    ("ppo", LockedJumps, {"n_envs": 2, "n_steps": 16, "batch_size": 16, "n_epochs": 2}),
    ("ppo", "Pendulum-v1", {"n_envs": 2, "n_steps": 16, "batch_size": 16, "n_epochs": 1, "normalize_obs": True,
                            "recurrent": True, "lstm_size": 8, "target_kl": 0.01}),
    ("ddpg", "Pendulum-v1", {"learning_starts": 20, "batch_size": 8, "net_arch": [16]}),
    ("td3", "Pendulum-v1", {"learning_starts": 20, "batch_size": 8, "net_arch": [16]}),
    ("sac", "Pendulum-v1", {"learning_starts": 20, "batch_size": 8, "net_arch": [16]}),
]


@pytest.fixture
def meta_default_device():
    torch.set_default_device("meta")
    yield
    torch.set_default_device(None)


@pytest.mark.parametrize("algo, env, config", RUNS, ids=lambda x: getattr(x, "__name__", None))
def test_no_learner_makes_a_tensor_off_its_device(algo, env, config, meta_default_device, tmp_path):
    assert torch.empty(1).device.type == "meta"
    agent = rung.train(algo, env, steps=128, config=config, run_dir=tmp_path / "run", eval_episodes=2,
                       eval_every=64, checkpoint_every=64, device="cpu")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["device"] == "cpu"
    evaluate(agent, episodes=2, deterministic=False, env=env)   # the exploring actions too
    evaluate(rung.load(tmp_path / "run"), episodes=1, env=env)   # and the saved agent loads and acts


@pytest.mark.parametrize("algo, env, config", [RUNS[0], RUNS[5], RUNS[-1]], ids=["dqn", "ppo", "sac"])
def test_a_checkpoint_resumes_onto_the_configured_device(algo, env, config, tmp_path, monkeypatch):
    kwargs = dict(steps=128, config=config, checkpoint_every=32, eval_episodes=1, device="cpu")
    crash_at_second_checkpoint(algo, env, tmp_path / "run", kwargs, monkeypatch)
    torch.set_default_device("meta")
    try:
        rung.resume(tmp_path / "run", env=env, device="cpu")   # optimiser moments, normalisers, replay: all restored
    finally:
        torch.set_default_device(None)


def test_auto_puts_only_image_learners_on_a_gpu(monkeypatch):
    from gymnasium import spaces

    vector, image = spaces.Box(-1, 1, (4,)), spaces.Box(0, 255, (1, 8, 8), "uint8")
    assert for_learner("auto", vector) == for_learner("auto", image) == torch.device("cpu") or torch.cuda.is_available()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert for_learner("auto", vector) == torch.device("cpu")
    assert for_learner("auto", image) == torch.device("cuda")
    assert for_learner("auto", PixelChaseDict.observation_space) == torch.device("cuda")   # an image leaf


def test_a_device_a_learner_cannot_use_is_one_line_before_training(tmp_path):
    with pytest.raises(RungError, match="qlearning keeps a NumPy table on the CPU; --device is for dqn"):
        rung.train("qlearning", "FrozenLake-v1", steps=100, device="cuda")
    with pytest.raises(RungError, match="unknown device 'tpu'"):
        rung.train("ppo", "CartPole-v1", steps=100, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RungError, match="torch sees no CUDA device"):
            rung.train("dqn", "CartPole-v1", steps=100, device="cuda:0", run_dir=tmp_path / "run")
        assert not (tmp_path / "run").exists()
