"""`rung lab NAME --quick`: every experiment writes its figures and a result.json whose claims carry
their evidence; the verdicts that are exact even on quick data must hold."""

import json

import pytest


def run_lab(cli, tmp_path, name, seeds):
    proc = cli("lab", name, "--quick", "--seeds", seeds, "--out", tmp_path / name, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / name / "result.json").read_text())
    assert result["experiment"] == name and result["quick"] and result["seconds"] < 60
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
