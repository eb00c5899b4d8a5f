"""Memory (issue 15, item 4): the recurrent ActorCritic zeroes its LSTM state where an episode begins
inside a sequence, and PPO's minibatches replay each env's rollout from its stored first state, which
gives back exactly the log-probabilities the policy acted with."""

import numpy as np
import torch
from gymnasium import spaces

import rung
from rung.algos.ppo import minibatches
from rung.envs import EnvMaker
from rung.nets import ActorCritic
from tests.unit.test_resume import assert_bit_exact, crash_at_second_checkpoint


def test_the_state_is_reset_at_an_episode_start_inside_a_sequence():
    torch.manual_seed(0)
    policy = ActorCritic(spaces.Box(-1, 1, (3,)), spaces.Discrete(2), lstm_size=8)
    L, B = 6, 2
    obs = torch.randn(L * B, 3)
    starts = torch.zeros(L, B, dtype=torch.bool)
    starts[3, 0] = True                                              # env 0 begins a new episode at t = 3
    state = tuple(torch.randn_like(x) for x in policy.initial_state(B))   # whatever came before
    with torch.no_grad():
        _, values, _ = policy.sequence(obs, state, starts)
        _, alone, _ = policy.sequence(obs.view(L, B, 3)[3:, :1].reshape(-1, 3), policy.initial_state(1),
                                      torch.zeros(3, 1, dtype=torch.bool))
        _, no_reset, _ = policy.sequence(obs, state, torch.zeros(L, B, dtype=torch.bool))
    values, no_reset = values.view(L, B), no_reset.view(L, B)
    torch.testing.assert_close(values[3:, 0], alone, rtol=0, atol=1e-6)   # as if the episode ran alone
    assert not torch.allclose(values[3:, 0], no_reset[3:, 0])            # the flag is what made it so
    torch.testing.assert_close(values[:, 1], no_reset[:, 1], rtol=0, atol=0)   # env 1 is untouched


def test_replayed_minibatches_give_back_the_acting_log_probabilities():
    torch.manual_seed(0)
    rollouts = EnvMaker("CartPole-v1", {}).rollouts(4, "sync", 64, 0.99, False, False, seed=0)
    policy = ActorCritic(rollouts.env.single_observation_space, rollouts.env.single_action_space, lstm_size=16)
    rollouts.restart(0)
    rollouts.collect(policy, np.random.default_rng(0))
    rollouts.collect(policy, np.random.default_rng(1))              # a second rollout: starts from a carried state
    buffer = rollouts.buffer
    assert buffer.starts[1:].any() and not buffer.starts[0].all()  # episodes ended inside it; not at its start
    keep = buffer.valid.reshape(-1)
    b_obs = torch.from_numpy(buffer.obs.reshape(-1, 4)[keep])
    b_actions = torch.from_numpy(buffer.actions.reshape(-1)[keep])
    b_logp = torch.from_numpy(buffer.logp.reshape(-1)[keep])
    seen = []
    with torch.no_grad():
        for idx, (dist, _) in minibatches(policy, buffer, b_obs, None, 128, np.random.default_rng(0)):
            torch.testing.assert_close(dist.log_prob(b_actions[idx]), b_logp[idx], rtol=0, atol=1e-5)
            seen.append(idx)
    assert sorted(torch.cat(seen).tolist()) == list(range(len(b_logp)))    # every valid step, once
    rollouts.close()


def test_a_recurrent_run_resumes_bit_exactly_and_its_agent_remembers_in_evaluation(tmp_path, monkeypatch):
    """Checkpoints restart episodes (exact_resume), so the memory starts from zero there in the straight
    run and in the resumed one alike; evaluation carries each env's memory and zeroes it per episode."""
    kwargs = dict(steps=2048, seed=1, config={"recurrent": True, "n_envs": 4, "n_steps": 32, "batch_size": 64,
                                             "lstm_size": 16}, checkpoint_every=512, eval_episodes=3,
                  exact_resume=True, wrappers=["mask_velocity"])
    straight = rung.train("ppo", "CartPole-v1", run_dir=tmp_path / "straight", **kwargs)
    crash_at_second_checkpoint("ppo", "CartPole-v1", tmp_path / "resumed", kwargs, monkeypatch)
    resumed = rung.resume(tmp_path / "resumed")
    assert_bit_exact(tmp_path, straight, resumed)
    loaded = rung.load(tmp_path / "straight")
    assert loaded.policy.lstm is not None
    assert rung.evaluate(loaded, episodes=3, seed=straight.eval["seed"]) == straight.eval
