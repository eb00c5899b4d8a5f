"""End to end at tiny scale, through `rung rlhf demo`: pretrain → preferences → reward model →
best-of-16, PPO with a fixed β, GRPO, RLOO and DPO, each stage's run directory checked against its
learning target. The demo runs once per seed (≈ 75 s) and every test below reads its stages: the
stages compute exactly what training them one by one does (same seeds, same models; checked value
for value at seed 0). PPO's gold score on held-out prompts must rise by at least half the gap between
the base policy's mean and the best gold score among its samples, with ≥ 90 % of samples still
grammatical.

Measured by benchmarks/learning_sweep.py at seeds 0–4, 1 and 2 threads (default kernels, 2026-12-02,
every check passed in all 10): PPO (β 0.1) gold gain / half the gap 1.37–1.67, grammatical 0.910–0.969;
GRPO (β 0.2) gold gain 0.19–0.31, grammatical 0.949–0.984; RLOO (β 0.2) gold gain 0.24–0.33, grammatical
0.953–0.984; verifiable GRPO accuracy gain 0.42–0.56. At the old β (PPO 0.05, GRPO 0.1, RLOO 0.05) seed 3
failed: PPO 0.898 grammatical at 1 and 2 threads, GRPO 0.836 and RLOO a gold gain of 0.024 at 2 threads
(the same values with these tests as they were on 128f69d). AVX2 kernels (`--kernels avx2`), seeds 0–4:
with two threads every check passes (PPO 1.49–1.63 / 0.926–0.973, GRPO 0.21–0.30, RLOO 0.24–0.33); with one
thread every `expect` check passed on one machine, but there seed 0's PPO summary KL came out −0.58 and the
plain `0 < kl` assert failed. On the next machine (same command) that run gives KL 4.62 and passes; the
sampling there is π's own (cached and uncached log-probs agree to 5e-6, <pad> has 1e-4 of the mass), so
a KL estimate of −0.58 was not reproduced or explained."""

import csv
import json
import math

import pytest
import torch

from rung.rlhf import critic_free
from rung.rlhf.data import is_grammatical
from rung.rlhf.pipeline import load_model
from rung.rlhf.pretrain import pretrain, sample
from rung.rlhf.tokenizer import WordTokenizer
from tests.conftest import learning_seeds, run_cli, threads_option

pytestmark = [pytest.mark.learning, pytest.mark.xdist_group("rlhf_demo")]   # one demo per seed, shared


