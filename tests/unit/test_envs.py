"""Vector env backends and network initialisation."""

import numpy as np
import pytest
import torch

from rung.envs import make_vec_env
from rung.errors import RungError
from rung.nets import orthogonal_init


@pytest.mark.parametrize("backend, expected", [("native", "CartPoleVectorEnv"), ("sync", "SyncVectorEnv"),
                                               ("async", "AsyncVectorEnv"), ("auto", "CartPoleVectorEnv")])
def test_backends_run_whole_episodes(backend, expected):
    env = make_vec_env("CartPole-v1", 3, backend=backend)
    assert type(env.env).__name__ == expected
    obs = env.reset(seed=0)
    assert obs.shape == (3, 4)
    invalid = 0
    for _ in range(300):
        obs, rewards, terminated, truncated, valid = env.step(np.zeros(3, dtype=np.int64))
        invalid += int((~valid).sum())
        assert not (terminated & ~valid).any()
    stats = env.episodes.pop()
    env.close()
    # always pushing left ends an episode in ~10 steps; each end is followed by exactly one reset step
    assert stats["episodes"] >= 30 and 8 <= stats["episodic_length"] <= 12
    assert abs(invalid - stats["episodes"]) <= 3


def test_custom_env_class_vectorises_with_sync(tmp_path):
    env = make_vec_env("tests.cli.fixtures.gridworld:Chain", 2)
    assert type(env.env).__name__ == "SyncVectorEnv"
    env.reset(seed=0)
    for _ in range(12):
        env.step(np.ones(2, dtype=np.int64))
    assert env.episodes.pop()["episodic_length"] == 5.0


def test_backend_errors():
    with pytest.raises(RungError, match="no native vectorised"):
        make_vec_env("Acrobot-v1", 2, backend="native")
    with pytest.raises(RungError, match="unknown environment"):
        make_vec_env("Acrobat-v1", 2)


def test_orthogonal_init_gives_orthonormal_rows_and_zero_bias():
    layer = torch.nn.Linear(16, 8)
    orthogonal_init(layer, gain=2.0)
    w = layer.weight.detach()
    torch.testing.assert_close(w @ w.T, 4.0 * torch.eye(8), atol=1e-5, rtol=1e-5)
    assert (layer.bias == 0).all()
