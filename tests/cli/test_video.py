"""Watching an agent: `rung eval RUN_DIR --video` writes an MP4 or GIF with one frame per action (read
back to count them), `rung train --video-every` one file per interval; an env without frames is a
one-line error."""

import json

import imageio.v3 as iio
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    import rung

    run_dir = tmp_path_factory.mktemp("video") / "run"
    rung.train("ppo", "CartPole-v1", steps=2048, seed=0, run_dir=run_dir, eval_episodes=2, eval_every=0,
               config={"n_envs": 4, "n_steps": 128})
    return run_dir


def test_eval_writes_an_mp4_and_a_gif_with_one_frame_per_step(cli, cartpole_run, tmp_path):
    proc = cli("eval", cartpole_run, "--video", tmp_path / "out.mp4", "--episodes", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lengths = [int(line.split("length ")[1]) for line in proc.stdout.splitlines() if line.startswith("episode")]
    assert len(lengths) == 2 and all(n > 5 for n in lengths)
    frames = iio.imread(tmp_path / "out.mp4")   # read back through imageio-ffmpeg
    assert frames.shape[0] == sum(lengths) and frames.shape[-1] == 3
    proc = cli("eval", cartpole_run, "--video", tmp_path / "out.gif", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    length = int(proc.stdout.splitlines()[0].split("length ")[1])
    assert length == lengths[0]   # the same first episode (same seed)
    assert Image.open(tmp_path / "out.gif").n_frames == length


def test_video_mistakes_are_one_line_errors(cli, cartpole_run, tmp_path):
    proc = cli("eval", cartpole_run, "--video", tmp_path / "out.avi", cwd=tmp_path)
    assert proc.returncode == 2 and "--video writes .mp4 or .gif files" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_train_video_every_leaves_one_file_per_interval(cli, tmp_path):
    proc = cli("train", "ppo", "CartPole-v1", "--steps", "2048", "--set", "n_envs=4", "n_steps=128", "--eval-every",
               "0", "--eval-episodes", "1", "--video-every", "1024", "--run-dir", tmp_path / "run", "--quiet",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    videos = sorted(p.name for p in (tmp_path / "run/videos").iterdir())
    assert videos == ["step-00001024.mp4", "step-00002048.mp4"]
    assert json.loads((tmp_path / "run/eval.json").read_text())["episodes"] == 1
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run/tb"), size_guidance={"images": 0})
    events.Reload()
    gifs = events.Images("video")
    assert [g.step for g in gifs] == [1024, 2048] and gifs[0].encoded_image_string[:6] == b"GIF89a"
    proc = cli("report", tmp_path / "run", "--out", tmp_path / "report.html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "The latest video, step-00002048.mp4" in (tmp_path / "report.html").read_text()


def test_an_env_that_renders_no_frames_is_a_rung_error():
    from types import SimpleNamespace

    from rung.errors import RungError
    from rung.video import render_episodes

    agent = SimpleNamespace(env_id="rung.testbed:Corridor", env_kwargs={}, wrappers=[])   # it never gets to act
    with pytest.raises(RungError, match="rung.testbed:Corridor cannot render frames"):
        render_episodes(agent)
