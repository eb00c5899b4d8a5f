"""Runs on the spaces of issue 15 keep rung's contracts: the same seed gives the same run, and a run
resumed from a checkpoint is bit-identical to the straight one (the straight run and the resumed one
are two runs of one seed in one process, so this checks determinism too). Dict observations go
through the replay buffer's checkpoint field by field and through per-leaf observation normalisation;
masks through the replay buffer's legal next actions and the rollout's masked log π."""

import json

import numpy as np
import pytest
from gymnasium import spaces
from safetensors.numpy import load_file

import rung
from rung.envs import make_vec_env, space_from_json, space_to_json
from rung.observations import one_batch, pack
from tests.cli.fixtures.space_envs import DictGoal, LockedJumps
from tests.unit.test_resume import assert_bit_exact, crash_at_second_checkpoint

DQN = {"learning_starts": 200, "target_update_interval": 200, "lr": 1e-3, "batch_size": 16, "train_freq": 2,
       "n_step": 2, "n_envs": 2}
PPO = {"n_envs": 4, "n_steps": 64, "normalize_obs": True, "normalize_reward": True}


@pytest.mark.parametrize("algo, env, config", [("dqn", DictGoal, DQN), ("ppo", DictGoal, PPO),
                                               ("dqn", LockedJumps, DQN), ("ppo", LockedJumps, PPO)],
                         ids=["dqn-dict", "ppo-dict", "dqn-masked", "ppo-masked"])
def test_resume_is_bit_exact_for_dict_observations_and_masks(algo, env, config, tmp_path, monkeypatch):
    kwargs = dict(steps=2048, seed=2, config=config, checkpoint_every=512, eval_episodes=3, exact_resume=True)
    straight = rung.train(algo, env, run_dir=tmp_path / "straight", **kwargs)
    crash_at_second_checkpoint(algo, env, tmp_path / "resumed", kwargs, monkeypatch)
    resumed = rung.resume(tmp_path / "resumed")
    assert_bit_exact(tmp_path, straight, resumed)


def test_a_dict_agent_saves_its_space_and_acts_on_dicts(tmp_path):
    agent = rung.train("ppo", DictGoal, steps=1024, seed=0, config={"n_envs": 4, "n_steps": 64, "normalize_obs": True},
                       run_dir=tmp_path / "run", eval_episodes=2)
    loaded = rung.load(tmp_path / "run")
    assert loaded.obs_space == DictGoal.observation_space
    assert "obs_norm.norms.0.mean" in load_file(str(tmp_path / "run/agent.safetensors"))   # "position" only
    obs = {"position": np.array([0.0, 1.0], np.float32), "goal": 5}
    assert loaded.act(obs) == agent.act(obs)
    assert json.loads((tmp_path / "run/agent.json").read_text())["obs_space"]["type"] == "Dict"


def test_dict_observations_are_packed_field_by_field_in_their_own_dtypes():
    space = spaces.Dict({"frame": spaces.Box(0, 255, (2, 2), np.uint8), "parts": spaces.Tuple(
        [spaces.Discrete(3), spaces.Box(-1, 1, (2,), np.float32)])})
    assert space_from_json(json.loads(json.dumps(space_to_json(space)))) == space
    packed = one_batch(space.sample(), space)
    assert packed.shape == (1,) and packed.dtype.names == ("frame", "parts.0", "parts.1")
    assert packed["frame"].dtype == np.uint8 and packed["parts.1"].dtype == np.float32
    batch = pack({"frame": np.ones((3, 2, 2), np.uint8), "parts": (np.arange(3), np.zeros((3, 2)))}, space)
    assert batch.shape == (3,) and batch["parts.0"].tolist() == [0, 1, 2]


def test_an_action_mask_key_of_a_dict_observation_is_taken_out_as_the_mask():
    """The PettingZoo convention: {"observation": …, "action_mask": …}; the learner sees the observation."""
    env = make_vec_env("tests.cli.fixtures.space_envs:MaskInObservation", 2)
    obs = env.reset(seed=0)
    assert env.single_observation_space == spaces.Discrete(LockedJumps.goal + 1)
    assert obs.tolist() == [0, 0] and env.action_masks.tolist() == [[True, False, True, True]] * 2


@pytest.mark.parametrize("obs", [np.array([np.nan]), {"a": np.array([1.0]), "b": np.array([np.inf])},
                                 (np.array([1.0]), np.array([np.nan]))])
def test_a_non_finite_leaf_of_any_observation_stops_the_run(obs):
    from rung.envs import check_step
    from rung.errors import RungError

    with pytest.raises(RungError, match="non-finite observation at env step 3"):
        check_step("env", 3, obs, 0.0)
    check_step("env", 3, 5, 0.0)   # a Discrete state: nothing to check
