"""rung.train(..., callbacks=[...]): hooks at log points, evaluations and checkpoints; False stops the run
through --stop-at's path; a callback that only looks changes nothing, even one that acts with the agent."""

import json

import numpy as np
import pytest

import rung
from rung.checkpoint import CHECKPOINT_FILE, load

SETTINGS = {"steps": 8192, "seed": 3, "config": {"n_envs": 4, "n_steps": 128}, "eval_episodes": 3,
            "checkpoint_every": 4096}
# SAC draws its updates' actions from torch's global generator, which a callback acting with the agent also
# moves: the case isolated_rng is for (PPO's rollouts use their own NumPy generator)
LOOKED_AT = {"ppo": ("CartPole-v1", SETTINGS, (4, 4)),
             "sac": ("Pendulum-v1", {"steps": 1200, "seed": 3, "config": {"learning_starts": 300, "batch_size": 32},
                                     "eval_episodes": 2, "checkpoint_every": 600}, (2, 3))}


class Recorder:
    """Looks at everything, and acts with the live agent (random numbers drawn inside)."""

    def __init__(self, obs_shape):
        self.obs_shape, self.logs, self.evals, self.checkpoints = obs_shape, [], [], []

    def on_log(self, step, metrics, agent):
        self.logs.append((step, metrics["step"]))
        agent.act_batch(np.zeros(self.obs_shape, np.float32), deterministic=False)   # samples from π
        np.random.rand(), __import__("random").random()

    def on_eval(self, step, result, agent):
        self.evals.append((step, result["eval_return"]))

    def on_checkpoint(self, step, run_dir):
        self.checkpoints.append((step, run_dir))


@pytest.mark.parametrize("algo", LOOKED_AT)
def test_a_callback_that_only_looks_changes_nothing(algo, tmp_path):
    env, settings, obs_shape = LOOKED_AT[algo]
    every = settings["steps"] // 4
    plain = rung.train(algo, env, run_dir=tmp_path / "plain", eval_every=every, **settings)
    recorder = Recorder(obs_shape)
    watched = rung.train(algo, env, run_dir=tmp_path / "watched", eval_every=every, callbacks=[recorder], **settings)
    drop = ("time", "SPS")
    assert [{k: v for k, v in r.items() if k not in drop} for r in plain.metrics] == \
        [{k: v for k, v in r.items() if k not in drop} for r in watched.metrics]
    assert plain.eval == watched.eval
    assert [s for s, _ in recorder.logs] == [r["step"] for r in watched.metrics]
    assert [s for s, _ in recorder.evals] == [r["step"] for r in watched.metrics if "eval_return" in r]
    checkpoint_every = settings["checkpoint_every"]
    assert [s for s, _ in recorder.checkpoints] == list(range(checkpoint_every, settings["steps"], checkpoint_every))
    assert recorder.checkpoints[0][1] == tmp_path / "watched"


class StopAfterEpisodesLongerThan:
    def __init__(self, length):
        self.length = length

    def on_log(self, step, metrics, agent):
        return not metrics.get("episodic_length", 0) > self.length


def test_a_callback_returning_false_stops_at_that_log_point_with_checkpoint_and_final_evaluation(tmp_path):
    agent = rung.train("ppo", "CartPole-v1", run_dir=tmp_path / "run", eval_every=0,
                       callbacks=[StopAfterEpisodesLongerThan(40)], **{**SETTINGS, "steps": 100_000})
    stopped_at = agent.metrics[-1]["step"]
    assert agent.metrics[-1]["episodic_length"] > 40 and stopped_at < 100_000
    assert all(r.get("episodic_length", 0) <= 40 for r in agent.metrics[:-1])
    _, meta = load(tmp_path / "run" / CHECKPOINT_FILE)
    assert meta["step"] == stopped_at   # the checkpoint of where it stopped
    assert json.loads((tmp_path / "run/eval.json").read_text())["episodes"] == 3
