"""The RLHF pipeline as stages, each writing a run directory with a `summary.json`; `rung rlhf STAGE`
runs one, `rung rlhf demo` runs them all:

    pretrain     the base policy (a fresh GPT, or supervised fine-tuning of a Hugging Face model):
                 the model and tokenizer; summary: final_loss, grammatical (reviews) or accuracy
    reward       preference pairs labelled by the gold judge (optional label noise) → reward model;
                 summary: heldout_accuracy against gold labels
    best-of-n    no training; summary: gold, proxy, kl (closed form)
    dpo          the policy trained on the reward stage's preference pairs (same seed, same pairs), no
                 reward model; metrics.csv and tb/ per step; summary: gold_before, gold_after, kl,
                 grammatical, implicit_accuracy (its implicit reward on 1,000 held-out gold pairs), and
                 proxy_before / proxy_after when a reward model is given to score it
    ppo, grpo, rloo
                 the policy, metrics.csv (TRL's names) and TensorBoard events (tb/) as it runs,
                 samples.jsonl (a completion every 5 updates); summary: gold_before, gold_after,
                 gold_max_before (the best of the base policy's samples), proxy_before, proxy_after,
                 kl, grammatical, samples — or, on the verifiable
                 arithmetic task (exact reward, no reward model), accuracy_before, accuracy_after, kl

Models are saved as rung's GPT (model.json, model.safetensors, words.json) or in Hugging Face's
layout (config.json, model.safetensors, tokenizer files; a LoRA stage: the adapters, and the policy with
them merged in under merged/); `load_model` reads either.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import torch

from rung import checkpoint
from rung.config import build
from rung.devices import resolve as resolve_device
from rung.errors import RungError
from rung.rlhf import arithmetic, critic_free, dpo, ppo
from rung.rlhf.data import corpus, is_grammatical
from rung.rlhf.gold import gold_scores
from rung.rlhf.model import MODEL_JSON, GPT, CausalLM, GPTConfig, reference_of, seeded_generator
from rung.rlhf.pretrain import pretrain, sample
from rung.rlhf.reward import model_reward, pairwise_accuracy, preference_pairs, train_reward_model
from rung.rlhf.tokenizer import Tokenizer, WordTokenizer
from rung.runs import create_run_dir, write_json

TASKS = ("reviews", "arithmetic")
CHECKPOINT_EVERY = 10        # updates between checkpoints of a policy-optimisation stage
STEP_CHECKPOINT_EVERY = 100  # gradient steps between checkpoints of pretraining, the reward model and DPO
STAGE_FILE = "stage.json"    # what a stage was started with, for --resume
METHODS = ("ppo", "grpo", "rloo")
RESUMABLE = ("pretrain", "reward", "dpo", *METHODS)
SAMPLE_EVERY = 5


def save_model(model: CausalLM, tokenizer: Tokenizer, directory: Path) -> None:
    model.save(directory)
    tokenizer.save(directory)


def load_model(directory: str | Path, device: torch.device | str = "cpu") -> tuple[CausalLM, Tokenizer]:
    """The model and tokenizer of a stage directory (or a Hugging Face model's), the model on `device`."""
    directory = Path(directory)
    if (directory / MODEL_JSON).is_file():
        return GPT.load(directory).to(device), WordTokenizer.load(directory)
    if is_hugging_face(directory):
        from rung.rlhf import hf

        model, tokenizer = hf.load(directory)
        return model.to(device), tokenizer
    raise RungError(f"{directory} holds no model (model.json for rung's GPT, config.json for Hugging Face)")


def is_hugging_face(directory: str | Path | None) -> bool:
    """Whether a stage directory holds a Hugging Face model (its config.json, or a LoRA stage's
    adapter_config.json) rather than rung's GPT."""
    return directory is not None and not (Path(directory) / MODEL_JSON).is_file() \
        and any((Path(directory) / name).is_file() for name in ("config.json", "adapter_config.json"))


def task_of(directory: str | Path) -> str:
    """The task a stage directory was trained on (its summary.json says; `reviews` otherwise)."""
    summary = Path(directory) / "summary.json"
    return json.loads(summary.read_text()).get("task", "reviews") if summary.is_file() else "reviews"


class StageLog:
    """The per-update log of a policy-optimisation stage, written as it runs: metrics.csv, TensorBoard
    events in tb/, and samples.jsonl (a completion every `sample_every` updates, also in TensorBoard)."""

    def __init__(self, directory: Path, sample_every: int = SAMPLE_EVERY, say=None, start: int = 0):
        """`start` > 0: a resumed stage; rows logged at `start` or after (by the interrupted run, past its
        last checkpoint) are dropped, as they will be logged again."""
        from torch.utils.tensorboard import SummaryWriter

        self.directory, self.sample_every, self.say = directory, sample_every, say
        self.tb = SummaryWriter(str(directory / "tb"))
        self.columns: list[str] | None = None
        if start > 0:
            self.keep_before(start)

    def keep_before(self, start: int) -> None:
        metrics, samples = self.directory / "metrics.csv", self.directory / "samples.jsonl"
        if metrics.is_file():
            with open(metrics, newline="") as f:
                rows = list(csv.DictReader(f))
            self.columns = list(rows[0]) if rows else None
            with open(metrics, "w", newline="") as f:
                writer = csv.DictWriter(f, self.columns or [], lineterminator="\n")
                if self.columns:
                    writer.writeheader()
                writer.writerows(row for row in rows if int(row["update"]) < start)
        if samples.is_file():
            lines = [line for line in samples.read_text().splitlines() if json.loads(line)["update"] < start]
            samples.write_text("".join(line + "\n" for line in lines))

    def __call__(self, row: dict) -> None:
        numbers = {k: v for k, v in row.items() if k != "sample"}
        update = row["update"]
        with open(self.directory / "metrics.csv", "a", newline="") as f:
            writer = csv.DictWriter(f, self.columns or list(numbers), lineterminator="\n")
            if self.columns is None:
                self.columns = list(numbers)
                writer.writeheader()
            writer.writerow(numbers)
        for key, value in numbers.items():
            if key != "update":
                self.tb.add_scalar(key, value, update)
        if "sample" in row and update % self.sample_every == 0:
            with open(self.directory / "samples.jsonl", "a") as f:
                f.write(json.dumps({"update": update, "sample": row["sample"]}) + "\n")
            self.tb.add_text("sample", row["sample"], update)
            if self.say:
                self.say(f"  update {update:>4}  score {row['objective/scores']:+.3f}  KL {row['objective/kl']:.2f}  "
                         f"{row['sample']}")

    def close(self) -> None:
        self.tb.close()


class StageCheckpoint:
    """RUN_DIR/checkpoint.safetensors of a stage, written after every `every`-th update or gradient step
    (rung.checkpoint: atomic, no pickle): what trains (the whole model, or its adapters), the value
    model, the optimisers, β, the losses so far and every random number generator. `start` restores it
    when there is one, so an interrupted stage continues bit for bit where its last checkpoint left off."""

    def __init__(self, directory: Path, every: int = CHECKPOINT_EVERY):
        self.path, self.every = Path(directory) / checkpoint.CHECKPOINT_FILE, every

    def next_update(self) -> int:
        """The update a (resumed) stage starts at: 0 without a checkpoint."""
        return checkpoint.load(self.path)[1]["step"] + 1 if self.path.is_file() else 0

    def start(self, state: dict) -> int:
        if not self.path.is_file():
            return 0
        arrays, meta = checkpoint.load(self.path)
        checkpoint.restore(state, arrays, meta["values"])
        return meta["step"] + 1

    def after(self, update: int, state: dict) -> None:
        if (update + 1) % self.every == 0:
            checkpoint.save(self.path, update, state, {"kind": "rlhf-stage"})


def stage_directory(run_dir: str | Path, record: dict | None, resume: bool) -> Path:
    """The stage's run directory: a new one with `record` in stage.json (when given), or the existing
    one of a stage being resumed."""
    directory = Path(run_dir) if resume else create_run_dir(run_dir)
    if record is not None and not resume:
        write_json(directory / STAGE_FILE, record)
    return directory


def pretrain_stage(run_dir: str | Path, task: str = "reviews", seed: int = 0, steps: int | None = None,
                   lr: float | None = None, model_dir: str | Path | None = None,
                   device: torch.device | str = "cpu", record: dict | None = None,
                   resume: bool = False) -> tuple[CausalLM, Tokenizer]:
    """A fresh GPT trained on the task's corpus, or (`model_dir`) supervised fine-tuning of a Hugging
    Face model on it (default lr 3e-3 fresh, 1e-4 fine-tuning). Checkpoints every STEP_CHECKPOINT_EVERY
    steps; `record` and `resume` as in `optimise_stage`."""
    if task not in TASKS:
        raise RungError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    directory = stage_directory(run_dir, record, resume)
    torch.manual_seed(seed)
    model, tokenizer = load_model(model_dir, device) if model_dir else (None, None)
    if task == "reviews":
        texts, tokenizer, config = corpus(5000, seed=seed), tokenizer or WordTokenizer(), None
        steps = steps or 600
    else:
        texts, tokenizer = arithmetic.corpus(20000, seed=seed), tokenizer or WordTokenizer(arithmetic.WORDS)
        config, steps = GPTConfig(vocab_size=len(tokenizer), context=16), steps or 2000
    lr = lr or (1e-4 if model is not None else 3e-3)
    model, losses = pretrain(texts, tokenizer, steps=steps, lr=lr, seed=seed, config=config, model=model,
                             device=device, checkpoint=StageCheckpoint(directory, STEP_CHECKPOINT_EVERY))
    save_model(model, tokenizer, directory)
    summary = {"task": task, "steps": steps, "lr": lr, "final_loss": float(np.mean(losses[-50:]))}
    if task == "reviews":
        _, texts = sample(model, tokenizer, 200, generator=seeded_generator(model, seed))
        summary["grammatical"] = float(np.mean([is_grammatical(t) for t in texts]))
        summary["samples"] = texts[:4]
    else:
        summary["accuracy"] = arithmetic.accuracy(model, tokenizer)
    write_json(directory / "summary.json", summary)
    return model, tokenizer


def require_reviews(policy_dir: str | Path, stage: str) -> None:
    if task_of(policy_dir) != "reviews":
        raise RungError(f"{stage} works on the reviews task (gold-labelled preferences), and {policy_dir} is a "
                        f"{task_of(policy_dir)} policy "
                        "(its reward is exact: use grpo, rloo or ppo without --reward-model)")


def reward_stage(run_dir: str | Path, policy: CausalLM, tokenizer: Tokenizer, seed: int = 0, pairs: int = 6000,
                 label_noise: float = 0.0, record: dict | None = None, resume: bool = False) -> CausalLM:
    """Preference pairs of the policy's samples, labelled by the gold judge (a fraction `label_noise`
    flipped), and the reward model trained on them; accuracy measured on 1,000 held-out clean pairs.
    The pairs stay on the returned model as `.pairs` (the demo's DPO stage trains on them). A resumed
    stage makes the same pairs again (same seed) and continues training from its checkpoint."""
    directory = stage_directory(run_dir, record, resume)
    train_pairs = preference_pairs(policy, tokenizer, pairs, seed=seed + 1, label_noise=label_noise)
    heldout = preference_pairs(policy, tokenizer, 1000, seed=seed + 2)
    reward_model, losses = train_reward_model(policy, tokenizer, train_pairs, seed=seed,
                                              checkpoint=StageCheckpoint(directory, STEP_CHECKPOINT_EVERY))
    reward_model.pairs = train_pairs
    save_model(reward_model, tokenizer, directory)
    write_json(directory / "summary.json", {"task": "reviews", "heldout_accuracy": pairwise_accuracy(reward_model, tokenizer, heldout),
                                            "pairs": pairs, "label_noise": label_noise,
                                            "final_loss": float(np.mean(losses[-20:]))})
    return reward_model


def best_of_n_stage(run_dir: str | Path, policy: CausalLM, tokenizer: Tokenizer, reward_model: CausalLM,
                    n: int = 16, seed: int = 0, prompts: int = 128) -> dict:
    directory = create_run_dir(run_dir)
    reward = model_reward(reward_model, tokenizer)
    prompt_ids = ppo.review_prompts(tokenizer, ppo.HELDOUT_NOUNS)(random.Random(seed + 3), prompts)
    best = critic_free.best_of_n(policy, reward, tokenizer, prompt_ids, n, generator=seeded_generator(policy, seed))
    summary = {"task": "reviews", "n": n, "gold": float(gold_scores(best).mean()), "proxy": float(reward(best).mean()),
               "kl": critic_free.best_of_n_kl(n), "grammatical": float(np.mean([is_grammatical(t) for t in best])),
               "samples": best[:4]}
    write_json(directory / "summary.json", summary)
    return summary


def dpo_stage(run_dir: str | Path, policy: CausalLM, tokenizer: Tokenizer, reward_model: CausalLM | None = None,
              seed: int = 0, pairs: int = 6000, label_noise: float = 0.0, overrides: dict | None = None,
              say=None, train_pairs: list[tuple[str, str]] | None = None, record: dict | None = None,
              resume: bool = False) -> dict:
    """DPO from `policy` (also π_ref) on the preference pairs the reward stage trains on (the same
    `pairs`, `label_noise` and seed give the same pairs). `reward_model`, if given, only scores the
    result (the proxy columns). `overrides` set fields of DPOConfig. Checkpoints every
    STEP_CHECKPOINT_EVERY steps; `record` and `resume` as in `optimise_stage`."""
    directory = stage_directory(run_dir, record, resume)
    config = build(dpo.DPOConfig, {"seed": seed, **(overrides or {})})
    if train_pairs is None:   # the reward stage's pairs, made again (the demo hands over its own)
        train_pairs = preference_pairs(policy, tokenizer, pairs, seed=seed + 1, label_noise=label_noise)
    stage_checkpoint = StageCheckpoint(directory, STEP_CHECKPOINT_EVERY)
    log = StageLog(directory, start=stage_checkpoint.next_update())

    def log_step(row: dict) -> None:
        log({"update": row["step"], **{k: v for k, v in row.items() if k != "step"}})
        if say and row["step"] % 50 == 0:
            say(f"  step {row['step']:>4}  loss {row['loss']:.3f}  margin {row['rewards/margins']:+.3f}  "
                f"accuracy {row['rewards/accuracies']:.2f}")
    try:
        trained, _ = dpo.train(policy, tokenizer, train_pairs, config, log=log_step, checkpoint=stage_checkpoint)
    finally:
        log.close()
    save_model(trained, tokenizer, directory)
    reward = model_reward(reward_model, tokenizer) if reward_model is not None else None
    reference = reference_of(policy)
    before = ppo.evaluate_policy(reference, reference, reward, tokenizer)
    after = ppo.evaluate_policy(trained, reference, reward, tokenizer)
    heldout = preference_pairs(reference, tokenizer, 1000, seed=seed + 2)
    summary = {"task": "reviews", "method": "dpo", "gold_before": before["gold"], "gold_after": after["gold"],
               "kl": after["kl"], "grammatical": after["grammatical"],
               "implicit_accuracy": dpo.implicit_accuracy(trained, reference, tokenizer, heldout, config.beta)}
    if reward is not None:
        summary.update(proxy_before=before["proxy"], proxy_after=after["proxy"])
    summary.update(samples_before=before["samples"], samples=after["samples"], pairs=pairs, label_noise=label_noise,
                   config=vars(config))
    write_json(directory / "summary.json", summary)
    return summary


def optimise_stage(run_dir: str | Path, method: str, policy: CausalLM, tokenizer: Tokenizer,
                   reward_model: CausalLM | None = None, task: str = "reviews", seed: int = 0,
                   overrides: dict | None = None, say=None, record: dict | None = None, resume: bool = False) -> dict:
    """PPO, GRPO or RLOO from `policy` (also the reference π_ref): against the reward model on the
    reviews task, against the exact reward on the arithmetic task. `overrides` set fields of
    LMPPOConfig or GroupConfig. Checkpoints every CHECKPOINT_EVERY updates; `record` (how to load the
    models again) goes to stage.json for `resume_stage`; `resume`: continue in `run_dir` from its
    checkpoint."""
    if method not in METHODS:
        raise RungError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
    if (task == "reviews") != (reward_model is not None):
        raise RungError("the reviews task is optimised against a reward model (--reward-model DIR); "
                        "the arithmetic task against its exact reward (no reward model)")
    overrides = {"seed": seed, **(overrides or {})}
    directory = stage_directory(run_dir, record, resume)
    stage_checkpoint = StageCheckpoint(directory)
    if task == "reviews":
        reward, judge, prompt_sampler = model_reward(reward_model, tokenizer), gold_scores, None
    else:
        reward = judge = arithmetic.exact_reward
        prompt_sampler = arithmetic.prompt_sampler(tokenizer)
        overrides = {"max_new_tokens": 8, **overrides}
    log = StageLog(directory, say=say, start=stage_checkpoint.next_update())
    try:
        if method == "ppo":
            config = build(ppo.LMPPOConfig, overrides)
            trained, _ = ppo.train(policy, reward, tokenizer, config, value_model=reward_model,
                                   prompt_sampler=prompt_sampler, judge=judge, log=log, checkpoint=stage_checkpoint)
        else:
            config = build(critic_free.GroupConfig, {"method": method, **overrides})
            trained, _ = critic_free.train(policy, reward, tokenizer, config, prompt_sampler=prompt_sampler,
                                           judge=judge, log=log, checkpoint=stage_checkpoint)
    finally:
        log.close()
    save_model(trained, tokenizer, directory)
    reference = reference_of(policy)
    if task == "reviews":
        before = ppo.evaluate_policy(reference, reference, reward, tokenizer)
        after = ppo.evaluate_policy(trained, reference, reward, tokenizer)
        summary = {"gold_before": before["gold"], "gold_after": after["gold"], "gold_max_before": before["gold_max"],
                   "proxy_before": before["proxy"],
                   "proxy_after": after["proxy"], "kl": after["kl"], "grammatical": after["grammatical"],
                   "samples_before": before["samples"], "samples": after["samples"]}
    else:
        prompt_ids = prompt_sampler(random.Random(99), 500)
        _, kl = ppo.sample_with_kl(trained, reference, tokenizer, prompt_ids, 8, seeded_generator(trained, 99))
        summary = {"accuracy_before": arithmetic.accuracy(reference, tokenizer),
                   "accuracy_after": arithmetic.accuracy(trained, tokenizer), "kl": float(kl.mean())}
    summary = {"task": task, "method": method, **summary, "config": vars(config)}
    write_json(directory / "summary.json", summary)
    return summary


def load_policy(directory: str | Path, lora: dict | None = None,
                device: torch.device | str = "cpu") -> tuple[CausalLM, Tokenizer]:
    """The policy of a stage directory on `device`, with fresh LoRA adapters when `lora` gives r (and alpha)."""
    policy, tokenizer = load_model(directory, device)
    if lora:
        from rung.rlhf import hf

        if "r" not in lora or set(lora) - {"r", "alpha"}:
            raise RungError(f"--lora takes r=RANK and optionally alpha=ALPHA, got {lora}")
        policy = hf.with_lora(policy, **lora)
    return policy, tokenizer


def start_stage(run_dir: str | Path, stage: str, policy_dir: str | Path | None = None,
                reward_model_dir: str | Path | None = None, seed: int = 0, overrides: dict | None = None,
                lora: dict | None = None, say=None, device: torch.device | str = "cpu", **settings) -> None:
    """A stage of RESUMABLE from the models in stage directories, on `device`, recorded in stage.json
    so that `resume_stage` can load them again (on the same device: a sampling generator's state
    belongs to it). `settings`: the stage's own (pretrain: task, steps, lr, model; reward and dpo:
    pairs, label_noise)."""
    if stage not in RESUMABLE:
        raise RungError(f"unknown stage {stage!r}; stages that record themselves: {', '.join(RESUMABLE)}")

    def absolute(path):
        return str(Path(path).resolve()) if path else None
    if "model" in settings:
        settings["model"] = absolute(settings["model"])
    record = {"stage": stage, "policy": absolute(policy_dir), "seed": seed, "reward_model": absolute(reward_model_dir),
              "overrides": overrides or {}, "lora": lora or {}, "device": str(device), **settings}
    run_recorded(run_dir, record, resume=False, say=say)


def stage_record(run_dir: str | Path) -> dict:
    """What a stage was started with (its stage.json)."""
    stage_file = Path(run_dir) / STAGE_FILE
    if not stage_file.is_file():
        raise RungError(f"{run_dir} is not a stage started by `rung rlhf` ({STAGE_FILE} is missing)")
    return json.loads(stage_file.read_text())


def resume_stage(run_dir: str | Path, say=None, stage: str | None = None) -> None:
    """Continue an interrupted stage (of kind `stage`, if given) from its checkpoint to its planned end."""
    record = stage_record(run_dir)
    recorded = record.get("stage", record.get("method"))   # stage.json from before every stage could resume
    if stage is not None and recorded != stage:
        raise RungError(f"{run_dir} is a {recorded} stage: continue it with rung rlhf {recorded} --resume {run_dir}")
    if (Path(run_dir) / "summary.json").is_file():
        raise RungError(f"{run_dir} has finished (summary.json is there): nothing to resume")
    run_recorded(run_dir, record, resume=True, say=say)


def run_recorded(run_dir, record: dict, resume: bool, say) -> None:
    device = resolve_device(record.get("device", "cpu"))
    stage = record.get("stage", record.get("method"))
    if stage == "pretrain":
        pretrain_stage(run_dir, record["task"], record["seed"], record["steps"], record["lr"], record["model"], device,
                       record=record, resume=resume)
        return
    if stage in ("reward", "dpo"):
        require_reviews(record["policy"], stage)
    policy, tokenizer = load_policy(record["policy"], record["lora"], device)
    reward_model = load_model(record["reward_model"], device)[0] if record["reward_model"] else None
    if stage == "reward":
        reward_stage(run_dir, policy, tokenizer, record["seed"], record["pairs"], record["label_noise"],
                     record=record, resume=resume)
    elif stage == "dpo":
        dpo_stage(run_dir, policy, tokenizer, reward_model, record["seed"], record["pairs"], record["label_noise"],
                  record["overrides"], say=say, record=record, resume=resume)
    else:
        optimise_stage(run_dir, stage, policy, tokenizer, reward_model, task_of(record["policy"]), record["seed"],
                       record["overrides"], say=say, record=record, resume=resume)


def demo(run_dir: str | Path, seed: int = 0, say=print, device: torch.device | str = "cpu") -> list[dict]:
    """Every stage in order, one run directory each under `run_dir`; returns the table's rows: base,
    best-of-16, PPO, GRPO, RLOO and DPO with gold and proxy scores on held-out prompts, KL and a sample."""
    root = create_run_dir(run_dir)
    say("pretraining the base policy …")
    base, tokenizer = pretrain_stage(root / "base", seed=seed, device=device)
    say("labelling preferences with the gold judge and training the reward model …")
    reward_model = reward_stage(root / "reward_model", base, tokenizer, seed=seed)
    before = ppo.evaluate_policy(base, base, model_reward(reward_model, tokenizer), tokenizer)
    rows = [{"policy": "base", "gold": before["gold"], "proxy": before["proxy"], "kl": 0.0,
             "sample": before["samples"][0]}]
    say("best-of-16 …")
    best = best_of_n_stage(root / "best_of_16", base, tokenizer, reward_model, 16, seed=seed)
    rows.append({"policy": "best-of-16", "gold": best["gold"], "proxy": best["proxy"], "kl": best["kl"],
                 "sample": best["samples"][0]})
    for method in METHODS:
        say(f"{method.upper()} against the reward model …")
        summary = optimise_stage(root / method, method, base, tokenizer, reward_model, seed=seed)
        rows.append({"policy": method.upper(), "gold": summary["gold_after"], "proxy": summary["proxy_after"],
                     "kl": summary["kl"], "sample": summary["samples"][0]})
    say("DPO on the reward model's preference pairs …")
    summary = dpo_stage(root / "dpo", base, tokenizer, reward_model, seed=seed, train_pairs=reward_model.pairs)
    rows.append({"policy": "DPO", "gold": summary["gold_after"], "proxy": summary["proxy_after"], "kl": summary["kl"],
                 "sample": summary["samples"][0]})
    write_json(root / "summary.json", {"table": rows})
    return rows
