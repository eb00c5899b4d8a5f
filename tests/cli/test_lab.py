"""`rung lab NAME --quick`: every experiment writes its figures and a result.json whose claims carry
their evidence; the verdicts that are exact even on quick data must hold."""

import json

import pytest


def run_lab(cli, tmp_path, name, seeds):
    proc = cli("lab", name, "--quick", "--seeds", seeds, "--out", tmp_path / name, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / name / "result.json").read_text())
    assert result["experiment"] == name and result["quick"]
    for figure in result["figures"]:
        assert (tmp_path / name / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for item in result["claims"]:
        assert isinstance(item["holds"], bool) and item["claim"] and item["evidence"]
        assert f"[{'holds' if item['holds'] else 'FAILS'}] {item['claim']}" in proc.stdout
    return result


def test_bootstrapping_quick(cli, tmp_path):
    result = run_lab(cli, tmp_path, "bootstrapping", 2)
    contraction = next(c for c in result["claims"] if "contraction" in c["claim"])
    assert contraction["holds"] and contraction["evidence"]["worst_ratio"] <= 0.95
    # Q-learning moved towards Q* from every start, even in the quick run
    for kind, ends in result["numbers"]["final"].items():
        assert ends["distance_end"]["iqm"] < ends["distance_start"], kind


def test_cliff_quick(cli, tmp_path):
    result = run_lab(cli, tmp_path, "cliff", 3)
    assert all(c["holds"] for c in result["claims"]), result["claims"]


def test_unknown_experiment_is_a_one_line_error(cli, tmp_path):
    proc = cli("lab", "nonsense", "--quick", "--out", tmp_path / "x", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown experiment" in proc.stderr and proc.stderr.count("\n") == 1


@pytest.mark.parametrize("seeds", ["0", "-1"])
def test_seeds_must_be_positive(cli, tmp_path, seeds):
    proc = cli("lab", "cliff", "--seeds", seeds, "--out", tmp_path / "x", cwd=tmp_path)
    assert proc.returncode == 2 and "--seeds" in proc.stderr


def test_discount_quick(cli, tmp_path):
    result = run_lab(cli, tmp_path, "discount", 3)
    assert all(c["holds"] for c in result["claims"]), result["claims"]
    assert 0.71 < result["numbers"]["threshold"] < 0.73   # 0.1^(1/7)


def test_variance_quick(cli, tmp_path):
    """Even on the quick run's early snapshots, the baselines reduce variance and point closer to the
    reference than plain G."""
    result = run_lab(cli, tmp_path, "variance", 2)
    for snapshot in result["numbers"]["snapshots"].values():
        assert snapshot["G - V"]["variance"] < snapshot["G"]["variance"]
        assert snapshot["GAE"]["variance"] < snapshot["G"]["variance"]


def test_stability_quick(cli, tmp_path):
    result = run_lab(cli, tmp_path, "stability", 1)
    assert set(result["numbers"]["collapse_rate"]) == {"a2c", "ppo", "ppo, no clip"}


def test_ladder_quick(cli, tmp_path):
    result = run_lab(cli, tmp_path, "ladder", 1)
    assert set(result["numbers"]["summary"]) == {"dqn", "reinforce", "a2c", "ppo"}


def test_reward_hacking_quick(cli, tmp_path):
    result = run_lab(cli, tmp_path, "reward-hacking", 1)
    best_of_n = result["numbers"]["best_of_n"]
    assert best_of_n["kl"][0] == 0.0 and best_of_n["gold"][-1] > best_of_n["gold"][0]   # best-of-16 beats best-of-1
    beta0 = result["numbers"]["runs"]["beta=0"][0]
    assert beta0["proxy"][-1] > beta0["proxy"][0] + 1   # the proxy is being optimised


def test_critic_bias_quick(cli, tmp_path):
    result = run_lab(cli, tmp_path, "critic-bias", 1)
    numbers = result["numbers"]
    assert set(numbers["relative_bias"]) == {"ddpg", "td3", "sac"}
    # the Monte Carlo truth of going left in the maximisation-bias MDP is γ·(−0.1): 2000 rollouts of
    # N(−0.1, 1) rewards put every measurement within 0.1 of it (4.5 standard errors)
    for runs in numbers["runs"]["discrete"].values():
        for snapshot in (s for run in runs for s in run["snapshots"]):
            assert abs(snapshot["left_truth"] - 0.99 * -0.1) < 0.1
    # an untrained critic starts near 0 on Pendulum, whose returns are all negative: it overrates
    first = numbers["runs"]["continuous"]["ddpg"][0]["snapshots"][0]
    assert first["truth"] < -100 and first["estimate"] > first["truth"]


def test_sample_reuse_quick(cli, tmp_path):
    result = run_lab(cli, tmp_path, "sample-reuse", 1)
    numbers = result["numbers"]
    # every run logged its training curve up to its own budget (PPO's, ten times the off-policy pair's,
    # ends at its last whole rollout of 4 × 1,024 steps)
    for algo, runs in numbers["runs"].items():
        assert 0.75 * numbers["budgets"][algo] < runs[0]["steps"][-1] <= numbers["budgets"][algo]
        assert len(runs[0]["returns"]) >= 3   # a curve, not one point
    assert numbers["reuse"]["ppo"] == 10   # PPO's Pendulum preset: 10 epochs over each rollout