@pytest.fixture(scope="module", params=learning_seeds(0))
def demo(request, tmp_path_factory):
    """(seed, the demo's run directory, its CompletedProcess)."""
    seed = request.param
    cwd = tmp_path_factory.mktemp(f"demo{seed}")
    proc = run_cli("rlhf", "demo", "--run-dir", cwd / "demo", "--seed", seed, *threads_option(), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return seed, cwd / "demo", proc


def summary(run_dir, stage: str) -> dict:
    return json.loads((run_dir / stage / "summary.json").read_text())


def metrics(run_dir, stage: str) -> list[dict]:
    with open(run_dir / stage / "metrics.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_the_demo_writes_a_run_directory_per_stage_and_prints_the_table(demo):
    _, run_dir, proc = demo
    for policy in ("base", "best-of-16", "PPO", "GRPO", "RLOO", "DPO"):
        assert any(line.startswith(policy) for line in proc.stdout.splitlines()), proc.stdout
    for stage in ("ppo", "grpo", "rloo"):
        assert {"gold_before", "gold_after", "gold_max_before", "proxy_before", "proxy_after", "kl"} <= \
            summary(run_dir, stage).keys()
        header = (run_dir / stage / "metrics.csv").read_text().splitlines()[0].split(",")
        assert {"update", "objective/kl", "objective/scores"} <= set(header)
        samples = [json.loads(line) for line in (run_dir / stage / "samples.jsonl").read_text().splitlines()]
        assert [s["update"] for s in samples] == list(range(0, 40, 5)) and all(s["sample"] for s in samples)
    assert {"proxy_after", "implicit_accuracy", "kl"} <= summary(run_dir, "dpo").keys()
    header = (run_dir / "dpo/metrics.csv").read_text().splitlines()[0].split(",")
    assert {"update", "loss", "rewards/margins", "rewards/accuracies"} <= set(header)
    table = json.loads((run_dir / "summary.json").read_text())["table"]
    assert [row["policy"] for row in table] == ["base", "best-of-16", "PPO", "GRPO", "RLOO", "DPO"]


def test_pretraining_learns_the_language(demo):
    seed, run_dir, _ = demo
    model, tok = load_model(run_dir / "base")
    # cross-entropy per token well under half that of the uniform guess a fresh model starts near
    assert summary(run_dir, "base")["final_loss"] < 0.5 * math.log(len(tok))
    _, texts = sample(model, tok, 200, generator=torch.Generator().manual_seed(seed + 1))
    assert sum(map(is_grammatical, texts)) >= 180          # ≥ 90 % of free samples are grammatical reviews
    _, prompted = sample(model, tok, 50, prompt="the food", generator=torch.Generator().manual_seed(seed + 2))
    assert all(t.startswith("the food") for t in prompted)
    assert sum(map(is_grammatical, prompted)) >= 45
    assert len(set(texts)) > 100                            # it samples, it does not repeat one review


def test_reward_model_learns_the_gold_preferences(demo, expect):
    """Bradley–Terry on 6,000 gold-labelled pairs of base samples; accuracy on 1,000 held-out pairs
    (other prompts' samples, another seed) against the gold labels."""
    _, run_dir, _ = demo
    rm = summary(run_dir, "reward_model")
    assert rm["final_loss"] < math.log(2)                   # below a reward model that scores every text alike
    expect("reward model's held-out accuracy", rm["heldout_accuracy"], ">=", 0.85)


def test_ppo_with_kl_penalty_raises_the_gold_score(demo, expect):
    _, run_dir, _ = demo
    ppo = summary(run_dir, "ppo")
    gap = ppo["gold_max_before"] - ppo["gold_before"]
    expect("gold gain / half the gap", (ppo["gold_after"] - ppo["gold_before"]) / (0.5 * gap), ">=", 1.0)
    expect("grammatical fraction", ppo["grammatical"], ">=", 0.9)
    assert ppo["proxy_after"] > ppo["proxy_before"] and 0 < ppo["kl"] < 20
    history = metrics(run_dir, "ppo")
    assert {"objective/kl", "objective/scores", "objective/rlhf_reward", "objective/non_score_reward",
            "policy/approxkl_avg", "policy/clipfrac_avg", "val/ratio", "objective/entropy"} <= history[0].keys()
    assert abs(history[0]["val/ratio"] - 1) < 0.05


@pytest.mark.parametrize("method", ["grpo", "rloo"])
def test_critic_free_methods_raise_the_gold_score(demo, method, expect):
    _, run_dir, _ = demo
    result = summary(run_dir, method)
    expect("gold gain", result["gold_after"] - result["gold_before"], ">", 0.15)
    expect("grammatical fraction", result["grammatical"], ">=", 0.9)
    assert result["kl"] > 0


def test_dpo_on_the_reward_models_pairs_raises_the_gold_score_at_bounded_kl(demo, expect):
    """DPO's defaults (β 0.1, 2 epochs, the chosen responses' NLL at weight 1) on the 6,000 pairs the
    reward model was trained on. Measured by benchmarks/learning_sweep.py, seeds 0–4 × 1 and 2 threads
    (default kernels): gold gain 0.224–0.288, KL 0.173–0.231, grammatical 0.973–0.988, implicit-reward
    accuracy 0.755–0.789. DPO's loss alone (rpo_alpha 0) failed 6 of these 10 (gold gain −0.22, KL 5.0)."""
    _, run_dir, _ = demo
    result = summary(run_dir, "dpo")
    expect("gold gain", result["gold_after"] - result["gold_before"], ">", 0.15)
    expect("KL per response", result["kl"], "<", 1.0)
    expect("implicit reward accuracy on held-out pairs", result["implicit_accuracy"], ">", 0.6)
    expect("grammatical fraction", result["grammatical"], ">=", 0.9)
    history = metrics(run_dir, "dpo")
    assert history[-1]["rewards/margins"] > history[0]["rewards/margins"]


@pytest.mark.parametrize("seed", learning_seeds(0))
def test_grpo_with_a_verifiable_reward_learns_to_add(seed, expect):
    """Base policy pretrained on sums that are right only 30 % of the time; GRPO with the exact reward
    must raise exact-match accuracy on fresh problems by ≥ 20 points."""
    from rung.rlhf import arithmetic
    from rung.rlhf.model import GPTConfig

    tok = WordTokenizer(arithmetic.WORDS)
    base, _ = pretrain(arithmetic.corpus(20000, seed=seed), tok, steps=2000, seed=seed,
                       config=GPTConfig(vocab_size=len(tok), context=16))
    config = critic_free.GroupConfig(method="grpo", group_size=8, max_new_tokens=8, updates=150, lr=1e-3, seed=seed)
    policy, _ = critic_free.train(base, arithmetic.exact_reward, tok, config,
                                  prompt_sampler=arithmetic.prompt_sampler(tok))
    expect("accuracy gain", arithmetic.accuracy(policy, tok) - arithmetic.accuracy(base, tok), ">=", 0.20)
