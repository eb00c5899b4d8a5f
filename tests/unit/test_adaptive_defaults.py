"""Issue 17's defaults: advantage normalisation with a floor, σ in the env's units, normalisation
decided from the env, the late-collapse rule, and the testbed envs' stated optima."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from rung.diagnostics import decide_normalisation, health, late_collapse
from rung.envs import make_env
from rung.nets import initial_log_std
from rung.returns import normalize_advantages
from rung.testbed import AsymmetricReach, Corridor, LongCorridor, PointMass


def test_a_spread_advantage_batch_is_normalised_as_usual():
    adv = torch.tensor([1.0, -1.0, 3.0, -3.0])
    out = normalize_advantages(adv, returns_std=10.0)      # std 2.58 ≫ floor 0.1
    torch.testing.assert_close(out, (adv - adv.mean()) / adv.std())


def test_a_near_constant_batch_is_not_stretched_into_noise():
    adv = torch.tensor([1e-4, -1e-4, 2e-4, -2e-4])        # a perfect critic's residuals
    out = normalize_advantages(adv, returns_std=1.0)       # floor 0.01
    torch.testing.assert_close(out, adv / 0.01)
    assert out.abs().max() < 0.03                          # plain normalisation: ±1.2
    zero = normalize_advantages(torch.zeros(3), returns_std=0.0)
    assert torch.equal(zero, torch.zeros(3))               # no division by zero


def test_initial_sigma_is_one_env_unit_capped_at_the_box():
    wide = spaces.Box(-100.0, 100.0, (1,))
    asym = spaces.Box(np.array([0.0, -3.0], np.float32), np.array([4.0, 1.0], np.float32))
    narrow = spaces.Box(-0.1, 0.1, (2,))
    torch.testing.assert_close(initial_log_std(wide, 0.0).exp(), torch.tensor([0.01]))   # ±1 of ±100
    torch.testing.assert_close(initial_log_std(asym, 0.0).exp(), torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(initial_log_std(narrow, -1.0), torch.tensor([-1.0, -1.0]))  # the whole box
    torch.testing.assert_close(initial_log_std(spaces.Box(-np.inf, np.inf, (1,)), 0.0), torch.tensor([0.0]))


def test_late_collapse_is_judged_against_the_best_evaluation():
    assert late_collapse(500.0, 399.0) and not late_collapse(500.0, 401.0)   # 80 % of a positive best
    assert late_collapse(-100.0, -121.0) and not late_collapse(-100.0, -119.0)
    rows = [{"step": 1000, "eval_return": 200.0}, {"step": 2000}, {"step": 3000, "eval_return": 20.0}]
    assert any("eval_return fell from 200 at env step 1,000 to 20" in p for p in health(rows, 1.0))
    assert not any("fell" in p for p in health(rows[:2], 1.0))


@pytest.mark.parametrize("env_id, obs, reward", [
    ("rung.testbed:ScaledObsCartPole", True, False), ("rung.testbed:ScaledRewardCartPole", False, True),
    ("rung.testbed:NoisyCartPole", False, False), ("rung.testbed:DictGoal", False, False),
    ("rung.testbed:PixelSide", False, False)])
def test_normalisation_is_decided_from_random_steps(env_id, obs, reward):
    with make_env(env_id) as env:
        decided = decide_normalisation(env, seed=0)
    assert (decided["normalize_obs"]["value"], decided["normalize_reward"]["value"]) == (obs, reward)


def scripted_return(env, policy, seed):
    obs, _ = env.reset(seed=seed)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total, steps = total + reward, steps + 1
        if terminated or truncated:
            return total, steps


def test_the_testbeds_stated_optima():
    assert scripted_return(Corridor(), lambda obs: 1, 0) == (1.0, 10)
    assert scripted_return(Corridor(), lambda obs: 0, 0) == (0.0, 30)          # the time limit
    total, steps = scripted_return(LongCorridor(), lambda obs: 1, 0)
    assert steps == 20 and total == pytest.approx(0.8)
    reach = AsymmetricReach()
    assert scripted_return(reach, lambda obs: obs, 0) == (0.0, 20)             # the target is shown
    assert reach.target_high[0] == pytest.approx(reach.action_space.high[0] - 0.1)
    heading = [scripted_return(PointMass(), lambda obs: np.clip(-obs, -1, 1), seed)[0] for seed in range(200)]
    assert np.mean(heading) == pytest.approx(-0.52, abs=0.01)


def test_dqn_target_update_interval_is_a_fraction_of_the_budget(tmp_path):
    import json

    import rung

    rung.train("dqn", "rung.testbed:Corridor", steps=2_000, run_dir=tmp_path / "auto", eval_every=0, eval_episodes=1)
    record = json.loads((tmp_path / "auto" / "config.json").read_text())
    assert record["config"]["target_update_interval"] == 40 == record["decided"]["target_update_interval"]["value"]
    rung.train("dqn", "rung.testbed:Corridor", steps=2_000, run_dir=tmp_path / "set", eval_every=0, eval_episodes=1,
               config={"target_update_interval": 70})
    record = json.loads((tmp_path / "set" / "config.json").read_text())
    assert record["config"]["target_update_interval"] == 70 and "target_update_interval" not in record["decided"]
    big = rung.api.resolve("dqn", "rung.testbed:Corridor", steps=10_000_000)
    with make_env("rung.testbed:Corridor") as env:
        rung.api.decide_defaults(big, rung.algos.get_algo("dqn"), env)
    assert big.config.target_update_interval == 10_000   # SB3's value caps it


def test_reinforce_normalises_a_badly_scaled_env_and_the_saved_agent_keeps_the_statistics(tmp_path):
    import json

    import rung

    agent = rung.train("reinforce", "rung.testbed:ScaledObsCartPole", steps=2000, seed=0, run_dir=tmp_path / "run",
                       eval_episodes=2, config={"baseline": True, "shared_body": False})
    decided = json.loads((tmp_path / "run/config.json").read_text())["decided"]
    assert decided["normalize_obs"]["value"]
    norm = agent.policy.obs_norm
    assert 500 < norm.count.item() < 4000                      # the used steps of ≈ 2,000 played, after each update
    assert 4000 < norm.mean[0].item() < 6000                   # cart position × 1,000 + 5,000
    loaded = rung.load(tmp_path / "run")
    assert torch.equal(loaded.policy.obs_norm.mean, norm.mean)
    obs = np.random.default_rng(0).normal(5000, 300, (256, 4)).astype(np.float32)
    assert np.array_equal(loaded.act_batch(obs), agent.act_batch(obs))
