"""Rollout workers (rung.distributed) on a local Ray instance: the learner gets from its workers what
it would have collected itself, a dead worker is replaced, and a run with workers is reproducible."""

import logging
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import ray
import torch

import rung
from rung.envs import EnvMaker
from rung.nets import ActorCritic

# obs and rewards depend only on the reset seeds, not on the actions (tests/cli/fixtures/gridworld.py)
CLOCK = f"{Path(__file__).resolve().parents[1] / 'cli/fixtures/gridworld.py'}:Clock"
FIELDS = ("obs", "rewards", "terminated", "truncated", "valid", "values", "logp")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One Ray instance for the module: the pools find it running and leave it running."""
    ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def clock_policy(env):
    torch.manual_seed(0)
    return ActorCritic(env.single_observation_space, env.single_action_space, (8,))


def test_workers_fill_the_buffer_the_learner_would_have_filled():
    # 5 envs on 2 workers (3 + 2), reward scaling on: its statistics run over all 5 envs at the learner
    local = EnvMaker(CLOCK, {}).rollouts(5, "sync", 7, 0.9, False, True, seed=3)
    remote = EnvMaker(CLOCK, {}, workers=2).rollouts(5, "sync", 7, 0.9, False, True, seed=3)
    assert [s.stop - s.start for s in remote.env.slices] == [3, 2]
    policy = clock_policy(local.env)
    local.restart(0)
    remote.restart(0)
    for iteration in range(4):
        if iteration == 2:  # a checkpoint's restart: new episodes from the seed for step 70
            local.restart(70)
            remote.restart(70)
        last_local = local.collect(policy, np.random.default_rng(0))
        last_remote = remote.collect(policy, np.random.default_rng(1))
        for name in FIELDS:
            if name != "logp":   # log π of different sampled actions
                assert np.array_equal(getattr(local.buffer, name), getattr(remote.buffer, name)), (iteration, name)
        assert np.array_equal(last_local, last_remote)
        assert local.env.episodes.pop() == remote.env.episodes.pop()
    assert remote.buffer.terminated.any() and remote.buffer.truncated.any() and not remote.buffer.valid.all()
    # the stored log π is that of the stored actions under the learner's policy
    with torch.no_grad():
        dist, _ = policy(torch.from_numpy(remote.buffer.obs.reshape(35, 2)))
        logp = dist.log_prob(torch.from_numpy(remote.buffer.actions.reshape(35))).reshape(7, 5).numpy()
    assert np.allclose(logp, remote.buffer.logp)
    local.close()
    remote.close()


def test_workers_play_the_episodes_the_learner_would_have_played():
    local = EnvMaker(CLOCK, {}).episodes(5, "sync", 2)
    remote = EnvMaker(CLOCK, {}, workers=2).episodes(5, "sync", 2)
    policy = clock_policy(local.env)
    for seed in (11, 12):
        mine, theirs = local.collect(policy, seed), remote.collect(policy, seed)
        assert np.array_equal(mine["used"], theirs["used"])
        used = mine["used"]
        for name in ("rewards", "terminated", "truncated"):
            assert np.array_equal(mine[name][used], theirs[name][used]), name
        assert np.array_equal(mine["obs"][:-1][used], theirs["obs"][:-1][used])
        assert int(theirs["steps"]) <= int(mine["steps"])   # workers stop at their own longest episode
        assert local.env.episodes.pop() == remote.env.episodes.pop()
    # unseeded, each env's RNG goes on from where its own stepping left it (a worker stops at its own
    # longest episode, so that differs from a run without workers): still 2 whole episodes per env
    theirs = remote.collect(policy, None)
    ends = (theirs["terminated"] | theirs["truncated"]) & theirs["used"]
    assert np.array_equal(ends.sum(axis=0), [2] * 5)
    local.close()
    remote.close()


def test_a_killed_worker_is_replaced_and_its_share_collected_again(caplog):
    remote = EnvMaker(CLOCK, {}, workers=2).rollouts(5, "sync", 6, 0.9, False, False, seed=3)
    local = EnvMaker(CLOCK, {}).rollouts(5, "sync", 6, 0.9, False, False, seed=3)
    policy = clock_policy(local.env)
    remote.restart(0)
    local.restart(0)
    remote.collect(policy, np.random.default_rng(0))
    local.collect(policy, np.random.default_rng(0))
    node, pid = remote.env.places[1]
    os.kill(pid, signal.SIGKILL)
    with caplog.at_level(logging.WARNING, logger="rung"):
        remote.collect(policy, np.random.default_rng(0))
    local.collect(policy, np.random.default_rng(0))
    assert remote.env.deaths == 1 and remote.env.places[1][1] != pid
    assert f"rollout worker 1 (envs 3–4, pid {pid} on {node}) died during rollout" in caplog.text
    assert "partial rollout is dropped" in caplog.text
    # worker 0 went on as if nothing happened; worker 1's envs start new episodes: step 0 in the obs
    assert np.array_equal(remote.buffer.obs[:, :3], local.buffer.obs[:, :3])
    assert np.all(remote.buffer.obs[0, 3:, 0] == 0) and remote.buffer.valid[:, 3:].any()
    remote.close()
    local.close()


@pytest.mark.parametrize("algo", ["reinforce", "a2c", "ppo"])
def test_a_run_with_workers_is_reproducible(algo, tmp_path):
    def metrics(seed):
        agent = rung.train(algo, "CartPole-v1", steps=4096, seed=seed, workers=2, eval_episodes=5, threads=1)
        return [{k: v for k, v in row.items() if k not in ("time", "SPS")} for row in agent.metrics], agent.eval

    first, again, other = metrics(0), metrics(0), metrics(1)
    assert first == again
    assert first != other
    assert first[0][-1]["episodes"] > 0


def test_an_env_failing_inside_a_worker_stops_the_run_and_frees_the_workers():
    with pytest.raises(rung.RungError, match=r"env '.*Clock' raised RuntimeError at env step [0-9,]+: simulator crashed"):
        rung.train("ppo", CLOCK, steps=4096, workers=2, env_kwargs={"crash_after": 30},   # no normalisation probe:
                   config={"n_envs": 4, "n_steps": 16, "batch_size": 32,          # the workers' envs crash
                           "normalize_obs": False, "normalize_reward": False})
    cpus = ray.cluster_resources()["CPU"]
    deadline = time.monotonic() + 30
    while ray.available_resources().get("CPU", 0) < cpus:   # the actors' CPUs come back
        assert time.monotonic() < deadline, "the failed run's workers still hold their CPUs"
        time.sleep(0.2)


def test_worker_settings_are_checked():
    with pytest.raises(rung.RungError, match="dqn has no rollout workers; --workers is for reinforce, a2c, ppo"):
        rung.train("dqn", "CartPole-v1", steps=1000, workers=2)
    with pytest.raises(rung.RungError, match="give --workers N too"):
        rung.train("ppo", "CartPole-v1", steps=1000, address="localhost:6379")
    with pytest.raises(rung.RungError, match="more than the run's 2 envs"):
        rung.train("ppo", "CartPole-v1", steps=1000, workers=3, config={"n_envs": 2, "n_steps": 8, "batch_size": 16})
    cpus = int(ray.cluster_resources()["CPU"])
    with pytest.raises(rung.RungError, match=f"needs {cpus + 1} CPUs for its actors; the Ray cluster has {cpus}"):
        rung.train("ppo", "CartPole-v1", steps=1000, workers=cpus + 1, config={"n_envs": cpus + 1, "n_steps": 8, "batch_size": 8})
