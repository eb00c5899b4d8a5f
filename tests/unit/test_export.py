"""`rung export`: the greedy policy as ONNX (checked with onnxruntime) and TorchScript gives rung's own
actions on 1,000 observations: MLP and CNN bodies, Discrete, MultiDiscrete and Box actions (asymmetric
bounds), observation normalisation folded in. Agents are built directly (export needs only the network);
their normalisers hold non-trivial statistics."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from rung.algos.ddpg import ActorAgent
from rung.algos.dqn import QAgent
from rung.algos.ppo import PolicyAgent
from rung.errors import RungError
from rung.export import to_onnx, to_torchscript
from rung.nets import ActorCritic, QNetwork, SquashedGaussianActor, make_body

ort = pytest.importorskip("onnxruntime")
VECTOR = spaces.Box(-5.0, 5.0, (6,), np.float32)
IMAGE = spaces.Box(0, 255, (16, 16, 3), np.uint8)


def policy_agent(action_space):
    torch.manual_seed(0)
    policy = ActorCritic(VECTOR, action_space, (32, 32), "tanh", False, normalize_obs=True)
    policy.obs_norm.update(torch.randn(500, 6) * 3 + 1)   # statistics far from (0, 1)
    return PolicyAgent(policy, VECTOR, action_space, {}, "ppo")


def dqn_cnn_agent():
    torch.manual_seed(0)
    return QAgent(QNetwork(make_body(IMAGE, (64,)), 4), IMAGE, (64,), False)


def dqn_normalised_agent():
    from rung.nets import RunningNorm

    torch.manual_seed(0)
    norm = RunningNorm(VECTOR.shape)
    norm.update(torch.randn(500, 6) * 3 + 1)   # statistics far from (0, 1)
    return QAgent(QNetwork(make_body(VECTOR, (32,)), 5, obs_norm=norm), VECTOR, (32,), False)


def sac_agent():
    torch.manual_seed(0)
    box = spaces.Box(np.array([0.0, -3.0], np.float32), np.array([4.0, 1.0], np.float32))
    return ActorAgent(SquashedGaussianActor(VECTOR, 2, (32, 32)), VECTOR, box, (32, 32), "sac")


AGENTS = {"ppo-discrete-normalised": lambda: policy_agent(spaces.Discrete(5)),
          "ppo-multidiscrete": lambda: policy_agent(spaces.MultiDiscrete([3, 2, 4])),
          "ppo-box-asymmetric": lambda: policy_agent(spaces.Box(np.array([0.0, -3.0], np.float32),
                                                                np.array([4.0, 1.0], np.float32))),
          "dqn-cnn": dqn_cnn_agent, "dqn-normalised": dqn_normalised_agent, "sac-box": sac_agent}


@pytest.mark.parametrize("name", AGENTS)
def test_exported_policies_act_as_rung_does(name, tmp_path):
    agent = AGENTS[name]()
    rng = np.random.default_rng(0)
    space = agent.obs_space
    obs = (rng.integers(0, 256, (1000, *space.shape)) if space.dtype == np.uint8
           else rng.normal(0, 3, (1000, *space.shape))).astype(space.dtype)
    ours = agent.act_batch(obs)
    onnx_actions = ort.InferenceSession(str(to_onnx(agent, tmp_path / "policy.onnx"))).run(None, {"obs": obs})[0]
    with torch.no_grad():
        script_actions = torch.jit.load(str(to_torchscript(agent, tmp_path / "policy.pt")))(torch.as_tensor(obs)).numpy()
    for theirs in (onnx_actions, script_actions):
        assert theirs.shape == ours.shape
        if ours.dtype.kind in "iu":
            assert np.array_equal(theirs, ours)
        else:   # float32 through another runtime: equal to rounding
            np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-5)
    assert len(np.unique(ours.reshape(len(ours), -1), axis=0)) > 1   # not a constant policy that matches trivially


def test_what_cannot_be_exported_says_so(tmp_path):
    dict_space = spaces.Dict({"a": VECTOR})
    agent = PolicyAgent(ActorCritic(dict_space, spaces.Discrete(2)), dict_space, spaces.Discrete(2), {}, "ppo")
    with pytest.raises(RungError, match="Dict and Tuple observations"):
        to_onnx(agent, tmp_path / "x.onnx")


def test_rung_export_writes_both_formats(cli, tmp_path):
    import rung

    rung.train("ppo", "CartPole-v1", steps=1024, run_dir=tmp_path / "run", eval_episodes=1, eval_every=0,
               config={"n_envs": 2, "n_steps": 128, "normalize_obs": True})
    proc = cli("export", tmp_path / "run", "--onnx", tmp_path / "p.onnx", "--torchscript", tmp_path / "p.pt")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "p.onnx").stat().st_size > 0 and (tmp_path / "p.pt").stat().st_size > 0
    proc = cli("export", tmp_path / "run")
    assert proc.returncode == 2 and "export needs --onnx FILE" in proc.stderr
