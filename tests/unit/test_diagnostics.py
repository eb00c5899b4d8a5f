from rung.diagnostics import health


def test_healthy_rows_say_nothing():
    rows = [{"approx_kl": 0.01, "clipfrac": 0.1, "explained_variance": 0.8, "entropy": 0.5}] * 30
    assert health(rows, 0.5) == []


def test_each_rule_names_the_number_and_a_fix():
    assert "approx_kl 0.090 > 0.02: updates too large, lower lr or clip_eps" in health([{"approx_kl": 0.09}], 0.5)
    assert any("clipfrac 0.45" in p for p in health([{"clipfrac": 0.45}], 0.5))
    assert any("the critic is not learning" in p for p in health([{"explained_variance": -0.3}] * 20, 0.5))
    assert health([{"explained_variance": -0.3}] * 5, 0.5) == []  # too early to judge
    stuck = [{"explained_variance": -0.2, "value_loss": 50.0 + i % 3} for i in range(20)]
    assert any("the critic is not learning" in p for p in health(stuck, 0.5))
    assert any("stopped exploring" in p for p in health([{"entropy": 0.001}], 0.1))
    assert health([{"entropy": 0.001}], 0.9) == []                # converged at the end is fine
    assert any("diverged" in p for p in health([{"td_loss": float("nan")}], 0.5))


def test_negative_explained_variance_is_no_alarm_once_the_critic_fitted_nearly_constant_returns():
    # the end of a solved CartPole run (metrics.csv of `rung train ppo CartPole-v1`): every return ≈ the
    # same, so EV swings around 0 while the value loss sits at a few thousandths of its peak
    rows = [{"explained_variance": 0.9, "value_loss": 71.5}] * 20 + [{"explained_variance": -0.18, "value_loss": 0.19}]
    assert not any("critic" in p for p in health(rows, 0.9))


def test_q_values_far_above_every_return_seen_are_a_runaway():
    # DQN on CartPole with N(0, 1) reward noise and a target update every 500 steps (rung's default at
    # 100k steps before it changed): episodes of ≈ 10 steps while mean Q climbed to ≈ 39,000
    rows = [{"episodic_return": 9.5, "q_values": 50.0}] * 5 + [{"episodic_return": 9.7, "q_values": 38_924.0}]
    assert any("q_values 3.89e+04 is over 10× the largest episodic return seen (9.7)" in p and "target_update_interval"
               in p for p in health(rows, 0.9))
    assert health(rows[:5] + [{"episodic_return": 9.7, "q_values": 90.0}], 0.9) == []   # within 10× is no alarm
    sac = [{"episodic_return": -1200.0, "qf1_values": -150.0}, {"episodic_return": -150.0, "qf1_values": -20_000.0}]
    assert any("qf1_values -2e+04" in p and "td3 or sac" in p for p in health(sac, 0.5))
