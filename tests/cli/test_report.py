"""`rung report`: one self-contained HTML page for a training run, a lab result and an RLHF stage,
opened in headless Chromium (Debian's `chromium`; .ci/run installs it): every image decodes and the
console stays silent."""

import json
import os
import re
import shutil
import subprocess

import pytest

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def open_in_chromium(page, tmp_path):
    """The DOM after load, and the console lines Chromium logged."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium (.ci/run installs Debian's chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
                           "--v=0", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def test_report_of_a_run_a_lab_result_and_an_rlhf_stage_renders_in_chromium(cli, tmp_path):
    for args in (("train", "qlearning", "FrozenLake-v1", "--steps", "3000", "--quiet", "--run-dir", tmp_path / "run"),
                 ("lab", "cliff", "--quick", "--seeds", "2", "--out", tmp_path / "lab"),
                 ("rlhf", "pretrain", "--task", "arithmetic", "--steps", "20", "--run-dir", tmp_path / "adder"),
                 ("rlhf", "grpo", "--policy", tmp_path / "adder", "--set", "updates=2", "--run-dir", tmp_path / "grpo")):
        proc = cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    page = tmp_path / "report.html"
    proc = cli("report", tmp_path / "run", tmp_path / "lab", tmp_path / "grpo", "--out", page, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = page.read_text()
    # self-contained: every image is inline, nothing is fetched
    sources = re.findall(r'src="([^"]*)"', text)
    assert sources and all(s.startswith("data:image/") for s in sources)
    assert "http://" not in text and "https://" not in text
    assert "data:image/gif" in text   # FrozenLake renders: the trained agent's episode
    claims = json.loads((tmp_path / "lab/result.json").read_text())["claims"]
    assert all(c["claim"].replace("'", "&#x27;") in text for c in claims)
    dom, console = open_in_chromium(page, tmp_path)
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert f'data-images="{len(sources)}"' in body and 'data-broken="0"' in body, body
    assert console == []


def test_the_page_check_catches_a_broken_image(tmp_path):
    """The check the test above relies on: a broken image is counted and logged to the console."""
    from rung.report import CHECK_IMAGES

    page = tmp_path / "broken.html"
    page.write_text(f'<html><body><img src="data:image/png;base64,AAAA"><script>{CHECK_IMAGES}</script></body></html>')
    dom, console = open_in_chromium(page, tmp_path)
    assert 'data-broken="1"' in dom and any("failed to load" in line for line in console)


def test_report_of_something_else_is_a_one_line_error(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = cli("report", tmp_path / "empty", "--out", tmp_path / "r.html", cwd=tmp_path)
    assert proc.returncode == 2 and "neither a run directory" in proc.stderr


def test_gif_of_an_agent_and_none_without_its_renderer(monkeypatch):
    import gymnasium as gym
    from gymnasium.envs.toy_text.frozen_lake import FrozenLakeEnv

    import rung
    from rung.evaluate import record_gif

    agent = rung.train("qlearning", "FrozenLake-v1", steps=200, eval_episodes=1)
    assert record_gif(agent)[:6] == b"GIF89a"

    def missing(self):
        raise gym.error.DependencyNotInstalled("pygame is not installed")
    monkeypatch.setattr(FrozenLakeEnv, "render", missing)
    assert record_gif(agent) is None


def test_report_of_an_off_policy_run_shows_its_family_metrics_and_the_agent(cli, tmp_path):
    proc = cli("train", "sac", "Pendulum-v1", "--steps", "600", "--set", "learning_starts=200", "batch_size=32",
               "--eval-episodes", "2", "--quiet", "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = tmp_path / "report.html"
    proc = cli("report", tmp_path / "run", "--out", page, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = page.read_text()
    assert all(name in text for name in ("qf1_loss", "qf2_values", "alpha", "entropy", "actor_saturation"))
    assert "data:image/gif" in text   # Pendulum renders: the trained agent's episode


def test_a_report_of_two_seeds_shows_every_diagnostic_with_both_runs(cli, tmp_path):
    for seed in (0, 1):
        proc = cli("train", "ppo", "CartPole-v1", "--steps", "2048", "--seed", seed, "--set", "n_envs=4",
                   "n_steps=128", "--eval-every", "1024", "--eval-episodes", "2", "--quiet",
                   "--run-dir", tmp_path / f"s{seed}", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    page = tmp_path / "report.html"
    proc = cli("report", tmp_path / "s0", tmp_path / "s1", "--out", page, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = page.read_text()
    figures = dict(re.findall(r'<figure data-metric="([^"]+)" data-runs="(\d+)">', text))
    header = (tmp_path / "s0/metrics.csv").read_text().splitlines()[0].split(",")
    logged = set(header) - {"step", "time", "episodes"}
    assert set(figures) == logged and set(figures.values()) == {"2"}   # every diagnostic, both runs in each
    assert {"approx_kl", "clipfrac", "entropy", "explained_variance", "eval_return", "SPS"} <= logged
    assert text.count("<h2>") == 1 and "seeds 0, 1" in text   # one section for the two seeds
    dom, console = open_in_chromium(page, tmp_path)
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert f'data-images="{text.count("<img")}"' in body and 'data-broken="0"' in body, body
    assert console == []


def test_health_warnings_are_placed_where_they_first_fired():
    from rung.report import first_warnings

    rows = [{"step": 100.0, "approx_kl": 0.01}, {"step": 200.0, "approx_kl": 0.9}, {"step": 300.0, "approx_kl": 0.8}]
    (step, text), = first_warnings(rows, 1000)
    assert step == 200.0 and text.startswith("approx_kl 0.900")
